"""Environments in the browser, on the embedded default (this machine, no GPU):

- a coordinator reads the environment list, opens the unmodified METR family ``count_words``,
  is refused for a bad number next to the field, then supplies y_s, y_r, metric and direction, and
  the task turns ready;
- the coordinator assigns ``triton_cumsum/main``; the expert reads its instructions, presses Start
  and gets a workspace marked CPU mode, whose VS Code holds the starting solution and
  INSTRUCTIONS.md and none of the scorer or the reference.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from baselines import applications
from baselines.runs import Run
from baselines.users import Role, User
from tests.browser import sign_in
from tests.hosts import ready_host
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")
STRICT = Path(__file__).resolve().parents[1] / "environments" / "families"


@pytest.fixture
def settings(settings):
    settings.environment_dirs = str(STRICT)
    return settings


@pytest.fixture
def local_host(engine) -> None:
    ready_host(engine)


def test_coordinator_readies_an_environment_and_an_expert_starts_the_kernel_task(
    local_host, engine, make_user, page, new_page, shot
):
    coordinator = make_user(Role.coordinator, name="Cora Coordinator")
    expert = make_user(Role.expert, name="Ida Expert", email="ida@example.org")
    with Session(engine) as s:
        application = applications.for_user(s, expert.id)
        applications.approve(s, application, s.get(User, coordinator.id), utcnow())
        s.commit()

    # The list: the kernel task is ready, the METR family waits for its numbers.
    sign_in(page, coordinator.email)
    page.goto("/coordinator/environments")
    kernel = page.get_by_role("row").filter(has_text="triton_cumsum")
    expect(kernel).to_contain_text("ready")
    strict = page.get_by_role("row").filter(has_text="count_words").filter(has_text="short")
    expect(strict).to_contain_text("needs: y_s, y_r, direction, metric")
    shot("environment-list")

    # Its page: the instructions from get_instructions; a bad number is refused next to it.
    strict.get_by_role("link").first.click()
    expect(page.locator(".instructions")).to_contain_text("Count the words in /home/agent/text.txt")
    page.get_by_label("Metric").fill("accuracy")
    page.get_by_label("Better is").select_option("higher")
    page.get_by_label("y_s", exact=True).fill("zero")
    page.get_by_label("y_r", exact=True).fill("1")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#y_s-error")).to_contain_text("number")
    expect(page.get_by_label("Metric")).to_have_value("accuracy")
    shot("environment-bad-number")
    page.get_by_label("y_s", exact=True).fill("0")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("h1 .badge")).to_have_text("ready")
    shot("environment-ready")

    # The kernel task, assigned with the environment's own time limit.
    page.goto("/coordinator/assignments")
    page.get_by_label("Environment").select_option("triton_cumsum/main")
    page.get_by_label("Ida Expert (ida@example.org)").check()
    page.get_by_role("button", name="Assign").click()
    expect(page.get_by_role("status")).to_have_text("triton_cumsum/main assigned to Ida Expert.")

    # The expert reads the instructions, then starts.
    expert_page = new_page()
    sign_in(expert_page, expert.email)
    expert_page.get_by_role("link", name="triton_cumsum/main").first.click()
    expect(expert_page.locator("body")).to_contain_text("prefix_sum")
    shot("expert-assignment", on=expert_page)
    expert_page.get_by_role("button", name="Start").click()
    expect(expert_page.locator("#run-status")).to_have_text("active", timeout=120_000)
    expect(expert_page.locator("#cpu-mode")).to_contain_text("not comparable: no GPU")
    shot("run-cpu-mode", on=expert_page)
    with Session(engine) as s:
        run = s.get(Run, int(expert_page.url.rsplit("/", 1)[-1]))
        assert run.cpu_mode and run.environment_version
    home = Path(run.workspace_path)
    assert (home / "solution" / "solution.py").is_file()
    assert not (home / "scoring").exists() and not (home / "reference").exists()

    # VS Code shows the task folder with its instructions.
    with expert_page.context.expect_page() as tab:
        expert_page.locator("#open-ide").click()
    ide = tab.value
    ide.wait_for_selector(".monaco-workbench", timeout=45_000)
    explorer = ide.locator(".explorer-folders-view")
    expect(explorer).to_contain_text("INSTRUCTIONS.md", timeout=30_000)
    expect(explorer).to_contain_text("solution")
    ide.get_by_role("treeitem", name="INSTRUCTIONS.md").dblclick()
    expect(ide.locator(".monaco-editor .view-lines").first).to_contain_text("conditional prefix")
    shot("ide-instructions", on=ide)

    expert_page.bring_to_front()
    expert_page.get_by_role("button", name="Stop workspace").click()
    expert_page.get_by_role("button", name="Stop for good").click()  # the confirmation
    expect(expert_page.locator("#run-status")).to_have_text("finished", timeout=60_000)
