"""Evidence of work, one row per run, minute and source: what the idle rule and pay rest on.

Activity comes from frames the browser sends to the IDE, from ``task`` calls and from the editor
extension; an open tab with nobody at it sends nothing and so earns nothing.
"""

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, func, select

from timetracking import pauses
from timetracking.utc import UTCDateTime


class Activity(SQLModel, table=True):
    __tablename__ = "activity"
    __table_args__ = (UniqueConstraint("run_id", "minute", "source", name="uq_activity_minute"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    minute: datetime = Field(sa_type=UTCDateTime, index=True)
    source: str = Field(max_length=16)  # ide, cli, extension
    # The last moment seen within that minute, so an idle pause can start from it.
    last_at: datetime = Field(sa_type=UTCDateTime)


def record(session: Session, run_id: int, at: datetime, source: str) -> None:
    """Note activity at ``at``; at most one row per run, minute and source. Activity ends an
    open idle pause at that moment (see timetracking.idle)."""
    if pauses.resume(session, run_id, pauses.PauseReason.idle, at):
        session.commit()
    minute = at.replace(second=0, microsecond=0)
    query = select(Activity).where(
        Activity.run_id == run_id, Activity.minute == minute, Activity.source == source
    )
    row = session.exec(query).first()
    if row is not None:
        row.last_at = max(row.last_at, at)
        session.add(row)
        session.commit()
        return
    try:
        session.add(Activity(run_id=run_id, minute=minute, source=source, last_at=at))
        session.commit()
    except IntegrityError:  # another worker wrote the same minute first: that row counts
        session.rollback()


def last_activity(session: Session, run_id: int) -> datetime | None:
    query = select(func.max(Activity.last_at)).where(Activity.run_id == run_id)
    return session.exec(query).one()
