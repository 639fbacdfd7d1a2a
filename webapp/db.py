"""The database engine and schema migrations, for SQLite and PostgreSQL alike."""

import fcntl
from collections.abc import Iterator
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


def upgrade(url: str) -> None:
    """Bring the schema to the newest migration (what ``baseliner db upgrade`` and serve do)."""
    _ensure_sqlite_folder(url)
    if (path := sqlite_file(url)) is not None:
        with open(f"{path}.migrating", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
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
