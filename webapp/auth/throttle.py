"""Sign-in throttling that stops password guessing without letting a guesser lock the owner out.

Kept in the database (``login_attempts``) so every app process and a restart see the same counts.
Following OWASP's advice on account lockout, failures are counted three ways:

- per address and account: ``max_failures`` wrong passwords from one address for one email
  block that address for that email (a successful sign-in from it clears its count);
- per address: ``4 x max_failures`` failures from one address, whatever the emails, block the
  address (one machine trying many accounts);
- per account, from everywhere: past ``2 x max_failures`` failures (more than one address can
  make), each further failure doubles the pause before the account's next try, capped at
  ``max_delay_s``. The account is slowed, never locked: the owner, from an address with no
  failures of its own, waits at most the cap, and not at all from a browser that signed in to
  the account before (a device cookie, webapp.auth.device). A successful sign-in ends the pause.

An unknown email is counted like a real one, so the answers tell nobody which accounts exist.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete
from sqlmodel import Field, Session, SQLModel, or_, select

from timetracking.utc import UTCDateTime

PER_ADDRESS_FACTOR = 4
ACCOUNT_FACTOR = 2
FIRST_DELAY_S = 2


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempts"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, index=True)
    ip: str = Field(max_length=64, index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    succeeded: bool


class Reason(StrEnum):
    address = "address"  # this address, for this account or for all
    account = "account"  # the account, from many addresses: a pause, not a lock


@dataclass(frozen=True)
class Block:
    wait_s: int
    reason: Reason


@dataclass(frozen=True)
class Limits:
    max_failures: int
    window_s: int
    max_delay_s: int

    @property
    def per_address(self) -> int:
        return self.max_failures * PER_ADDRESS_FACTOR

    @property
    def account_free(self) -> int:
        """Failures an account takes from everywhere before its tries are spaced out."""
        return self.max_failures * ACCOUNT_FACTOR


def account_delay_s(failures: int, limits: Limits) -> int:
    """The pause after the account's latest failure: none up to ``account_free`` failures, then
    2 s after the next one, doubling with each further one, at most ``max_delay_s``."""
    over = failures - limits.account_free
    if over <= 0:
        return 0
    return min(limits.max_delay_s, FIRST_DELAY_S << min(over - 1, 32))


def _hard_wait(times: list[datetime], limit: int, now: datetime, window_s: int) -> int:
    """Seconds until fewer than ``limit`` of ``times`` lie in the window (0: already)."""
    if len(times) < limit:
        return 0
    oldest_counted = sorted(times)[-limit]
    return max(1, int((oldest_counted + timedelta(seconds=window_s) - now).total_seconds()) + 1)


def _since_success(rows: list[LoginAttempt]) -> list[datetime]:
    """The failures among ``rows`` after the latest success among them."""
    last_ok = max(((r.at, r.id) for r in rows if r.succeeded), default=None)
    return [r.at for r in rows if not r.succeeded and (last_ok is None or (r.at, r.id) > last_ok)]


def blocked(
    session: Session,
    email: str,
    ip: str,
    now: datetime,
    limits: Limits,
    known_device: bool = False,
) -> Block | None:
    """Why and for how long a try for ``email`` from ``ip`` must wait; None when it may go.

    ``known_device``: the browser signed in to this account before (webapp.auth.device), so
    the account's pause does not hold it up; the address limits still do."""
    since = now - timedelta(seconds=limits.window_s)
    query = select(LoginAttempt).where(
        LoginAttempt.at >= since, or_(LoginAttempt.email == email, LoginAttempt.ip == ip)
    )
    rows = list(session.exec(query))
    pair = _since_success([r for r in rows if r.email == email and r.ip == ip])
    by_ip = [r.at for r in rows if r.ip == ip and not r.succeeded]
    address_wait = max(
        _hard_wait(pair, limits.max_failures, now, limits.window_s),
        _hard_wait(by_ip, limits.per_address, now, limits.window_s),
    )
    if address_wait:
        return Block(address_wait, Reason.address)
    if known_device:
        return None
    account = _since_success([r for r in rows if r.email == email])
    delay = account_delay_s(len(account), limits)
    if delay:
        wait = (max(account) + timedelta(seconds=delay) - now).total_seconds()
        if wait > 0:
            return Block(max(1, int(wait + 0.999)), Reason.account)
    return None


def note(session: Session, email: str, ip: str, now: datetime, succeeded: bool) -> None:
    session.add(LoginAttempt(email=email, ip=ip, at=now, succeeded=succeeded))


def prune(session: Session, now: datetime, window_s: int) -> None:
    """Drop attempts too old to matter, so the table stays small."""
    cutoff = now - timedelta(seconds=window_s * 4)
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < cutoff))
