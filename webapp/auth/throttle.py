"""Login rate limiting, kept in the database so it holds across workers and restarts."""

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Field, Session, SQLModel, or_, select

from timetracking.utc import UTCDateTime


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempts"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, index=True)
    ip: str = Field(max_length=64, index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    succeeded: bool


def blocked_for(
    session: Session, email: str, ip: str, now: datetime, max_failures: int, window_s: int
) -> int:
    """Seconds until the next try is allowed (0 when allowed).

    Failures count per email (guessing one account) and per address (trying many accounts, at
    a higher threshold so a shared office address is not locked out by one person).
    """
    since = now - timedelta(seconds=window_s)
    failures = select(LoginAttempt).where(
        LoginAttempt.at >= since,
        LoginAttempt.succeeded.is_(False),
        or_(LoginAttempt.email == email, LoginAttempt.ip == ip),
    )
    rows = list(session.exec(failures))
    by_email = [r.at for r in rows if r.email == email]
    by_ip = [r.at for r in rows if r.ip == ip]
    waits = [0]
    for times, limit in ((by_email, max_failures), (by_ip, max_failures * 4)):
        if len(times) >= limit:
            oldest_counted = sorted(times)[-limit]
            waits.append(
                int((oldest_counted + timedelta(seconds=window_s) - now).total_seconds()) + 1
            )
    return max(waits)


def note(session: Session, email: str, ip: str, now: datetime, succeeded: bool) -> None:
    session.add(LoginAttempt(email=email, ip=ip, at=now, succeeded=succeeded))


def prune(session: Session, now: datetime, window_s: int) -> None:
    """Drop attempts too old to matter, so the table stays small."""
    cutoff = now - timedelta(seconds=window_s * 4)
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < cutoff))
