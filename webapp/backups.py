"""Backups: the database and the data dir together, and putting them back.

A backup is one folder: the database (``pg_dump`` custom format, or SQLite's online backup), a
tar of the data dir (checkpoint snapshots, archives, the session key), and ``MANIFEST.json`` with
each file's sha256. The database is dumped first: snapshots are written once and never change,
so every snapshot the dump refers to is already in the data dir when it is archived.

A restore checks every sha256 before touching anything, refuses a target that already holds
data unless told to replace it, and leaves the schema at head.
"""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from webapp import db

MANIFEST = "MANIFEST.json"
DATA_TAR = "data.tar.gz"
PG_DUMP, SQLITE_COPY = "db.dump", "db.sqlite"


class BackupError(Exception):
    """Something an operator must fix; the message says what."""


@dataclass(frozen=True)
class Made:
    folder: Path
    files: dict[str, str]  # name -> sha256


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _libpq(url: str) -> str:
    """The SQLAlchemy URL as pg_dump and pg_restore take it (no ``+psycopg``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(args: list[str]) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BackupError(f"{args[0]} is not installed (Debian: postgresql-client)") from None
    if done.returncode != 0:
        # pg_dump's errors name the database, never the password.
        raise BackupError(f"{args[0]} failed: {done.stderr.strip()[-2000:]}")


def create(db_url: str, data_dir: Path, into: Path, now: datetime) -> Made:
    """A new backup folder under ``into``, named by the UTC time."""
    folder = into / now.strftime("%Y%m%dT%H%M%SZ")
    partial = folder.with_name(folder.name + ".partial")
    if folder.exists():
        raise BackupError(f"{folder} already exists")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True, mode=0o700)
    if db_url.startswith("sqlite"):
        source = sqlite3.connect(db.sqlite_file(db_url))
        target = sqlite3.connect(partial / SQLITE_COPY)
        with target:
            source.backup(target)
        source.close()
        target.close()
    else:
        _run(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                f"--file={partial / PG_DUMP}",
                _libpq(db_url),
            ]
        )
    # The live SQLite file (and its journal) is in the copy above, consistent; backups kept
    # inside the data dir are not backed up again.
    skip = [str(into.resolve())]
    if db_url.startswith("sqlite"):
        skip.append(str(db.sqlite_file(db_url).resolve()))
    with tarfile.open(partial / DATA_TAR, "w:gz") as tar:
        for path in sorted(data_dir.rglob("*")):
            if path.is_file() and not str(path.resolve()).startswith(tuple(skip)):
                tar.add(path, arcname=str(path.relative_to(data_dir)), recursive=False)
    files = {p.name: _sha256(p) for p in sorted(partial.iterdir())}
    manifest = {"created_at": now.isoformat(), "database": make_url(db_url).get_backend_name()}
    (partial / MANIFEST).write_text(json.dumps({**manifest, "files": files}, indent=2))
    partial.rename(folder)
    return Made(folder, files)


def prune(into: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` finished backups; the removed folders."""
    done = sorted(p for p in into.iterdir() if p.is_dir() and (p / MANIFEST).exists())
    gone = done[:-keep] if keep > 0 else []
    for folder in gone:
        shutil.rmtree(folder)
    return gone


def verify(folder: Path) -> dict:
    """The manifest, once every file in it has its recorded sha256."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{folder} is not a finished backup (no {MANIFEST})") from None
    for name, digest in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise BackupError(f"{name} is missing from {folder}")
        if _sha256(path) != digest:
            raise BackupError(f"{name} in {folder} is damaged (its sha256 differs)")
    return manifest


def _holds_data(db_url: str, data_dir: Path) -> str:
    engine = db.make_engine(db_url)
    try:
        tables = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if tables:
        return f"the database already has {len(tables)} tables"
    kept = [p for p in data_dir.glob("*") if p.name not in (".", "..")] if data_dir.exists() else []
    if db_url.startswith("sqlite"):
        kept = [p for p in kept if not p.name.startswith(db.sqlite_file(db_url).name)]
    return f"{data_dir} is not empty" if kept else ""


def _extract(archive: Path, into: Path) -> None:
    """Regular files only, each inside ``into`` (Debian's Python 3.11.2 predates tar filters)."""
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            target = (into / member.name).resolve()
            if not member.isfile() or not target.is_relative_to(into.resolve()):
                raise BackupError(f"{archive} holds {member.name!r}, which a backup never has")
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with tar.extractfile(member) as data, target.open("wb") as out:
                shutil.copyfileobj(data, out)
            os.chmod(target, member.mode & 0o700)


def restore(folder: Path, db_url: str, data_dir: Path, *, replace: bool = False) -> dict:
    """Put a backup back into this database and data dir; the manifest."""
    manifest = verify(folder)
    backend = make_url(db_url).get_backend_name()
    if manifest["database"] != backend:
        raise BackupError(f"this backup is of a {manifest['database']} database, not {backend}")
    busy = _holds_data(db_url, data_dir)
    if busy and not replace:
        raise BackupError(f"{busy}; restore into an empty one, or pass --replace")
    if data_dir.exists() and replace:
        for path in data_dir.iterdir():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _extract(folder / DATA_TAR, data_dir)
    if backend == "sqlite":
        target = db.sqlite_file(db_url)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(folder / SQLITE_COPY, target)
        os.chmod(target, 0o600)
    else:
        args = ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq(db_url)}"]
        if replace:
            args[1:1] = ["--clean", "--if-exists"]
        _run([*args, str(folder / PG_DUMP)])
    db.upgrade(db_url)
    return manifest
