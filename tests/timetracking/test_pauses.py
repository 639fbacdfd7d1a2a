"""Working time is time since start less pauses, from stored intervals; overlaps count once."""

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from baselines.runs import Run
from baselines.users import Role
from timetracking import pauses
from timetracking.pauses import Pause, PauseReason

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _pause(start: float, end: float | None, reason=PauseReason.manual) -> Pause:
    return Pause(run_id=1, started_at=_at(start), ended_at=None if end is None else _at(end),
                 reason=reason)  # fmt: skip


def test_working_time_subtracts_pauses_and_counts_overlaps_once():
    spans = [
        _pause(10, 20),  # 10 min manual
        _pause(15, 25, PauseReason.scoring),  # overlaps: 5 more
        _pause(40, 41, PauseReason.scoring),  # 1
        _pause(55, None, PauseReason.idle),  # open: until "now"
    ]
    assert pauses.working_seconds(_at(0), spans, _at(60)) == (60 - 15 - 1 - 5) * 60
    assert pauses.working_seconds(_at(0), spans, _at(12)) == 10 * 60
    # A pause that started before the run, or ends after the run ended, is clipped.
    assert pauses.working_seconds(_at(0), [_pause(-5, 5)], _at(30)) == 25 * 60
    assert pauses.working_seconds(_at(0), [], _at(90), ended_at=_at(30)) == 30 * 60
    assert pauses.working_seconds(None, [], _at(90)) == 0


def test_pause_and_resume_by_reason(engine, make_user):
    expert = make_user(Role.expert)
    with Session(engine) as s:
        run = Run(expert_id=expert.id, environment="x/y", created_at=T0, started_at=T0)
        s.add(run)
        s.commit()
        first = pauses.pause(s, run.id, PauseReason.manual, _at(5))
        assert pauses.pause(s, run.id, PauseReason.manual, _at(6)).id == first.id  # one open
        pauses.pause(s, run.id, PauseReason.scoring, _at(7))
        assert set(pauses.paused_by(s, run.id)) == {PauseReason.manual, PauseReason.scoring}
        assert pauses.resume(s, run.id, PauseReason.scoring, _at(8))
        assert not pauses.resume(s, run.id, PauseReason.scoring, _at(9))
        assert pauses.paused_by(s, run.id) == [PauseReason.manual]
        pauses.resume(s, run.id, PauseReason.manual, _at(10))
        s.commit()
        rows = pauses.for_run(s, run.id)
        assert pauses.working_seconds(run.started_at, rows, _at(20)) == 15 * 60
