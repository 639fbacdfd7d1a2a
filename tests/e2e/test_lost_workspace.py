"""A live workspace removed behind the platform's back, as its expert and a coordinator see it:
the expert's run page says in plain words what happened and what to do, the coordinator's live
list and run page show the loss, and the expert's Restart from the last checkpoint brings back a
VS Code holding that checkpoint's files, with the clock running again.

Real code-server on this machine, the portal served by uvicorn, Chromium; the poll job and the
scoring worker are called by hand.
"""

import os
import re

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from baselines.runs import Run
from baselines.users import Role
from tests.browser import sign_in
from tests.live_runs import PROBE_FAMILIES, remove_behind_our_back, started_run
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")
SOLUTION = "def answer():\n    return 0.625\n"


@pytest.fixture
def settings(settings):
    settings.environment_dirs = str(PROBE_FAMILIES)
    return settings


@pytest.fixture
def expert(make_user):
    return make_user(Role.expert, name="Lou Lost")


@pytest.fixture
def run(app, engine, expert, live_server) -> Run:
    """An active probe/main run of the expert's on this machine (started after the server, so
    it is stopped before the server's shutdown ends the portal's jobs)."""
    with started_run(app, engine, expert.id, "probe/main") as run:
        yield run


def test_the_expert_is_told_and_restarts_from_the_last_checkpoint(
    app, engine, expert, make_user, run, page: Page, new_page, shot
) -> None:
    run_page = f"/runs/{run.id}"
    sign_in(page, expert.email)

    # The expert scores a checkpoint from the run page.
    with open(os.path.join(run.workspace_path, "solution.py"), "w") as f:
        f.write(SOLUTION)
    page.goto(run_page)
    page.locator("#score-now").click()
    assert app.state.scoring.run_once() is True
    page.goto(run_page)
    expect(page.locator("#score-log")).to_contain_text("0.625")
    with open(os.path.join(run.workspace_path, "later.txt"), "w") as f:
        f.write("after the checkpoint\n")

    # Another installation removes the workspace's user; the poll job notices.
    remove_behind_our_back(run.unix_user)
    assert app.state.workspaces.find_lost(utcnow()) == [run.id]

    page.goto(run_page)
    banner = page.locator("#lost-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Your workspace was lost")
    expect(banner).to_contain_text("it is nothing you did")
    expect(banner).not_to_contain_text(run.unix_user)  # the technical reason is the staff's
    expect(banner).to_contain_text("none of this time counts against you")
    expect(banner).to_contain_text("last checkpoint (#1")
    expect(page.locator("#clock-state")).to_have_text(re.compile(r"paused \(.*lost"))
    expect(page.locator("#score-now")).to_have_count(0)
    expect(page.locator("#restart-ide")).to_have_count(0)
    expect(page.locator("#open-ide")).to_have_count(0)
    shot("expert-sees-the-loss")

    # A coordinator sees it in the live list and on the run page.
    coordinator = make_user(Role.coordinator, name="Cora Coordinator")
    staff = new_page()
    sign_in(staff, coordinator.email)
    staff.goto("/coordinator/runs")
    row = staff.locator("#live-runs tr", has_text=f"#{run.id}")
    expect(row).to_contain_text("workspace lost")
    expect(row).to_contain_text("Your workspace on host local was lost")
    expect(row).to_contain_text("paused: lost")
    shot("coordinator-live-list", staff)
    staff.goto(run_page)
    expect(staff.locator("#lost-banner")).to_contain_text(
        f"its unix user {run.unix_user} no longer exists there"
    )
    expect(staff.locator("#lost-banner")).to_contain_text("The expert is told")
    shot("coordinator-run-page", staff)

    # The expert restarts from the last checkpoint; the page comes back with the IDE.
    page.locator("#relaunch-run").click()
    app.state.workspaces.wait(run.id, timeout=120)
    page.goto(run_page)
    expect(page.locator("#lost-banner")).to_have_count(0)
    expect(page.locator("#open-ide")).to_be_visible()
    expect(page.locator("#clock-state")).to_have_text("running")
    shot("expert-after-the-restart")

    # VS Code holds the checkpoint's files, not what came after it.
    page.goto(f"/ide/{run.id}/")
    page.wait_for_selector(".monaco-workbench", timeout=45_000)
    explorer = page.locator(".explorer-folders-view")
    explorer.get_by_text("solution.py").dblclick(timeout=30_000)
    page.locator(".monaco-editor .view-lines").first.get_by_text("return 0.625").wait_for(
        timeout=30_000
    )
    expect(explorer.get_by_text("later.txt")).to_have_count(0)
    shot("ide-holds-the-checkpoint")
    with Session(engine) as s:
        assert s.get(Run, run.id).lost_at is None
