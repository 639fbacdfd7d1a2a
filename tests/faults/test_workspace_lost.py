"""A live run's workspace removed behind the platform's back (``userdel -r`` of its unix user, as
another installation's sweep once did): the poll job notices, the clock pauses with the reason
``lost`` (the expert cannot lift it), the expert and coordinators are told, every action on the
run answers a 4xx with the reason (never a 500), and a restart from the last checkpoint's
snapshot brings the files of that checkpoint back in a new workspace, with the clock running.

Real local host, real code-server, the portal's own jobs; the poll job is called by hand.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from baselines import checkpointing, run_tokens
from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.runs import Lease, Run, RunStatus
from baselines.users import Role
from tests.conftest import login, post_form
from tests.live_runs import remove_behind_our_back, started_run
from timetracking import pauses
from timetracking.pauses import PauseReason
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


@contextmanager
def staff_client(app, coordinator) -> Iterator[TestClient]:
    """Signed in as the coordinator; no lifespan (it would close the portal's jobs)."""
    client = TestClient(app, follow_redirects=False)
    login(client, coordinator)
    yield client
    client.close()


def _run(engine, run_id: int) -> Run:
    with Session(engine) as s:
        return s.get(Run, run_id)


def score_one(app, engine, run: Run, solution: str) -> Checkpoint:
    """A checkpoint of the task folder with this solution, scored by the worker."""
    (Path(run.workspace_path) / "solution.py").write_text(solution)
    with Session(engine) as s:
        token = run_tokens.issue(s, run.id, utcnow())
        s.commit()
    api = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    made = api.post("/api/v1/task/checkpoints", json={})
    assert made.status_code == 202, made.text
    assert app.state.scoring.run_once() is True
    with Session(engine) as s:
        query = select(Checkpoint).where(Checkpoint.run_id == run.id)
        row = s.exec(query.order_by(Checkpoint.seq.desc())).first()
        assert row.status == CheckpointStatus.scored, row.last_error
        return row


def expert_client(app, expert) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    login(client, expert)
    return client


def test_a_lost_workspace_pauses_the_clock_refuses_actions_and_restarts_from_its_checkpoint(
    app, engine, make_user
):
    expert, coordinator = make_user(Role.expert), make_user(Role.coordinator)
    jobs = app.state.workspaces
    with started_run(app, engine, expert.id, "probe/main") as run:
        score_one(app, engine, run, "def answer():\n    return 0.75\n")
        home = Path(run.workspace_path)
        (home / "after.txt").write_text("written after the last checkpoint\n")
        assert jobs.find_lost(utcnow()) == []  # a live workspace is not lost

        remove_behind_our_back(run.unix_user)
        expert_web = expert_client(app, expert)
        page = f"/runs/{run.id}"

        # The poll job notices.
        noticed = utcnow()
        assert jobs.find_lost(noticed) == [run.id]
        assert jobs.find_lost(utcnow()) == []  # once
        lost = _run(engine, run.id)
        assert lost.status == RunStatus.active and lost.lost_at is not None
        assert lost.status_reason == (
            f"Your workspace on host local was lost: its unix user {run.unix_user} no longer"
            " exists there."
        )
        with Session(engine) as s:
            assert PauseReason.lost in pauses.paused_by(s, run.id)
            frozen = checkpointing.working_s(s, lost, noticed)
            assert checkpointing.working_s(s, lost, noticed + timedelta(hours=2)) == frozen

        # The expert is told in plain words, with the way out; the actions that need the
        # workspace are gone from the page.
        shown = expert_web.get(page).text
        assert 'id="lost-banner"' in shown and "Your workspace was lost" in shown
        assert lost.status_reason not in shown and run.unix_user not in shown  # staff's words
        assert "checkpoint (#1" in shown and 'id="relaunch-run"' in shown
        assert 'id="score-now"' not in shown and 'id="restart-ide"' not in shown
        assert 'id="open-ide"' not in shown
        ide = expert_web.get(f"/ide/{run.id}/", headers={"accept": "text/html"})
        assert ide.status_code == 409 and "was lost" in ide.text

        # Every action on it answers a 4xx with the reason.
        score = post_form(expert_web, f"{page}/checkpoints", {}, page)
        assert score.status_code == 409 and "was lost" in score.text
        restart = post_form(expert_web, f"{page}/restart", {}, page)
        assert restart.status_code == 409 and "Restart IDE needs the workspace" in restart.text
        with Session(engine) as s:
            token = run_tokens.issue(s, run.id, utcnow())
            s.commit()
        api = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        task_score = api.post("/api/v1/task/checkpoints", json={})
        assert task_score.status_code == 409
        assert "was lost" in task_score.json()["detail"]
        # The expert cannot lift the pause.
        post_form(expert_web, f"{page}/resume", {}, page)
        with Session(engine) as s:
            assert PauseReason.lost in pauses.paused_by(s, run.id)

        # Coordinators see it in the live list.
        with staff_client(app, coordinator) as staff:
            listing = staff.get("/coordinator/runs").text
            assert "workspace lost" in listing and lost.status_reason in listing

        # Restart from the last checkpoint: a new workspace holding its files; the clock runs.
        again = post_form(expert_web, f"{page}/relaunch", {}, page)
        assert again.status_code == 303, again.text
        jobs.wait(run.id, timeout=120)
        back = _run(engine, run.id)
        assert back.lost_at is None and back.status_reason == "", back.status_reason
        assert back.status == RunStatus.active
        new_home = Path(back.workspace_path)
        assert (new_home / "solution.py").read_text() == "def answer():\n    return 0.75\n"
        assert not (new_home / "after.txt").exists()  # made after the checkpoint: gone
        assert new_home.stat().st_uid != 0  # the workspace user's, not root's
        assert httpx.get(f"http://127.0.0.1:{back.port}/healthz", timeout=5).status_code == 200
        with Session(engine) as s:
            assert pauses.paused_by(s, run.id) == []
            assert s.exec(select(Lease).where(Lease.run_id == run.id, Lease.kind == "port")).all()
        assert 'id="lost-banner"' not in expert_web.get(page).text
        # It takes checkpoints again.
        second = score_one(app, engine, back, "def answer():\n    return 0.5\n")
        assert (second.seq, second.score) == (2, 0.5)
        expert_web.close()


def test_a_restart_ide_that_finds_the_workspace_gone_records_the_loss(app, engine, make_user):
    expert = make_user(Role.expert)
    jobs = app.state.workspaces
    with started_run(app, engine, expert.id, "probe/main") as run:
        remove_behind_our_back(run.unix_user)
        expert_web = expert_client(app, expert)
        page = f"/runs/{run.id}"
        assert post_form(expert_web, f"{page}/restart", {}, page).status_code == 303
        jobs.wait(run.id, timeout=60)
        lost = _run(engine, run.id)
        assert lost.lost_at is not None and "was lost" in lost.status_reason
        again = post_form(expert_web, f"{page}/restart", {}, page)
        assert again.status_code == 409 and "was lost" in again.text
        expert_web.close()


def test_stopping_a_lost_run_ends_it_with_the_reason_and_frees_its_leases(app, engine, make_user):
    expert = make_user(Role.expert)
    jobs = app.state.workspaces
    with started_run(app, engine, expert.id, "probe/main") as run:
        remove_behind_our_back(run.unix_user)
        expert_web = expert_client(app, expert)
        page = f"/runs/{run.id}"
        # Score now before the poll job noticed: the failed snapshot is recognised as the loss,
        # recorded at once, and the answer names it (it was a bare 500 once).
        early = post_form(expert_web, f"{page}/checkpoints", {}, page)
        assert early.status_code == 409, early.text
        assert "Your workspace was lost" in early.text and "unix user" not in early.text
        assert _run(engine, run.id).lost_at is not None
        with Session(engine) as s:
            assert PauseReason.lost in pauses.paused_by(s, run.id)
        assert jobs.find_lost(utcnow()) == []  # known already

        stop = post_form(expert_web, f"{page}/stop", {"confirm": "yes"}, page)
        assert stop.status_code == 303, stop.text
        jobs.wait(run.id, timeout=60)
        ended = _run(engine, run.id)
        assert ended.status == RunStatus.finished
        assert "nothing to archive" in ended.status_reason
        assert not ended.cleanup_pending, ended.cleanup_error
        with Session(engine) as s:
            assert s.exec(select(Lease).where(Lease.run_id == run.id)).all() == []
        shown = expert_web.get(page)
        assert shown.status_code == 200 and "nothing to archive" in shown.text
        expert_web.close()
