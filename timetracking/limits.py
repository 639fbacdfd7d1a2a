"""How long a run may last in working time, what is left, and the warnings as the end nears.

A run's limit is the one its assignment set when it started (the environment's own by default,
8 hours), plus every extension a coordinator granted, each with its reason. The limit is reached
at a computed instant (the moment working time crossed it), so the run's recorded working time
never exceeds its limit, however late the job that ends it runs.
"""

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Field, Session, SQLModel, select

from baselines import audit
from baselines.errors import Conflict, Problems
from baselines.runs import OPEN, Run
from baselines.users import User
from timetracking import pauses
from timetracking.utc import UTCDateTime

# Minutes left at which the expert is warned, largest first.
WARNINGS_MIN = (60, 15, 5)
MAX_EXTENSION_S = 7 * 86400


class LimitExtension(SQLModel, table=True):
    __tablename__ = "limit_extensions"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    seconds: int
    reason: str = Field(max_length=2000)
    by_id: int = Field(foreign_key="users.id")
    created_at: datetime = Field(sa_type=UTCDateTime)


def extended_s(session: Session, run_id: int) -> int:
    query = select(func.coalesce(func.sum(LimitExtension.seconds), 0)).where(
        LimitExtension.run_id == run_id
    )
    return int(session.exec(query).one())


def extensions(session: Session, run_id: int) -> list[LimitExtension]:
    query = select(LimitExtension).where(LimitExtension.run_id == run_id)
    return list(session.exec(query.order_by(LimitExtension.created_at, LimitExtension.id)))


def warning_minutes(left_s: float | None) -> int | None:
    """The warning that applies with this much time left: 60, 15 or 5 (minutes), or None."""
    if left_s is None:
        return None
    due = [m for m in WARNINGS_MIN if left_s <= m * 60]
    return min(due) if due else None


def crossing(
    started_at: datetime,
    rows: list[pauses.Pause],
    limit_s: float,
    now: datetime,
    ended_at: datetime | None = None,
) -> datetime | None:
    """The instant working time reached ``limit_s``, or None if it has not by ``now``.

    Working time only grows, and between pause edges it grows one second per second, so the
    instant is found exactly by walking the edges: at most one linear piece holds it.
    """
    if pauses.working_seconds(started_at, rows, now, ended_at) < limit_s:
        return None
    edges = sorted(
        {started_at, now}
        | {p.started_at for p in rows if started_at < p.started_at < now}
        | {p.ended_at for p in rows if p.ended_at and started_at < p.ended_at < now}
    )
    before = started_at
    for edge in edges:
        if pauses.working_seconds(started_at, rows, edge, ended_at) >= limit_s:
            worked = pauses.working_seconds(started_at, rows, before, ended_at)
            return before + timedelta(seconds=limit_s - worked)
        before = edge
    return now


def extend(
    session: Session, run: Run, seconds: int, reason: str, actor: User, now: datetime
) -> LimitExtension:
    """Give a live run more working time, with the reason; audited, in the caller's transaction.
    A run whose limit was reached but whose final checkpoint is not scored yet cannot be
    extended: its final submission is in."""
    if run.status not in OPEN:
        raise Conflict(f"This run is {run.status}; only a live run's limit can be extended.")
    if run.time_limit_s is None:
        raise Conflict("This run has no time limit to extend.")
    if run.submitted_at is not None:
        raise Conflict("This run's final checkpoint is in; its limit can no longer change.")
    problems = Problems()  # both fields' messages at once
    reason = reason.strip()
    if not reason:
        problems.add("reason", "Say why the run gets more time.")
    if not 60 <= seconds <= MAX_EXTENSION_S:
        problems.add("minutes", "Extend by at least 1 minute and at most 7 days.")
    problems.raise_any()
    # A limit reached but not yet acted on (its final checkpoint could not be taken) is lifted.
    pauses.resume(session, run.id, pauses.PauseReason.limit, now)
    row = LimitExtension(
        run_id=run.id, seconds=seconds, reason=reason, by_id=actor.id, created_at=now
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="run.extend_limit",
        obj=run,
        now=now,
        before={"time_limit_s": run.time_limit_s + extended_s(session, run.id) - seconds},
        after={"time_limit_s": run.time_limit_s + extended_s(session, run.id), "reason": reason},
    )
    return row
