"""The database engine and schema migrations, for SQLite and PostgreSQL alike."""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

import webapp.models  # noqa: F401  (registers every table on SQLModel.metadata)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL and in-memory SQLite."""
    path = url.removeprefix("sqlite:///")
    if url.startswith("sqlite:///") and path and path != ":memory:":
        return Path(path)
    return None


def _ensure_sqlite_folder(url: str) -> None:
    if (path := sqlite_file(url)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        _ensure_sqlite_folder(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    # Sync routes run on Starlette's 40 worker threads, each with a session; the background
    # threads (scoring, leases, the scheduler) need their own. A request that finds the pool
    # empty waits at most 10 s, then fails, rather than hanging.
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=40, pool_timeout=10)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# Held while migrating (an advisory lock on PostgreSQL, a file lock beside a SQLite file):
# several app processes start at once and each upgrades first; the lock makes the others wait
# and then find the schema already at head.
MIGRATION_LOCK = 7_204_611


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``, created for the purpose and removed on release, so
    nothing stays behind. A process that waited on a file the holder then removed locks a file
    nobody else can see, so it checks that ``path`` is still the file it locked and otherwise
    tries again on the new one: only one process at a time holds the file at ``path``."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                found = os.stat(path)
            except FileNotFoundError:
                continue
            held = os.fstat(fd)
            if (found.st_dev, found.st_ino) != (held.st_dev, held.st_ino):
                continue
            try:
                yield
            finally:
                path.unlink(missing_ok=True)  # while still locked: the next one makes a new file
            return
        finally:
            os.close(fd)


def upgrade(url: str) -> None:
    """Bring the schema to the newest migration (what ``baseliner db upgrade`` and serve do)."""
    _ensure_sqlite_folder(url)
    if (path := sqlite_file(url)) is not None:
        with file_lock(path.with_name(f"{path.name}.migrating")):
            command.upgrade(alembic_config(url), "head")
        return
    if url.startswith("sqlite"):  # in memory: nobody else to wait for
        command.upgrade(alembic_config(url), "head")
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as lock:
            lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                command.upgrade(alembic_config(url), "head")
            finally:
                lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    finally:
        engine.dispose()


def sessions(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session
