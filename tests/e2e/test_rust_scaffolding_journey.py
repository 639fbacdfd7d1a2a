"""Scaffolding for Rust Codecontests in the browser: the expert starts the environment, opens
VS Code, runs `task score` in its terminal and reads solved/total with the outcomes; a better
scaffold (the reference, pasted in) solves more, and the portal's score log shows both.

Scored against the stand-in model on the first few hidden problems (BASELINER_RUST_PROBLEMS,
passed to the scorer by the local driver)."""

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from baselines.runs import Run
from baselines.users import Role
from environments.catalogue import BUILTIN_DIR
from tests.assigned import approve_and_assign
from tests.browser import run_in_terminal, sign_in
from tests.hosts import ready_host

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("bwrap") or not Path("/usr/bin/rustc").exists(),
    reason="needs root (workspaces are unix users), bubblewrap and Debian's rustc",
)
REFERENCE = BUILTIN_DIR / "rust_scaffolding" / "reference" / "scaffold.py"


@pytest.fixture
def settings(settings, monkeypatch):
    settings.environment_dirs = str(BUILTIN_DIR)
    settings.scoring_worker = True
    monkeypatch.setenv("BASELINER_RUST_PROBLEMS", "5")
    monkeypatch.setenv("BASELINER_RUST_SCORE_TIMEOUT_S", "300")
    return settings


def test_task_score_says_solved_over_total(app, engine, make_user, live_server, page, shot):
    expert = make_user(Role.expert, name="Rhea Rust", email="rhea@example.org")
    coordinator = make_user(Role.coordinator)
    ready_host(engine)
    approve_and_assign(engine, expert, coordinator, "rust_scaffolding/main")

    sign_in(page, expert.email)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#run-status")).to_have_text("active", timeout=120_000)
    run_url = page.url
    with page.context.expect_page() as tab:
        page.locator("#open-ide").click()
    ide = tab.value
    ide.wait_for_selector(".monaco-workbench", timeout=45_000)
    expect(ide.locator(".explorer-folders-view")).to_contain_text("scaffold.py", timeout=30_000)
    ide.keyboard.press("Control+Backquote")
    ide.wait_for_selector(".xterm", timeout=20_000)
    terminal = ide.locator(".xterm-rows").first

    run_in_terminal(ide, "task score")
    expect(terminal).to_contain_text("Checkpoint 1: ", timeout=240_000)
    expect(terminal).to_contain_text(re.compile(r"solved: \d/5"), timeout=10_000)
    expect(terminal).to_contain_text("outcomes: ", timeout=10_000)
    time.sleep(0.5)
    shot("terminal-starting-scaffold", on=ide)

    # A better scaffold (the reference, as if the expert had written it): several samples,
    # filtered on the public examples.
    run_id = int(re.search(r"/runs/(\d+)", run_url).group(1))
    with Session(engine) as s:
        run = s.get(Run, run_id)
        scaffold = Path(run.workspace_path) / "scaffold.py"
        owner = scaffold.owner()
    scaffold.write_text(REFERENCE.read_text())
    shutil.chown(scaffold, owner, owner)
    run_in_terminal(ide, "task score")
    expect(terminal).to_contain_text("Checkpoint 2: ", timeout=300_000)
    time.sleep(0.5)
    shot("terminal-reference-scaffold", on=ide)

    page.bring_to_front()
    page.goto(run_url)
    rows = page.locator("#checkpoints tbody tr")
    expect(rows).to_have_count(2)
    first = float(rows.nth(0).locator("td").nth(4).inner_text())
    second = float(rows.nth(1).locator("td").nth(4).inner_text())
    assert second > first, (first, second)
    expect(rows.nth(0)).to_contain_text("scored")
    shot("portal-score-log")

    # Stop: the best score stands.
    page.get_by_role("button", name="Stop workspace").click()
    page.get_by_role("button", name="Stop for good").click()  # the confirmation
    expect(page.locator("#run-status")).to_have_text("finished", timeout=60_000)
    expect(page.locator("#final-score")).to_be_visible()
    shot("run-finished")
