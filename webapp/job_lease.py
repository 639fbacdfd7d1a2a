"""Which serve process runs the background jobs: the one holding a lease row in the database.

With several app processes on PostgreSQL, exactly one may score checkpoints (and run the
scheduler's jobs). Each process tries to take or renew the lease every few seconds; a holder that
stops renewing loses it when it expires, and one whose process is gone from this very machine
loses it at once, so a restarted portal takes over without waiting. Taking it is one conditional
UPDATE, so two processes can never both believe they hold it.
"""

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from timetracking.utc import UTCDateTime

log = logging.getLogger("baseliner.lease")


class JobLease(SQLModel, table=True):
    __tablename__ = "job_leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=200)  # "<hostname>:<pid>:<random>"
    expires_at: datetime = Field(sa_type=UTCDateTime)


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _gone(holder: str) -> bool:
    """The holder's process ran on this machine and is no longer running."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def take(engine: Engine, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease ``name`` for ``holder``; True if it holds it now."""
    with Session(engine) as session:
        row = session.get(JobLease, name)
        if row is None:
            session.add(JobLease(name=name, holder=holder, expires_at=now + ttl))
            try:
                session.commit()
                return True
            except IntegrityError:  # another process made it first
                session.rollback()
                row = session.get(JobLease, name)
        current = row.holder
        free = current == holder or row.expires_at <= now or _gone(current)
        if not free:
            return False
        taken = session.execute(
            update(JobLease)
            .where(JobLease.name == name, JobLease.holder == current)
            .values(holder=holder, expires_at=now + ttl)
        )
        session.commit()
        return taken.rowcount == 1


class LeaseKeeper:
    """Holds a lease for as long as the process runs: renews it every ``ttl/3`` in a thread of
    its own (also while a long scoring runs), and calls ``on_taken`` each time it is newly
    taken (the worker then puts back what the previous holder left half-done)."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        now: Callable[[], datetime],
        ttl: timedelta = timedelta(seconds=30),
        on_taken: Callable[[], None] | None = None,
    ) -> None:
        self.engine, self.name, self.now, self.ttl = engine, name, now, ttl
        self.holder = new_holder()
        self.on_taken = on_taken
        self.held = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def try_once(self) -> bool:
        was = self.held.is_set()
        try:
            holds = take(self.engine, self.name, self.holder, self.now(), self.ttl)
        except Exception:  # the database may be down for a moment; try again next time
            log.exception("could not renew the %s lease", self.name)
            holds = False
        if holds:
            self.held.set()
            if not was and self.on_taken is not None:
                self.on_taken()
        else:
            self.held.clear()
        return holds

    def start(self) -> None:
        self.try_once()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{self.name}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl.total_seconds() / 3):
            self.try_once()

    def close(self) -> None:
        """Stop renewing and let the lease go at once, for the next process."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.held.is_set():
            with Session(self.engine) as session:
                session.execute(
                    update(JobLease)
                    .where(JobLease.name == self.name, JobLease.holder == self.holder)
                    .values(expires_at=self.now())
                )
                session.commit()
            self.held.clear()
