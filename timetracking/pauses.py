"""Working time from stored intervals: time since the run started, less its pauses.

A pause is a row (run, start, end, reason); an open pause has no end. Working seconds at any
moment are computed from these rows, never kept as a counter, so every second can be explained
and a crash loses nothing. Overlapping pauses (a scoring pause inside a manual one) are merged
before they are subtracted, so no second is taken off twice.
"""

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, Session, SQLModel, select

from timetracking.utc import UTCDateTime


class PauseReason(StrEnum):
    manual = "manual"
    idle = "idle"
    scoring = "scoring"
    override = "override"
    limit = "limit"
    # The workspace vanished from its host: nothing to work in until it is restarted from the
    # last checkpoint (baselines.workspace_loss); only that restart lifts it.
    lost = "lost"


class Pause(SQLModel, table=True):
    __tablename__ = "pauses"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: PauseReason = Field(sa_type=String(16))


def for_run(session: Session, run_id: int) -> list[Pause]:
    query = select(Pause).where(Pause.run_id == run_id).order_by(Pause.started_at, Pause.id)
    return list(session.exec(query))


def open_pauses(session: Session, run_id: int) -> list[Pause]:
    return [p for p in for_run(session, run_id) if p.ended_at is None]


def working_seconds(
    started_at: datetime | None, pauses: list[Pause], at: datetime, ended_at: datetime | None = None
) -> float:
    """Seconds worked from ``started_at`` to ``at`` (or the run's end, if earlier)."""
    if started_at is None:
        return 0.0
    end = min(at, ended_at) if ended_at else at
    if end <= started_at:
        return 0.0
    spans = sorted(
        (max(p.started_at, started_at), min(p.ended_at or end, end))
        for p in pauses
        if p.started_at < end
    )
    # Summed as timedeltas (whole microseconds), so the result is exact, not a float sum.
    paused, cursor = timedelta(0), started_at
    for start, stop in spans:
        start = max(start, cursor)
        if stop > start:
            paused += stop - start
            cursor = stop
    return ((end - started_at) - paused).total_seconds()


def pause(session: Session, run_id: int, reason: PauseReason, at: datetime) -> Pause:
    """Open a pause with this reason, unless one is open already (then that one)."""
    for row in open_pauses(session, run_id):
        if row.reason == reason:
            return row
    row = Pause(run_id=run_id, started_at=at, reason=reason)
    session.add(row)
    session.flush()
    return row


def resume(session: Session, run_id: int, reason: PauseReason, at: datetime) -> bool:
    """Close the open pause with this reason; False when there was none."""
    closed = False
    for row in open_pauses(session, run_id):
        if row.reason == reason:
            row.ended_at = max(at, row.started_at)
            session.add(row)
            closed = True
    return closed


def paused_by(session: Session, run_id: int) -> list[PauseReason]:
    """The reasons the clock is stopped now (empty: it runs)."""
    return [PauseReason(p.reason) for p in open_pauses(session, run_id)]


def work_periods(
    started_at: datetime, rows: list[Pause], end: datetime
) -> list[tuple[datetime, datetime]]:
    """The spans from ``started_at`` to ``end`` when the clock ran: what an override starts from."""
    periods, cursor = [], started_at
    spans = sorted(
        (max(p.started_at, started_at), min(p.ended_at or end, end))
        for p in rows
        if p.started_at < end
    )
    for start, stop in spans:
        if start > cursor:
            periods.append((cursor, start))
        cursor = max(cursor, stop)
    if end > cursor:
        periods.append((cursor, end))
    return periods
