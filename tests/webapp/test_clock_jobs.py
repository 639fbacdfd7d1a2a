"""The clock's jobs: a run past its limit ends with a final checkpoint scored at exactly the
limit (a real workspace on this machine); idle runs get their pause; only the process holding
the scheduler lease runs the jobs."""

import os
from datetime import timedelta

import pytest
from sqlmodel import Session

from baselines import checkpoints, clock_jobs
from baselines.checkpoints import CheckpointStatus
from baselines.runs import Run, RunStatus
from baselines.users import Role
from tests.live_runs import PROBE_FAMILIES as FAMILIES
from timetracking import activity, pauses
from timetracking.pauses import PauseReason
from timetracking.utc import utcnow
from webapp import scheduler

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


@pytest.fixture
def settings(settings):
    settings.environment_dirs = str(FAMILIES)
    return settings


@needs_root
def test_a_run_past_its_limit_is_scored_at_the_limit_and_ends(app, engine, live_run):
    now = utcnow()
    with Session(engine) as s:
        run = s.get(Run, live_run.id)
        # Started two hours ago with a one-hour limit and a ten-minute break: the limit was
        # reached 70 minutes after the start, 50 minutes ago.
        run.started_at, run.time_limit_s = now - timedelta(hours=2), 3600
        s.add(run)
        ten = (now - timedelta(minutes=110), now - timedelta(minutes=100))
        s.add(pauses.Pause(run_id=run.id, started_at=ten[0], ended_at=ten[1], reason="manual"))
        s.commit()
        ended = clock_jobs.end_at_limit(
            s, app.state.settings, app.state.workspaces.connections, now
        )
        assert ended == [run.id]
        # Again (a second process, a late round): nothing more happens.
        assert (
            clock_jobs.end_at_limit(s, app.state.settings, app.state.workspaces.connections, now)
            == []
        )
        (final,) = checkpoints.log(s, run.id)
        assert (final.final, final.source, final.working_s) == (True, "limit", 3600)
        (limit,) = [p for p in pauses.for_run(s, run.id) if p.reason == PauseReason.limit]
        assert limit.started_at == run.started_at + timedelta(minutes=70)
    assert app.state.scoring.run_once()
    app.state.workspaces.wait(live_run.id, timeout=60)
    with Session(engine) as s:
        run = s.get(Run, live_run.id)
        assert run.status == RunStatus.finished, run.status_reason
        assert run.status_reason == "The time limit was reached."
        assert run.final_score is not None
        assert checkpoints.log(s, run.id)[0].status == CheckpointStatus.scored
        assert pauses.working_seconds(run.started_at, pauses.for_run(s, run.id), utcnow(),
                                      run.finished_at) == 3600  # fmt: skip


def test_the_idle_job_pauses_idle_runs_only(engine, settings, make_user):
    expert = make_user(Role.expert)
    now = utcnow()
    with Session(engine) as s:
        runs = [
            Run(
                expert_id=expert.id,
                environment="gone/task",
                status=RunStatus.active,
                created_at=now,
                started_at=now - timedelta(minutes=30),
            )
            for _ in range(2)
        ]
        s.add_all(runs)
        s.commit()
        quiet, busy = runs
        activity.record(s, quiet.id, now - timedelta(minutes=12), "ide")
        activity.record(s, busy.id, now - timedelta(minutes=2), "ide")
        assert clock_jobs.find_idle(s, settings, now) == [quiet.id]
        assert clock_jobs.find_idle(s, settings, now) == []
        (idle,) = pauses.for_run(s, quiet.id)
        assert (idle.reason, idle.started_at) == (PauseReason.idle, now - timedelta(minutes=12))
        assert pauses.for_run(s, busy.id) == []


def test_only_the_lease_holder_runs_the_jobs(engine, settings):
    first = scheduler.Scheduler(engine, settings, None, None, utcnow)
    second = scheduler.Scheduler(engine, settings, None, None, utcnow)
    calls: list[str] = []
    try:
        assert first.lease.try_once()
        assert not second.lease.try_once()
        first._leader_only("a", lambda: calls.append("first"))()
        second._leader_only("b", lambda: calls.append("second"))()
        assert calls == ["first"]
        first.lease.close()  # the leader stops: the other takes over at once
        assert second.lease.try_once()
        second._leader_only("b", lambda: calls.append("second"))()
        assert calls == ["first", "second"]
    finally:
        second.lease.close()
