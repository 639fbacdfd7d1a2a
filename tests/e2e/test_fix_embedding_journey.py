"""An expert starts Fix Embedding in CPU mode (this machine has no GPU), scores the starting
model from VS Code's terminal with ``task score``, and sees the score there and on the run page.

The family is the real one: the local host installs it (its ``install()`` builds the tiny CPU
models from the shared corpus), ``start()`` gives the workspace the broken large model, and the
protected scorer evaluates it on validation data the workspace never holds.
"""

import os
import re
import time

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from baselines import applications, assignments
from baselines.assignments import AiTools
from baselines.users import Role
from environments.task_settings import TaskSettings
from tests.browser import sign_in
from tests.hosts import ready_host
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")
ENVIRONMENT = "fix_embedding/main"


@pytest.fixture
def settings(settings):
    settings.scoring_worker = True
    return settings


@pytest.fixture
def expert(engine, make_user):
    expert = make_user(Role.expert, name="Fern Expert", email="fern@example.org")
    coordinator = make_user(Role.coordinator, name="Cora Coordinator")
    ready_host(engine, "local")
    with Session(engine) as s:
        actor = s.get(type(coordinator), coordinator.id)
        applications.approve(s, applications.for_user(s, expert.id), actor, utcnow())
        # Fill y_s and y_r only where the manifest leaves them unset (before calibration).
        s.add(TaskSettings(environment=ENVIRONMENT, y_s=2.2, y_r=0.3, updated_at=utcnow()))
        assignments.create(
            s, expert=s.get(type(expert), expert.id), environment=ENVIRONMENT,
            time_limit_s=7200, ai_tools=AiTools.none, actor=actor, now=utcnow(),
        )  # fmt: skip
        s.commit()
    return expert


def test_fix_embedding_scores_from_the_ide_on_the_cpu(expert, page, shot):
    sign_in(page, expert.email)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#run-status")).to_have_text("active", timeout=300_000)
    run_url = page.url
    shot("run-started")

    with page.context.expect_page() as tab:
        page.locator("#open-ide").click()
    ide = tab.value
    ide.wait_for_selector(".monaco-workbench", timeout=60_000)
    explorer = ide.locator(".explorer-folders-view")
    expect(explorer).to_contain_text("INSTRUCTIONS.md", timeout=30_000)
    expect(explorer).to_contain_text("small_model.pt")
    ide.keyboard.press("Control+Backquote")
    ide.wait_for_selector(".xterm", timeout=20_000)
    terminal = ide.locator(".xterm-rows").first
    ide.locator(".xterm").first.click()
    ide.keyboard.type("task score")
    ide.keyboard.press("Enter")
    expect(terminal).to_contain_text("Checkpoint 1", timeout=30_000)
    # "score 0.05…, valid" once scored ("scoring…" comes first, while it is queued).
    expect(terminal).to_contain_text(re.compile(r"score -?\d"), timeout=240_000)
    expect(terminal).to_contain_text("Working time at submission", timeout=10_000)
    time.sleep(0.5)
    shot("terminal-score", on=ide)

    page.bring_to_front()
    page.goto(run_url)
    row = page.locator("#checkpoints tbody tr").first
    expect(row).to_contain_text("scored", timeout=30_000)
    expect(row).to_contain_text("not comparable")
    shot("run-page-score")

    page.get_by_role("button", name="Stop workspace").click()

    page.get_by_role("button", name="Stop for good").click()  # the confirmation
    expect(page.locator("#run-status")).to_have_text("finished", timeout=60_000)
