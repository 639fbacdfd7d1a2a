"""The token a run's ``task`` command authenticates with: good for that one run, only while it
is live, and for nothing else (it cannot read another run or act as the expert elsewhere)."""

import hashlib
import secrets
from datetime import datetime

from sqlmodel import Field, Session, SQLModel, select

from baselines.runs import LIVE, Run
from timetracking.utc import UTCDateTime

PREFIX = "blr_"


class RunToken(SQLModel, table=True):
    __tablename__ = "run_tokens"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", unique=True, index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(session: Session, run_id: int, now: datetime) -> str:
    """A new token for the run (replacing any earlier one); the plain text is returned once."""
    plain = PREFIX + secrets.token_urlsafe(32)
    row = session.exec(select(RunToken).where(RunToken.run_id == run_id)).first()
    if row is None:
        row = RunToken(run_id=run_id, token_hash=_digest(plain), created_at=now)
    else:
        row.token_hash, row.created_at = _digest(plain), now
    session.add(row)
    session.flush()
    return plain


def run_for(session: Session, plain: str) -> Run | None:
    """The run a token belongs to, whatever its state (the caller says what an ended run may
    do), or None for an unknown token."""
    if not plain.startswith(PREFIX):
        return None
    row = session.exec(select(RunToken).where(RunToken.token_hash == _digest(plain))).first()
    return session.get(Run, row.run_id) if row else None


def is_live(run: Run) -> bool:
    return run.status in LIVE
