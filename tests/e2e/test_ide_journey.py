"""The IDE journey: a coordinator assigns an environment, the expert presses Start, VS Code loads
through /ide/<run>/, they edit a file and run a command in the terminal, and both land on the
host. Run on every kind of host: this machine (local driver) and an SSH host with the process
runtime, and this machine's podman with the container runtime."""

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from baselines import applications
from baselines.applications import Application
from baselines.runs import Run
from baselines.users import Role, User
from tests.browser import sign_in
from tests.families import write_warmup
from tests.hosts import ready_host_of_kind
from tests.naming import workspace
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


@pytest.fixture
def environments_dir(tmp_path) -> Path:
    assets = {"notes.md": "# Notes\n", "solve.py": 'print("starting solution")\n'}
    return write_warmup(tmp_path / "envs", assets)


@pytest.fixture
def settings(settings, environments_dir):
    settings.environment_dirs = str(environments_dir)
    return settings


@pytest.fixture(params=["local", "ssh", "container"])
def gpu_host(request, engine):
    """The host the workspace runs on, registered as a coordinator would."""
    return ready_host_of_kind(request, engine)


def _task_folder(gpu_host: str, run_id: int) -> tuple[Path, str]:
    """Where the run's files are on the host, and who the expert's terminal runs as."""
    if gpu_host == "container":
        return Path(f"/var/lib/baseliner/workspaces/{workspace(run_id)}"), "agent"
    return Path(f"/home/{workspace(run_id)}"), workspace(run_id)


def _approved_expert(engine, make_user) -> User:
    expert = make_user(Role.expert, name="Ida Expert")
    coordinator = make_user(Role.coordinator)
    with Session(engine) as s:
        application = s.exec(select(Application).where(Application.user_id == expert.id)).one()
        applications.approve(s, application, s.get(User, coordinator.id), utcnow())
        s.commit()
    return expert, coordinator


def _wait_for_file(path: Path, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return path.read_text()
        time.sleep(0.2)
    raise AssertionError(f"{path} never contained {text!r}")


def test_expert_works_in_vs_code_on_the_host(
    gpu_host, engine, make_user, page, new_page, shot, app
):
    expert, coordinator = _approved_expert(engine, make_user)

    # The coordinator assigns the environment.
    sign_in(page, coordinator.email)
    page.goto("/coordinator/assignments")
    page.get_by_label(f"Ida Expert ({expert.email})").check()
    page.get_by_label("Environment").select_option("warmup/main")
    page.get_by_label("Time limit (hours)").fill("2")
    page.get_by_role("button", name="Assign").click()
    expect(page.get_by_text("warmup/main assigned to Ida Expert.")).to_be_visible()
    shot("coordinator-assigned")

    # The expert presses Start and waits for the workspace.
    expert_page = new_page()
    sign_in(expert_page, expert.email)
    expect(expert_page.get_by_role("cell", name="warmup/main")).to_be_visible()
    shot("expert-dashboard", on=expert_page)
    expert_page.get_by_role("button", name="Start").click()
    expect(expert_page.locator("#run-status")).to_have_text("active", timeout=60_000)
    shot("run-active", on=expert_page)
    run_id = int(re.search(r"/runs/(\d+)", expert_page.url).group(1))
    home, unix_user = _task_folder(gpu_host, run_id)
    assert (home / "notes.md").exists() and not (home / "warmup.py").exists()

    # VS Code opens in a new tab, through the portal.
    with expert_page.context.expect_page() as tab:
        expert_page.locator("#open-ide").click()
    ide = tab.value
    expect(ide).to_have_url(re.compile(rf"/ide/{run_id}/"))
    ide.wait_for_selector(".monaco-workbench", timeout=45_000)
    expect(ide.locator(".explorer-folders-view")).to_contain_text("notes.md", timeout=30_000)
    shot("workbench", on=ide)

    # A line typed into a file and saved.
    ide.get_by_role("treeitem", name="notes.md").dblclick()
    expect(ide.locator(".monaco-editor .view-lines").first).to_contain_text("Notes")
    ide.locator(".monaco-editor .view-lines").first.click()
    ide.keyboard.press("Control+End")
    ide.keyboard.type("typed in the browser")
    ide.keyboard.press("Control+S")
    _wait_for_file(home / "notes.md", "typed in the browser")

    # A command run in the integrated terminal.
    ide.keyboard.press("Control+Backquote")
    ide.wait_for_selector(".xterm", timeout=20_000)
    ide.locator(".xterm").first.click()
    ide.keyboard.type("python3 solve.py > out.txt; whoami >> out.txt; echo $CUDA_VISIBLE_DEVICES")
    ide.keyboard.press("Enter")
    out = _wait_for_file(home / "out.txt", unix_user)
    assert "starting solution" in out
    time.sleep(0.5)
    shot("terminal", on=ide)

    # Browser frames were recorded as activity.
    app.state.activity.flush()
    with Session(engine) as s:
        assert s.get(Run, run_id).last_activity_at is not None

    # The expert stops; the files are archived and the IDE is closed.
    expert_page.bring_to_front()
    expert_page.get_by_role("button", name="Stop workspace").click()
    expert_page.get_by_role("button", name="Stop for good").click()  # the confirmation
    expect(expert_page.locator("#run-status")).to_have_text("finished", timeout=60_000)
    shot("run-finished", on=expert_page)
    with Session(engine) as s:
        run = s.get(Run, run_id)
        assert Path(run.archive_path).stat().st_size > 0
    assert not home.exists()
    closed = expert_page.request.get(f"/ide/{run_id}/")
    assert closed.status == 410
