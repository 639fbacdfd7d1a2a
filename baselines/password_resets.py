"""One-time links that set a password: made by staff for a person, since no mail is assumed."""

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Field, Session, SQLModel, select

from baselines import audit
from baselines.errors import DomainError
from baselines.users import User, set_password
from timetracking.utc import UTCDateTime


class PasswordReset(SQLModel, table=True):
    __tablename__ = "password_resets"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LinkInvalid(DomainError):
    status_code = 410


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    session: Session, user: User, created_by: User | None, ttl: timedelta, now: datetime
) -> str:
    """Make a link token for ``user``; earlier unused links for them stop working."""
    for old in session.exec(
        select(PasswordReset).where(
            PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None)
        )
    ):
        old.used_at = now
        session.add(old)
    token = secrets.token_urlsafe(32)
    row = PasswordReset(
        user_id=user.id,
        token_hash=_digest(token),
        created_by_id=created_by.id if created_by else None,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor_id=created_by.id if created_by else None,
        action="password_reset.issue",
        obj=row,
        now=now,
        after={"user_id": user.id, "expires_at": row.expires_at.isoformat()},
    )
    return token


def find_valid(session: Session, token: str, now: datetime) -> tuple[PasswordReset, User]:
    row = session.exec(
        select(PasswordReset).where(PasswordReset.token_hash == _digest(token))
    ).first()
    if row is None:
        raise LinkInvalid("This link is not valid. Ask a coordinator for a new one.")
    if row.used_at is not None:
        raise LinkInvalid("This link was already used. Ask a coordinator for a new one.")
    if row.expires_at <= now:
        raise LinkInvalid("This link has expired. Ask a coordinator for a new one.")
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        raise LinkInvalid("This account is disabled.")
    return row, user


def redeem(session: Session, token: str, password: str, now: datetime) -> User:
    """Set the password and spend the link; both happen or neither does."""
    row, user = find_valid(session, token, now)
    set_password(user, password)
    row.used_at = now
    session.add_all([row, user])
    audit.record(session, actor_id=user.id, action="password_reset.redeem", obj=row, now=now)
    return user
