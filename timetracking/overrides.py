"""A coordinator's correction of a run's work periods, with the reason, kept for the record.

"Baseliners forget to pause the clock": the remedy is to say when the expert really worked. The
periods given replace the run's pauses over the span they cover (from the run's start to its end,
or to now for a live run): every gap between them becomes a pause with reason ``override``.
Checkpoints keep the working time recorded when they were scored, and the run is flagged so an
analyst can include or exclude it.
"""

import itertools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, select

from baselines import audit
from baselines.errors import Conflict, DomainError, Problems
from baselines.runs import Run
from baselines.users import User
from timetracking import pauses
from timetracking.pauses import PauseReason
from timetracking.utc import UTCDateTime


class RunOverride(SQLModel, table=True):
    __tablename__ = "run_overrides"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    by_id: int = Field(foreign_key="users.id")
    reason: str = Field(max_length=2000)
    created_at: datetime = Field(sa_type=UTCDateTime)
    # The span replaced, and the work periods in it: [[start, end], …] as ISO 8601 in UTC.
    span_start: datetime = Field(sa_type=UTCDateTime)
    span_end: datetime = Field(sa_type=UTCDateTime)
    periods: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Working seconds over the span before and after, for the audit and the timesheet.
    working_before_s: float = 0.0
    working_after_s: float = 0.0
    # The pauses that were replaced, as they were.
    replaced: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )


MAX_PERIODS = 200
# Times are written to the minute or second, the run's edges are not: an edge written up to this
# much outside the run means the run's own edge.
EDGE_SLACK = timedelta(minutes=1)


def snap_to_span(
    periods: list[tuple[datetime, datetime]], span_start: datetime, span_end: datetime
) -> list[tuple[datetime, datetime]]:
    def snap(at: datetime) -> datetime:
        if span_start - EDGE_SLACK <= at < span_start:
            return span_start
        if span_end < at <= span_end + EDGE_SLACK:
            return span_end
        return at

    return [(snap(start), snap(end)) for start, end in periods]


def check_periods(
    periods: list[tuple[datetime, datetime]], span_start: datetime, span_end: datetime
) -> str | None:
    """Why these work periods cannot replace the span, or None: each must lie inside it, end
    after it starts, and not overlap the next."""
    if not periods:
        return (
            "Give at least one work period (a run with no work at all is cancelled, not corrected)."
        )
    if len(periods) > MAX_PERIODS:
        return f"Give at most {MAX_PERIODS} work periods."
    ordered = sorted(periods)
    for start, end in ordered:
        if end <= start:
            return f"A period must end after it starts ({start:%Y-%m-%d %H:%M} to {end:%H:%M})."
        if start < span_start or end > span_end:
            return (
                f"Every period must lie within the run, {span_start:%Y-%m-%d %H:%M:%S} to"
                f" {span_end:%Y-%m-%d %H:%M:%S} UTC."
            )
    for (_, end), (start, _) in itertools.pairwise(ordered):
        if start < end:
            return "Work periods must not overlap."
    return None


def _pause_json(row: pauses.Pause) -> dict[str, Any]:
    return {
        "started_at": row.started_at.isoformat(),
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "reason": str(row.reason),
    }


def clean_reason(reason: str) -> str:
    """The reason for a correction, stripped; DomainError (field ``reason``) when empty."""
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why the work periods are corrected.", field="reason")
    return reason


def replace_periods(
    session: Session,
    run: Run,
    periods: list[tuple[datetime, datetime]],
    reason: str,
    actor: User,
    now: datetime,
) -> RunOverride:
    """Make ``periods`` the run's only working time between its start and its end (now, for a
    live run); audited, in the caller's transaction. Raises DomainError (field ``periods`` or
    ``reason``) for input that cannot be used, Conflict when an approved timesheet covers it."""
    from timetracking import timesheets  # timesheets reads overrides for its adjustments

    if run.started_at is None:
        raise Conflict("This run never started; it has no working time to correct.")
    problems = Problems()
    reason = problems.check(clean_reason, reason)
    span_start, span_end = run.started_at, min(run.finished_at or now, now)
    periods = snap_to_span(periods, span_start, span_end)
    problem = check_periods(periods, span_start, span_end)
    if problem:
        problems.add("periods", problem)
    problems.raise_any()  # both fields' messages at once
    timesheets.check_unlocked(session, run, span_start, span_end)
    rows = pauses.for_run(session, run.id)
    before = pauses.working_seconds(span_start, rows, span_end, run.finished_at)
    replaced = [r for r in rows if r.started_at < span_end]
    for row in replaced:
        session.delete(row)
        # What outlasts the span (the open pause of a live run) goes on after it.
        if row.ended_at is None or row.ended_at > span_end:
            session.add(
                pauses.Pause(
                    run_id=run.id, started_at=span_end, ended_at=row.ended_at, reason=row.reason
                )
            )
    cursor = span_start
    for start, end in [*sorted(periods), (span_end, span_end)]:
        if start > cursor:
            session.add(
                pauses.Pause(
                    run_id=run.id, started_at=cursor, ended_at=start, reason=PauseReason.override
                )
            )
        cursor = end
    session.flush()
    after = pauses.working_seconds(
        span_start, pauses.for_run(session, run.id), span_end, run.finished_at
    )
    row = RunOverride(
        run_id=run.id,
        by_id=actor.id,
        reason=reason,
        created_at=now,
        span_start=span_start,
        span_end=span_end,
        periods=[[s.isoformat(), e.isoformat()] for s, e in sorted(periods)],
        working_before_s=before,
        working_after_s=after,
        replaced=[_pause_json(r) for r in replaced],
    )
    session.add(row)
    run.overridden = True
    session.add(run)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="run.override_periods",
        obj=run,
        now=now,
        before={"working_s": round(before, 3), "pauses": row.replaced},
        after={"working_s": round(after, 3), "periods": row.periods, "reason": reason},
    )
    timesheets.refresh_for_run(session, run, now)
    return row


def for_run(session: Session, run_id: int) -> list[RunOverride]:
    query = select(RunOverride).where(RunOverride.run_id == run_id)
    return list(session.exec(query.order_by(RunOverride.created_at, RunOverride.id)))
