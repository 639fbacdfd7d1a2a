"""Checkpoints in the browser: the expert scores from VS Code's terminal with ``task score`` and
sees the score there and on the portal; a broken solution gets its message; a research note
shows up beside the score log; the coordinator can download a checkpoint's snapshot.

Two ways, as the issue asks: the kernel task in CPU mode on this machine (local driver), and
the unmodified METR-format family on the SSH host (its `task` command reaches the portal
through the reverse tunnel over the platform's SSH connection).
"""

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from baselines import applications, assignments
from baselines.assignments import AiTools
from baselines.checkpoints import log
from baselines.runs import Run
from baselines.users import Role, User
from environments.task_settings import TaskSettings
from tests.browser import run_in_terminal, sign_in
from tests.hosts import ready_host
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")
STRICT = Path(__file__).resolve().parents[1] / "environments" / "families"

CASES = {
    # host, environment, a command that makes the solution wrong, what its score says
    "local-kernel": (
        "local",
        "triton_cumsum/main",
        "printf 'def prefix_sum(x):\\n    return x\\n' > solution/solution.py",
        "wrong",
    ),
    "ssh-metr": ("ssh", "count_words/short", "echo nine > answer.txt", "whole number"),
}


@pytest.fixture(params=list(CASES))
def case(request):
    return request.param


@pytest.fixture
def settings(settings):
    settings.environment_dirs = str(STRICT)
    settings.scoring_worker = True
    return settings


@pytest.fixture
def setup(case, request, engine, make_user) -> tuple[User, User, str]:
    kind, environment, *_ = CASES[case]
    expert = make_user(Role.expert, name="Ida Expert", email="ida@example.org")
    coordinator = make_user(Role.coordinator, name="Cora Coordinator")
    sshd = request.getfixturevalue("sshd") if kind == "ssh" else None
    ready_host(engine, kind, sshd=sshd)
    with Session(engine) as s:
        actor = s.get(User, coordinator.id)
        applications.approve(s, applications.for_user(s, expert.id), actor, utcnow())
        if environment.startswith("count_words"):  # the coordinator's numbers for it
            s.add(TaskSettings(environment=environment, metric="accuracy", direction="higher",
                               y_s=0.0, y_r=1.0, updated_at=utcnow()))  # fmt: skip
        assignments.create(
            s, expert=s.get(User, expert.id), environment=environment, time_limit_s=7200,
            ai_tools=AiTools.none, actor=actor, now=utcnow(),
        )  # fmt: skip
        s.commit()
    return expert, coordinator, environment


def _expect_in_terminal(terminal, text: str, engine, shot, ide: Page) -> None:
    """Wait for the scoring's outcome in the terminal; if it never comes, fail with what the
    portal knew of the run and its checkpoints (the terminal alone cannot tell a slow scoring
    from a workspace that was restarted under it) and a screenshot."""
    try:
        expect(terminal).to_contain_text(text, timeout=120_000)
    except AssertionError as exc:
        shot("terminal-without-outcome", on=ide)
        with Session(engine) as s:
            runs = s.exec(select(Run)).all()
            said = [
                f"run {r.id}: {r.status} lost_at={r.lost_at} reason={r.status_reason!r}; "
                + ", ".join(f"#{c.seq} {c.status} {c.last_error!r}" for c in log(s, r.id))
                for r in runs
            ]
        raise AssertionError(f"{exc}\nthe portal's view: {said}") from None


def test_task_score_in_the_ide_terminal(case, setup, page, new_page, shot, engine):
    expert, coordinator, _ = setup
    _, _, break_it, complaint = CASES[case]

    sign_in(page, expert.email)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#run-status")).to_have_text("active", timeout=120_000)
    run_url = page.url

    with page.context.expect_page() as tab:
        page.locator("#open-ide").click()
    ide = tab.value
    ide.wait_for_selector(".monaco-workbench", timeout=45_000)
    expect(ide.locator(".explorer-folders-view")).to_contain_text("INSTRUCTIONS.md", timeout=30_000)
    ide.keyboard.press("Control+Backquote")
    ide.wait_for_selector(".xterm", timeout=20_000)
    terminal = ide.locator(".xterm-rows").first

    # The starting solution, scored from the terminal.
    run_in_terminal(ide, "task score")
    expect(terminal).to_contain_text("Checkpoint 1", timeout=30_000)
    # The outcome's last line; "score" alone would match the command as typed.
    _expect_in_terminal(terminal, "Working time at submission", engine, shot, ide)
    time.sleep(0.5)
    shot("terminal-first-score", on=ide)

    # A broken solution: invalid, with the scorer's reason.
    run_in_terminal(ide, f"{break_it}; task score")
    expect(terminal).to_contain_text("Checkpoint 2", timeout=30_000)
    expect(terminal).to_contain_text("invalid", timeout=120_000)
    expect(terminal).to_contain_text(complaint, timeout=10_000)
    expect(terminal).to_contain_text(
        re.compile(r"(Working time at submission.*){2}", re.S), timeout=10_000
    )
    run_in_terminal(ide, 'task note "the identity is not a prefix sum"')
    expect(terminal).to_contain_text("Note", timeout=30_000)
    time.sleep(0.5)
    shot("terminal-invalid-and-note", on=ide)

    # The portal shows the same log, and the note.
    page.bring_to_front()
    page.goto(run_url)
    rows = page.locator("#checkpoints tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("scored")
    expect(rows.nth(1)).to_contain_text("invalid")
    expect(rows.nth(1)).to_contain_text(complaint)
    expect(page.locator("#notes")).to_contain_text("the identity is not a prefix sum")
    if case == "local-kernel":
        expect(rows.nth(0)).to_contain_text("not comparable")
    shot("portal-score-log")

    # Score now from the portal: the same kind of checkpoint.
    # (the page refreshes itself while a checkpoint is queued or scoring)
    page.get_by_role("button", name="Score now").click()
    expect(page.locator("#checkpoints tbody tr")).to_have_count(3)
    expect(page.locator("#checkpoints tbody tr").nth(2)).to_contain_text("invalid", timeout=60_000)

    # The coordinator reviews: scorer output and the snapshot of checkpoint 1.
    staff = new_page()
    sign_in(staff, coordinator.email)
    staff.goto(run_url)
    with staff.expect_download() as download:
        staff.locator("#checkpoints").get_by_role("link", name="snapshot").first.click()
    assert download.value.suggested_filename.endswith(".tar")
    staff.locator("#checkpoints").get_by_role("link", name="diff").first.click()
    expect(staff.locator("h1")).to_contain_text("Checkpoint 1 → 2")
    shot("coordinator-diff", on=staff)

    page.bring_to_front()
    page.goto(run_url)
    page.get_by_role("button", name="Stop workspace").click()
    page.get_by_role("button", name="Stop for good").click()  # the confirmation
    expect(page.locator("#run-status")).to_have_text("finished", timeout=60_000)
    expect(page.locator("#final-score")).to_be_visible()
    shot("run-finished-final-score")
