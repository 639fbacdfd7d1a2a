"""A Stop whose clean-up fails for real (the host's sshd is down) ends the run at once, but keeps
the workspace, its files and its leases on the host; coordinators see why and when the next try
is; the scheduler's job tries again with a growing wait and, once the host answers, archives the
task folder, removes the workspace and only then frees the GPU and port.

The host is a real sshd on loopback of its own (the suite's shared one must stay up), killed
with every connection it holds, then started again on the same port with the same host key.
"""

import os
import pwd
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from baselines.runs import Lease, Run, RunStatus
from baselines.users import Role
from fleet import workspaces
from fleet.testing_sshd import start_sshd
from tests.conftest import login
from tests.hosts import ready_host
from tests.live_runs import started_run
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


@pytest.fixture
def own_sshd(tmp_path):
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()


@contextmanager
def staff_client(app, coordinator) -> Iterator[TestClient]:
    """Signed in as the coordinator; no lifespan (it would close the portal's jobs)."""
    client = TestClient(app, follow_redirects=False)
    login(client, coordinator)
    yield client
    client.close()


def _run(engine, run_id: int) -> Run:
    with Session(engine) as s:
        return s.get(Run, run_id)


def _leases(engine, run_id: int) -> list[tuple[str, int]]:
    with Session(engine) as s:
        rows = s.exec(select(Lease).where(Lease.run_id == run_id)).all()
        return sorted((lease.kind, lease.value) for lease in rows)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_backoff_doubles_from_30_s_up_to_an_hour():
    waits = [workspaces.cleanup_backoff(n).total_seconds() for n in (1, 2, 3, 4, 8, 20)]
    assert waits == [30, 60, 120, 240, 3600, 3600]


def test_a_failed_clean_up_keeps_workspace_and_leases_and_is_retried_until_it_succeeds(
    app, engine, make_user, own_sshd
):
    ready_host(engine, "ssh", sshd=own_sshd)
    expert = make_user(Role.expert)
    coordinator = make_user(Role.coordinator)
    jobs = app.state.workspaces
    with started_run(app, engine, expert.id, "probe/main", ready=False) as run:
        home = Path(run.workspace_path)
        (home / "notes.txt").write_text("the expert's last words\n")
        held = _leases(engine, run.id)
        assert ("port", run.port) in held

        own_sshd.crash()
        with Session(engine) as s:
            jobs.request_stop(s, s.get(Run, run.id), "Stopped by the expert.")
        jobs.wait(run.id, timeout=120)

        stopped = _run(engine, run.id)
        assert stopped.status == RunStatus.finished and stopped.finished_at is not None
        assert stopped.status_reason == "Stopped by the expert."
        assert stopped.cleanup_pending and stopped.cleanup_attempts == 1
        assert stopped.cleanup_error, "the reason is kept"
        assert stopped.cleanup_next_at > utcnow() + timedelta(seconds=20)  # 30 s backoff
        assert stopped.archive_path == ""
        # Nothing lost, nothing freed: the files, the user and the leases are all still there.
        assert (home / "notes.txt").read_text() == "the expert's last words\n"
        assert _user_exists(run.unix_user)
        assert _leases(engine, run.id) == held

        # Coordinators see it, with the reason and the next try.
        with staff_client(app, coordinator) as staff:
            listing = staff.get("/coordinator/runs")
            assert listing.status_code == 200
            assert 'id="cleanups"' in listing.text
            assert "clean-up pending on host ssh-host:" in listing.text
            page = staff.get(f"/runs/{run.id}")
            assert 'id="cleanup-pending"' in page.text and "next try at" in page.text

        # Not due yet: the scheduler's round leaves it alone.
        assert jobs.retry_cleanups(utcnow()) == []
        # Due, with the host still down: another failure, and a longer wait.
        assert jobs.retry_cleanups(stopped.cleanup_next_at) == []
        again = _run(engine, run.id)
        assert again.cleanup_attempts == 2 and again.cleanup_pending
        assert again.cleanup_next_at >= stopped.cleanup_next_at + timedelta(seconds=59)
        assert _leases(engine, run.id) == held

        # The cause is fixed; the scheduler's round (its due time moved to now) cleans up.
        own_sshd.restart()
        with Session(engine) as s:
            row = s.get(Run, run.id)
            row.cleanup_next_at = utcnow() - timedelta(seconds=1)
            s.add(row)
            s.commit()
        app.state.scheduler.workspaces()

        done = _run(engine, run.id)
        assert not done.cleanup_pending and done.cleanup_error == ""
        assert done.cleanup_next_at is None
        assert _leases(engine, run.id) == []
        assert not _user_exists(run.unix_user) and not home.exists()
        with tarfile.open(done.archive_path) as tar:
            archived = tar.extractfile("./notes.txt").read()
        assert archived == b"the expert's last words\n"
        assert done.status_reason == "Stopped by the expert."

        with staff_client(app, coordinator) as staff:
            assert 'id="cleanups"' not in staff.get("/coordinator/runs").text
