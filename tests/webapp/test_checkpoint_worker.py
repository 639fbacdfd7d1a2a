"""The scoring worker against a real workspace on this machine: snapshots, scores, identical
snapshots stored once, the scoring pause, waiting for a host that is down, a Stop that waits for
the queue, and the final score."""

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from baselines import checkpointing, checkpoints
from baselines.checkpoints import CheckpointStatus
from baselines.runs import Run, RunStatus
from fleet.hosts import Host, HostStatus
from tests.live_runs import PROBE_FAMILIES as FAMILIES
from timetracking import pauses
from timetracking.pauses import PauseReason
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


@pytest.fixture
def settings(settings):
    settings.environment_dirs = str(FAMILIES)
    return settings


def _solution(run: Run, source: str) -> None:
    path = Path(run.workspace_path) / "solution.py"
    path.write_text(source)
    shutil.chown(path, run.unix_user, run.unix_user)


def _submit(app, engine, run_id: int, **kwargs):
    with Session(engine) as s:
        row = checkpointing.submit(
            s, app.state.settings, app.state.workspaces.connections, s.get(Run, run_id),
            source="cli", now=utcnow(), **kwargs,
        )  # fmt: skip
        return row.seq, row.snapshot_sha256


def test_the_worker_scores_each_checkpoint_from_its_snapshot(app, engine, live_run):
    worker = app.state.scoring
    _solution(live_run, "def answer():\n    return 0.5\n")
    first = _submit(app, engine, live_run.id)
    _solution(live_run, "def answer():\n    return 0.9\n")  # changed after submission
    second = _submit(app, engine, live_run.id)
    third = _submit(app, engine, live_run.id)  # nothing changed since: the same snapshot
    assert third[1] == second[1] != first[1]
    with Session(engine) as s:  # the clock stops while checkpoints wait
        assert pauses.paused_by(s, live_run.id) == [PauseReason.scoring]
    for _ in range(3):
        assert worker.run_once()
    assert not worker.run_once()
    with Session(engine) as s:
        rows = checkpoints.log(s, live_run.id)
        assert [(r.seq, r.status, r.score) for r in rows] == [
            (1, CheckpointStatus.scored, 0.5),
            (2, CheckpointStatus.scored, 0.9),
            (3, CheckpointStatus.scored, 0.9),
        ]
        # Normalised with the manifest's y_s 0.25 and y_r 1.0.
        assert rows[0].score_normalized == pytest.approx((0.5 - 0.25) / 0.75)
        assert all(r.attempts == 1 and r.scoring_seconds > 0 for r in rows)
        assert pauses.paused_by(s, live_run.id) == []  # the clock runs again


def test_invalid_and_crashing_solutions_say_why(app, engine, live_run):
    worker = app.state.scoring
    _solution(live_run, "def answer():\n    return 'x'\n")
    _submit(app, engine, live_run.id)
    _solution(live_run, "def answer():\n    raise ValueError('no good')\n")
    _submit(app, engine, live_run.id)
    assert worker.run_once() and worker.run_once()
    with Session(engine) as s:
        invalid, crashed = checkpoints.log(s, live_run.id)
    assert (invalid.status, invalid.valid, invalid.message["error"]) == (
        CheckpointStatus.invalid, False, "not a number: 'x'",
    )  # fmt: skip
    assert crashed.status == CheckpointStatus.invalid
    assert "ValueError: no good" in crashed.message["error"]
    assert "Traceback" in crashed.output


def test_a_host_that_is_down_makes_the_checkpoint_wait(app, engine, live_run):
    _submit(app, engine, live_run.id)
    with Session(engine) as s:
        host = s.get(Host, live_run.host_id)
        host.status, host.status_reason = HostStatus.down, "connection refused"
        s.add(host)
        s.commit()
    assert app.state.scoring.run_once()
    with Session(engine) as s:
        (row,) = checkpoints.log(s, live_run.id)
        assert row.status == CheckpointStatus.queued
        assert row.last_error.startswith("waiting for host local")
        assert row.not_before > utcnow() + timedelta(seconds=20)
        host = s.get(Host, live_run.host_id)
        host.status = HostStatus.ready
        s.add(host)
        row.not_before = None
        s.add(row)
        s.commit()
    assert app.state.scoring.run_once()
    with Session(engine) as s:
        assert checkpoints.log(s, live_run.id)[0].status == CheckpointStatus.scored


def test_a_stop_waits_for_queued_checkpoints_and_stores_the_final_score(app, engine, live_run):
    _solution(live_run, "def answer():\n    return 0.6\n")
    _submit(app, engine, live_run.id)
    _solution(live_run, "def answer():\n    return 0.4\n")
    _submit(app, engine, live_run.id)
    jobs = app.state.workspaces
    with Session(engine) as s:
        run = s.get(Run, live_run.id)
        assert not checkpointing.end_run(s, app.state.settings, jobs, run, "Stopped.", utcnow())
        assert s.get(Run, live_run.id).status == RunStatus.active  # waits for the queue
    assert app.state.scoring.run_once() and app.state.scoring.run_once()
    jobs.wait(live_run.id, timeout=60)
    with Session(engine) as s:
        run = s.get(Run, live_run.id)
        assert run.status == RunStatus.finished and run.archive_path
        assert run.final_score == 0.6  # the best, higher is better
        assert run.final_score_normalized == pytest.approx((0.6 - 0.25) / 0.75)


def test_scores_under_another_condition_are_never_pooled(app, engine, live_run):
    """A score under another scoring condition (another model) is stored with it, valid but
    not normalised without that condition's y_s/y_r; the final score counts only the
    condition of the last valid score."""
    _solution(live_run, "def answer():\n    return 0.9\n")  # the task's own condition
    _submit(app, engine, live_run.id)
    _solution(live_run, "def answer():\n    return {'value': 0.5, 'condition': 'model: m'}\n")
    _submit(app, engine, live_run.id)
    jobs = app.state.workspaces
    with Session(engine) as s:
        run = s.get(Run, live_run.id)
        checkpointing.end_run(s, app.state.settings, jobs, run, "Stopped.", utcnow())
    assert app.state.scoring.run_once() and app.state.scoring.run_once()
    jobs.wait(live_run.id, timeout=60)
    with Session(engine) as s:
        rows = checkpoints.log(s, live_run.id)
        assert [(r.condition, r.valid, r.score) for r in rows] == [
            ("", True, 0.9),
            ("model: m", True, 0.5),
        ]
        assert rows[0].score_normalized == pytest.approx((0.9 - 0.25) / 0.75)
        assert rows[1].score_normalized is None  # no y_s/y_r for model: m
        run = s.get(Run, live_run.id)
        assert run.final_score == 0.5  # not the 0.9 made under the other condition
        assert run.final_score_normalized is None


def test_the_final_submission_ends_the_run_once_scored(app, engine, live_run):
    _solution(live_run, "def answer():\n    return 0.8\n")
    _submit(app, engine, live_run.id)
    _submit(app, engine, live_run.id, final=True)
    with Session(engine) as s:
        assert s.get(Run, live_run.id).submitted_at is not None
        with pytest.raises(checkpoints.Conflict, match="final submission is in"):
            checkpointing.submit(
                s, app.state.settings, app.state.workspaces.connections,
                s.get(Run, live_run.id), source="cli", now=utcnow(),
            )  # fmt: skip
    assert app.state.scoring.run_once() and app.state.scoring.run_once()
    app.state.workspaces.wait(live_run.id, timeout=60)
    with Session(engine) as s:
        run = s.get(Run, live_run.id)
        assert (run.status, run.status_reason) == (RunStatus.finished, "Submitted by the expert.")
        assert run.final_score == 0.8
        assert [r.final for r in checkpoints.log(s, live_run.id)] == [False, True]


def test_no_checkpoint_while_the_clock_is_paused(app, engine, live_run):
    with Session(engine) as s:
        pauses.pause(s, live_run.id, PauseReason.manual, utcnow())
        s.commit()
        with pytest.raises(checkpoints.Conflict, match="clock is paused"):
            checkpointing.submit(
                s, app.state.settings, app.state.workspaces.connections,
                s.get(Run, live_run.id), source="cli", now=utcnow(),
            )  # fmt: skip
        assert checkpoints.log(s, live_run.id) == []
