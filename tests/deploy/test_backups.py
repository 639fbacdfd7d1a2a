"""Backups (deploy/backup.sh → ``baseliner backup``): a restore into an empty database and data
dir gives back every row and every file; a damaged or mismatched backup, or a target that
already holds data, is refused before anything is touched."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel

from baselines.users import Role

BASELINER = Path(sys.executable).parent / "baseliner"


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    full = {**os.environ, **env}
    full.pop("BASELINER_CONFIG", None)
    return subprocess.run(
        [str(BASELINER), "backup", *args], env=full, capture_output=True, text=True, timeout=120
    )


def _rows(engine: Engine) -> dict[str, list[tuple]]:
    out = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in connection.execute(select(table).order_by(*order))]
    return out


@pytest.fixture
def empty_target(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A database and data dir that hold nothing yet, of the same kind as the suite's."""
    data_dir = tmp_path / "restored"
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}", data_dir
        return
    name = f"restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(database_url).set(database=name).render_as_string(False), data_dir
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def source(settings, engine, make_user) -> dict[str, str]:
    """The suite's database with a few accounts, and a data dir with a snapshot and the key."""
    for role in (Role.expert, Role.coordinator, Role.finance):
        make_user(role)
    snapshots = settings.data_dir / "snapshots" / "ab"
    snapshots.mkdir(parents=True)
    (snapshots / ("ab" + "0" * 62 + ".tar")).write_bytes(b"checkpoint bytes" * 1000)
    settings.session_secret  # noqa: B018  (writes data_dir/secret_key)
    return {
        "BASELINER_DATABASE_URL": settings.db_url,
        "BASELINER_DATA_DIR": str(settings.data_dir),
    }


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith("baseliner.db")
    }


def test_a_restore_gives_back_every_row_and_file(source, engine, empty_target, tmp_path):
    backups = tmp_path / "backups"
    made = _cli(source, "create", "--to", str(backups), "--keep", "3")
    assert made.returncode == 0, made.stderr
    (folder,) = backups.iterdir()
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    url, data_dir = empty_target
    back = _cli(
        {"BASELINER_DATABASE_URL": url, "BASELINER_DATA_DIR": str(data_dir)}, "restore", str(folder)
    )
    assert back.returncode == 0, back.stderr
    assert f"from {folder}" in back.stdout
    restored = create_engine(url)
    try:
        assert _rows(restored) == _rows(engine)
    finally:
        restored.dispose()
    assert _files(data_dir) == _files(Path(source["BASELINER_DATA_DIR"]))


def test_damaged_mismatched_or_occupied_targets_are_refused(
    source, database_url, empty_target, tmp_path
):
    backups = tmp_path / "backups"
    assert _cli(source, "create", "--to", str(backups)).returncode == 0
    (folder,) = backups.iterdir()
    url, data_dir = empty_target
    target = {"BASELINER_DATABASE_URL": url, "BASELINER_DATA_DIR": str(data_dir)}

    occupied = _cli(source, "restore", str(folder))  # the live database itself
    assert occupied.returncode == 2
    assert "already has" in occupied.stderr and "--replace" in occupied.stderr

    tar = folder / "data.tar.gz"
    original = tar.read_bytes()
    tar.write_bytes(original[:-10] + b"0123456789")
    damaged = _cli(target, "restore", str(folder))
    assert damaged.returncode == 2
    assert "data.tar.gz" in damaged.stderr and "damaged" in damaged.stderr
    assert not data_dir.exists()  # nothing was touched
    tar.write_bytes(original)

    other = "postgresql" if database_url.startswith("sqlite") else "sqlite"
    mismatched = _cli(
        {
            "BASELINER_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"
            if other == "sqlite"
            else "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "BASELINER_DATA_DIR": str(tmp_path / "x"),
        },
        "restore",
        str(folder),
    )
    assert mismatched.returncode == 2
    assert "this backup is of a" in mismatched.stderr

    not_a_backup = _cli(target, "restore", str(tmp_path))
    assert not_a_backup.returncode == 2
    assert "not a finished backup" in not_a_backup.stderr


def test_old_backups_are_pruned_to_the_newest_few(source, tmp_path):
    import time

    backups = tmp_path / "backups"
    for _ in range(3):
        assert _cli(source, "create", "--to", str(backups), "--keep", "2").returncode == 0
        time.sleep(1.1)  # folders are named by the second
    assert len([p for p in backups.iterdir() if p.is_dir()]) == 2
