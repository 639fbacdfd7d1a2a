"""The audit trail: every state change a person makes writes one row, with before and after."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel

from timetracking.utc import UTCDateTime


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    # None for the system itself (a scheduled job) or an anonymous visitor before sign-up.
    actor_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    action: str = Field(max_length=80, index=True)
    object_type: str = Field(max_length=80)
    object_id: str = Field(max_length=80)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


def record(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    obj: SQLModel,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Add an audit row in the caller's transaction, so it commits or rolls back with the change."""
    row = AuditLog(
        at=now,
        actor_id=actor_id,
        action=action,
        object_type=obj.__tablename__,
        object_id=str(obj.id),
        before=before,
        after=after,
    )
    session.add(row)
    return row
