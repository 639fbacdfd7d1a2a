"""Assignment rules: made all at once or not at all, started at most 1 + retries times (a start
the platform failed does not count), never twice at the same moment, cancelled only before a
run, a retry only once the runs are used."""

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from baselines import assignments
from baselines.assignments import USED_UP, AiTools, Assignment, AssignmentStatus, Terms
from baselines.audit import AuditLog
from baselines.errors import Conflict, DomainError
from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from timetracking.utc import utcnow

ENV = "triton_cumsum/main"


@pytest.fixture
def people(make_user):
    coordinator = make_user(Role.coordinator, name="Cora")
    experts = [make_user(Role.expert, name=n) for n in ("Ida", "Bo", "Lin")]
    return coordinator, experts


def _assign(engine, coordinator, expert, environment=ENV, **terms) -> int:
    with Session(engine) as s:
        (row,) = assignments.assign_all(
            s,
            [(s.get(User, expert.id), environment)],
            Terms(**terms),
            actor=s.get(User, coordinator.id),
            now=utcnow(),
        )
        s.commit()
        return row.id


def _start(engine, assignment_id: int) -> tuple[int, bool]:
    with Session(engine) as s:
        a = s.get(Assignment, assignment_id)
        run, new = assignments.begin_run(s, a, s.get(User, a.expert_id), utcnow())
        s.commit()
        return run.id, new


def _set_run(engine, run_id: int, status: RunStatus, started: bool) -> None:
    with Session(engine) as s:
        run = s.get(Run, run_id)
        run.status, run.started_at = status, utcnow() if started else None
        s.add(run)
        s.commit()


def test_assign_all_makes_every_assignment_with_one_audit_row_each(engine, people) -> None:
    coordinator, experts = people
    due = utcnow() + timedelta(days=3)
    with Session(engine) as s:
        made = assignments.assign_all(
            s,
            [(s.get(User, e.id), ENV) for e in experts],
            Terms(time_limit_s=7200, ai_tools=AiTools.available, due_at=due, note="Read it all."),
            actor=s.get(User, coordinator.id),
            now=utcnow(),
        )
        s.commit()
        ids = [a.id for a in made]
        rows = s.exec(select(Assignment).order_by(Assignment.id)).all()
        assert [(a.expert_id, a.time_limit_s, a.note) for a in rows] == [
            (e.id, 7200, "Read it all.") for e in experts
        ]
        assert all(a.due_at == due for a in rows)
        audit = s.exec(select(AuditLog).where(AuditLog.action == "assignment.create")).all()
        assert sorted(int(r.object_id) for r in audit) == ids
        assert {r.actor_id for r in audit} == {coordinator.id}


def test_an_open_assignment_of_the_same_task_is_refused_by_name(engine, people) -> None:
    coordinator, (ida, bo, lin) = people
    _assign(engine, coordinator, ida)
    _assign(engine, coordinator, bo)
    with Session(engine) as s, pytest.raises(Conflict) as caught:
        assignments.assign_all(
            s,
            [(s.get(User, u.id), ENV) for u in (ida, bo, lin)],
            Terms(),
            actor=s.get(User, coordinator.id),
            now=utcnow(),
        )
    assert caught.value.message == f"Ida and Bo already have {ENV} open."
    assert caught.value.field == "experts"


def test_terms_out_of_bounds_are_refused(engine, people) -> None:
    coordinator, (ida, *_) = people
    now = utcnow()
    bad = [
        (Terms(time_limit_s=30), "time_limit"),
        (Terms(due_at=now - timedelta(days=1)), "due_date"),
        (Terms(note="x" * 2001), "note"),
    ]
    for terms, field in bad:
        with Session(engine) as s, pytest.raises(DomainError) as caught:
            assignments.assign_all(
                s, [(s.get(User, ida.id), ENV)], terms, actor=s.get(User, coordinator.id), now=now
            )
        assert caught.value.field == field


def test_start_at_most_once_then_a_retry(engine, people) -> None:
    coordinator, (ida, *_) = people
    assignment_id = _assign(engine, coordinator, ida)
    first, new = _start(engine, assignment_id)
    assert new
    assert _start(engine, assignment_id) == (first, False)  # live: the same run, none made
    _set_run(engine, first, RunStatus.finished, started=True)
    with pytest.raises(Conflict) as caught:
        _start(engine, assignment_id)
    assert caught.value.message == USED_UP

    with Session(engine) as s:
        a = s.get(Assignment, assignment_id)
        assignments.grant_retry(s, a, s.get(User, coordinator.id), utcnow())
        s.commit()
        assert assignments.attempts(s, a).left == 1
    second, new = _start(engine, assignment_id)
    assert new and second != first
    with Session(engine) as s:
        assert [r.attempt for r in s.exec(select(Run).order_by(Run.id))] == [1, 2]


def test_a_start_the_platform_failed_does_not_count(engine, people) -> None:
    coordinator, (ida, *_) = people
    assignment_id = _assign(engine, coordinator, ida)
    failed, _ = _start(engine, assignment_id)
    _set_run(engine, failed, RunStatus.failed, started=False)  # no host: never active
    again, new = _start(engine, assignment_id)
    assert new and again != failed
    _set_run(engine, again, RunStatus.failed, started=True)  # failed while working: counts
    with pytest.raises(Conflict, match="ask your coordinator for a retry"):
        _start(engine, assignment_id)
    with Session(engine) as s:
        state = assignments.attempts(s, s.get(Assignment, assignment_id))
        assert (state.used, state.allowed, state.live) == (1, 1, None)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (AssignmentStatus.cancelled, "This assignment was cancelled."),
        (AssignmentStatus.closed, "This assignment is closed."),
    ],
)
def test_cancelled_and_closed_assignments_do_not_start(engine, people, status, message) -> None:
    coordinator, (ida, *_) = people
    assignment_id = _assign(engine, coordinator, ida)
    with Session(engine) as s:
        s.get(Assignment, assignment_id).status = status
        s.commit()
    with pytest.raises(Conflict) as caught:
        _start(engine, assignment_id)
    assert caught.value.message == message
    with Session(engine) as s:
        assert s.exec(select(Run)).all() == []


def test_simultaneous_starts_make_one_run(engine, people, monkeypatch) -> None:
    """Four Starts, each in its own thread and session, all read "no runs yet" before any of
    them inserts (a barrier holds them there); one run is made, and every Start gets it."""
    coordinator, (ida, *_) = people
    assignment_id = _assign(engine, coordinator, ida)
    starters = 4
    barrier = threading.Barrier(starters, timeout=30)
    read_runs = assignments._runs_of

    def runs_then_wait(session, ident):
        found = read_runs(session, ident)
        barrier.wait()
        return found

    monkeypatch.setattr(assignments, "_runs_of", runs_then_wait)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def press_start() -> None:
        try:
            results.append(_start(engine, assignment_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=press_start) for _ in range(starters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    with Session(engine) as s:
        runs = s.exec(select(Run).where(Run.assignment_id == assignment_id)).all()
    assert len(runs) == 1
    assert sorted(results) == [(runs[0].id, False)] * (starters - 1) + [(runs[0].id, True)]


def test_cancel_only_before_a_run(engine, people) -> None:
    coordinator, (ida, bo, _) = people
    idle, busy = _assign(engine, coordinator, ida), _assign(engine, coordinator, bo)
    _start(engine, busy)
    with Session(engine) as s:
        actor = s.get(User, coordinator.id)
        assignments.cancel(s, s.get(Assignment, idle), actor, "  Wrong task.  ", utcnow())
        s.commit()
        row = s.exec(select(AuditLog).where(AuditLog.action == "assignment.cancel")).one()
        assert (row.object_id, row.after) == (
            str(idle),
            {"status": "cancelled", "reason": "Wrong task."},
        )
        with pytest.raises(Conflict, match="already cancelled"):
            assignments.cancel(s, s.get(Assignment, idle), actor, "", utcnow())
        with pytest.raises(Conflict, match="has started"):
            assignments.cancel(s, s.get(Assignment, busy), actor, "", utcnow())
    # A cancelled assignment no longer blocks assigning the same task again.
    _assign(engine, coordinator, ida)


def test_a_retry_only_once_the_runs_are_used_and_none_is_live(engine, people) -> None:
    coordinator, (ida, *_) = people
    assignment_id = _assign(engine, coordinator, ida)
    with Session(engine) as s:
        actor, a = s.get(User, coordinator.id), s.get(Assignment, assignment_id)
        with pytest.raises(Conflict, match="used 0 of 1 runs"):
            assignments.grant_retry(s, a, actor, utcnow())
    run_id, _ = _start(engine, assignment_id)
    with Session(engine) as s:
        actor, a = s.get(User, coordinator.id), s.get(Assignment, assignment_id)
        with pytest.raises(Conflict, match="still live"):
            assignments.grant_retry(s, a, actor, utcnow())
    _set_run(engine, run_id, RunStatus.finished, started=True)
    with Session(engine) as s:
        actor, a = s.get(User, coordinator.id), s.get(Assignment, assignment_id)
        assignments.grant_retry(s, a, actor, utcnow())
        s.commit()
        row = s.exec(select(AuditLog).where(AuditLog.action == "assignment.retry")).one()
        assert (row.before, row.after) == ({"retries_granted": 0}, {"retries_granted": 1})
