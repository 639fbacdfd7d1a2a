"""Time is stored in UTC and handed around timezone-aware, on every database.

SQLite has no timezone type and PostgreSQL's ``timestamp without time zone`` drops the offset, so
the column type below stores naive UTC and always returns aware UTC: code never compares a naive
datetime with an aware one, whichever database is underneath.
"""

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current instant, aware, in UTC. Domain code takes ``now`` as an argument instead."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A DateTime column that accepts only aware datetimes and returns them in UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column; pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)
