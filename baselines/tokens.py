"""Bearer tokens for scripts and the in-workspace `task` command; only their hashes are stored."""

import hashlib
import secrets
from datetime import datetime

from sqlmodel import Field, Session, SQLModel, select

from baselines import audit
from baselines.errors import DomainError, NotFound
from baselines.users import User
from timetracking.utc import UTCDateTime

PREFIX = "bl_"


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    # The first characters, shown in lists so a person can tell tokens apart.
    hint: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def _digest(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough (no dictionary to guard against).
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    session: Session, user: User, name: str, now: datetime, actor_id: int | None
) -> tuple[ApiToken, str]:
    """Return the stored row and the plain token, which is shown once and never again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise DomainError("Give the token a name of 1 to 100 characters.", field="name")
    plain = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id, name=name, token_hash=_digest(plain), hint=plain[:8], created_at=now
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="token.create",
        obj=row,
        now=now,
        after={"user_id": user.id, "name": name},
    )
    return row, plain


def authenticate(session: Session, plain: str, now: datetime) -> User | None:
    """The active user a live token belongs to, or None."""
    if not plain.startswith(PREFIX):
        return None
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == _digest(plain))).first()
    if row is None or row.revoked_at is not None:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    row.last_used_at = now
    session.add(row)
    return user


def list_for(session: Session, user_id: int) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
    return list(session.exec(query))


def revoke(session: Session, user: User, token_id: int, now: datetime) -> ApiToken:
    """Revoke one of the user's own tokens; another user's token is reported as not found."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound("No such token.")
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
        audit.record(session, actor_id=user.id, action="token.revoke", obj=row, now=now)
    return row
