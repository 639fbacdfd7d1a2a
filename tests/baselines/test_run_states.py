"""The run state machine: the moves it allows (with their times and audit rows), the moves it
refuses, a pending run's clock that has not begun, and one Pause/Resume rule set."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from baselines import run_pauses, run_states
from baselines.audit import AuditLog
from baselines.errors import Conflict
from baselines.run_states import IllegalMove
from baselines.runs import LIVE, OPEN, Run, RunStatus
from baselines.users import Role
from timetracking import clock, pause_reasons, pauses
from timetracking.pauses import PauseReason

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
S = RunStatus


def _run(session: Session, make_user, status: RunStatus = S.provisioning) -> Run:
    run = Run(expert_id=make_user(Role.expert).id, environment="x/y", created_at=T0)
    session.add(run)
    session.commit()
    path = {
        S.provisioning: [],
        S.pending: [S.pending],
        S.active: [S.active],
        S.stopping: [S.active, S.stopping],
        S.finished: [S.active, S.stopping, S.finished],
        S.failed: [S.failed],
    }[status]
    for to in path:
        run_states.move(session, run, to, now=T0)
    session.commit()
    return run


def _actions(session: Session, run: Run) -> list[str]:
    query = select(AuditLog.action).where(
        AuditLog.object_type == "runs", AuditLog.object_id == str(run.id)
    )
    return list(session.exec(query.order_by(AuditLog.id)))


def test_a_scheduled_run_waits_pending_then_starts_and_finishes(engine, make_user):
    with Session(engine) as s:
        run = _run(s, make_user)
        run_states.move(s, run, S.pending, reason="Resources", now=T0)
        s.commit()
        assert (run.status, run.status_reason, run.started_at) == (S.pending, "Resources", None)
        assert run.status in LIVE and run.status in OPEN
        # Waiting on the cluster for an hour earns nothing: the clock begins once it runs.
        reading = clock.read(s, run, T0 + timedelta(hours=1))
        assert (reading.working_s, reading.warning_min) == (0.0, None)
        ran = T0 + timedelta(hours=1)
        run_states.move(s, run, S.active, now=ran, actor_id=run.expert_id)
        assert (run.started_at, run.status_reason) == (ran, "")
        assert clock.read(s, run, ran + timedelta(minutes=5)).working_s == 300
        run_states.move(s, run, S.stopping, reason="Stopped by the expert.", now=ran)
        run_states.move(s, run, S.finished, reason="Stopped by the expert.", now=ran)
        s.commit()
        assert run.finished_at == ran
        assert _actions(s, run) == ["run.start", "run.finish"]
        start = s.exec(select(AuditLog).where(AuditLog.action == "run.start")).one()
        assert (start.before, start.after["status"]) == ({"status": "pending"}, "active")


@pytest.mark.parametrize(
    ("was", "to"),
    [
        (S.provisioning, S.finished),  # a start is stopped through ``stopping``
        (S.active, S.provisioning),
        (S.active, S.pending),
        (S.stopping, S.active),
        (S.finished, S.stopping),
        (S.finished, S.active),
        (S.failed, S.active),
        (S.failed, S.finished),
    ],
)
def test_moves_the_table_does_not_allow_are_refused_and_change_nothing(engine, make_user, was, to):
    with Session(engine) as s:
        run = _run(s, make_user, was)
        before = _actions(s, run)
        with pytest.raises(IllegalMove) as refused:
            run_states.move(s, run, to, now=T0 + timedelta(hours=1))
        assert isinstance(refused.value, Conflict) and refused.value.status_code == 409
        assert run.status == was
        assert _actions(s, run) == before


def test_stopping_an_ended_run_says_it_is_already_over(engine, make_user):
    with Session(engine) as s:
        run = _run(s, make_user, S.finished)
        with pytest.raises(IllegalMove, match=r"This run is already finished\."):
            run_states.move(s, run, S.stopping, now=T0)


def test_every_state_is_in_the_table_and_ended_ones_lead_nowhere():
    assert set(run_states.MOVES) == set(RunStatus)
    assert run_states.MOVES[S.finished] == run_states.MOVES[S.failed] == frozenset()
    assert all(S.provisioning not in targets for targets in run_states.MOVES.values())


def test_a_failure_is_audited_by_the_system_with_its_reason(engine, make_user):
    with Session(engine) as s:
        run = _run(s, make_user, S.pending)
        run_states.move(s, run, S.failed, reason="Slurm: NODE_FAIL", now=T0)
        s.commit()
        row = s.exec(select(AuditLog).where(AuditLog.action == "run.fail")).one()
        assert row.actor_id is None
        assert row.before == {"status": "pending"}
        assert (row.after["status"], row.after["reason"]) == ("failed", "Slurm: NODE_FAIL")
        assert run.finished_at == T0 and run.started_at is None


@pytest.mark.parametrize("status", [S.provisioning, S.pending])
def test_a_clock_that_has_not_begun_cannot_be_paused(engine, make_user, status):
    with Session(engine) as s:
        run = _run(s, make_user, status)
        with pytest.raises(Conflict, match="its clock is not running"):
            run_pauses.pause(s, run, T0)
        assert pauses.paused_by(s, run.id) == []


@pytest.mark.parametrize("status", [S.stopping, S.finished, S.failed])
def test_an_ending_or_ended_run_is_gone_for_pause_and_resume(engine, make_user, status):
    with Session(engine) as s:
        run = _run(s, make_user, status)
        for step in (run_pauses.pause, lambda s, r, t: run_pauses.resume(s, r, t, "cli")):
            with pytest.raises(run_pauses.RunEnded, match=f"This run has ended \\({status}\\)"):
                step(s, run, T0)
        assert run_pauses.RunEnded("").status_code == 410


def test_resume_lifts_only_what_the_expert_may_lift(engine, make_user):
    with Session(engine) as s:
        run = _run(s, make_user, S.active)
        run_pauses.pause(s, run, T0)
        pauses.pause(s, run.id, PauseReason.lost, T0)
        s.commit()
        still = run_pauses.resume(s, run, T0 + timedelta(minutes=1), "portal")
        assert still == [PauseReason.lost]


def test_the_pause_table_answers_for_every_reason():
    assert set(pause_reasons.MEANINGS) == set(PauseReason)
    assert pause_reasons.expert_lifted() == (PauseReason.manual,)
    assert PauseReason.scoring not in pause_reasons.holding_idle()
    assert pause_reasons.blocking_scoring([PauseReason.scoring, PauseReason.idle]) == [
        PauseReason.idle
    ]
    assert pause_reasons.labels(["manual", "lost"]) == ["manual", "lost"]
