"""Start-up migrates under a lock file beside a SQLite database and leaves nothing behind: the
lock still lets exactly one process migrate at a time, waiting ones included."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from webapp import db
from webapp.app import create_app
from webapp.settings import Settings

BIN = Path(sys.executable).parent / "baseliner"
SQLITE_FILES = {"baseliner.db", "baseliner.db-wal", "baseliner.db-shm"}


def _left(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_upgrade_leaves_no_lock_file_and_removes_an_old_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'baseliner.db'}"
    (tmp_path / "baseliner.db.migrating").touch()  # what an older version left behind
    db.upgrade(url)
    assert _left(tmp_path) <= SQLITE_FILES and "baseliner.db" in _left(tmp_path)
    db.upgrade(url)  # already at head
    assert "baseliner.db.migrating" not in _left(tmp_path)


def test_start_up_and_db_upgrade_leave_only_the_database(tmp_path):
    """What the issue saw: the data dir after the portal starts, and after the CLI migrates."""
    data = tmp_path / "var"
    create_app(Settings(data_dir=data, database_url="", scheduler=False, scoring_worker=False))
    assert not [p for p in data.iterdir() if p.name.endswith(".migrating")], _left(data)
    other = tmp_path / "cli"
    env = {**os.environ, "BASELINER_DATA_DIR": str(other), "BASELINER_DATABASE_URL": ""}
    env.pop("BASELINER_CONFIG", None)
    done = subprocess.run(
        [str(BIN), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert _left(other) <= SQLITE_FILES | {"secret_key", "workspace_prefix"}, _left(other)


def test_the_lock_admits_one_holder_at_a_time(tmp_path):
    """Eight threads, each with its own open file (flock locks are per open file), take the
    lock five times each; waiters that locked a file the holder removed try again."""
    path = tmp_path / "x.db.migrating"
    inside, most, errors = [0], [0], []
    guard = threading.Lock()

    def work() -> None:
        try:
            for _ in range(5):
                with db.file_lock(path):
                    with guard:
                        inside[0] += 1
                        most[0] = max(most[0], inside[0])
                    time.sleep(0.005)
                    with guard:
                        inside[0] -= 1
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and most[0] == 1
    assert not path.exists()


def test_a_waiter_runs_after_the_holder_and_both_clean_up(tmp_path):
    path = tmp_path / "y.migrating"
    order: list[str] = []
    held = threading.Event()

    def second() -> None:
        held.wait(10)
        with db.file_lock(path):
            order.append("second")

    waiter = threading.Thread(target=second)
    waiter.start()
    with db.file_lock(path):
        assert path.exists()
        held.set()
        time.sleep(0.2)  # the waiter has opened the file and waits on it
        order.append("first")
    waiter.join(10)
    assert order == ["first", "second"] and not path.exists()
