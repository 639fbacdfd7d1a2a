"""The host health check: what it reads from a host, and the job that runs it every minute."""

import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlmodel import Session

from fleet import health, hosts
from fleet.connections import Connections
from fleet.hosts import Host, HostCreate, HostStatus
from tests.naming import PREFIX
from timetracking.utc import utcnow
from webapp import scheduler
from webapp.settings import Settings

pytestmark = pytest.mark.host  # runs once: the database is incidental here


def test_parse_nvidia_smi_rows():
    text = "0, NVIDIA H100 80GB HBM3, 81559\n1, NVIDIA H100 80GB HBM3, 81559\n"
    assert health.parse_gpus(text) == [
        {"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_mb": 81559},
        {"index": 1, "name": "NVIDIA H100 80GB HBM3", "memory_mb": 81559},
    ]
    assert health.parse_gpus("") == []
    assert health.parse_gpus("NVIDIA-SMI has failed because it couldn't communicate\n") == []


def test_scheduled_job_checks_every_host(engine, sshd):
    with Session(engine) as s:
        local = hosts.add(s, HostCreate(name="local", driver="local"), "", None, utcnow())
        gone = hosts.add(
            s,
            HostCreate(
                name="gone", driver="ssh", address="127.0.0.1", port=1, key_path=str(sshd.key_path)
            ),
            sshd.host_key_line,
            None,
            utcnow(),
        )
        s.commit()
        ids = local.id, gone.id
    connections = Connections(PREFIX)
    settings = Settings(health_interval_s=60, scoring_worker=False)
    jobs = SimpleNamespace(connections=connections)  # all the health job needs of the jobs
    background = scheduler.Scheduler(engine, settings, jobs, None, utcnow)
    background.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with Session(engine) as s:
                checked = [s.get(Host, i) for i in ids]
                if all(h.status_reason != "not checked yet" for h in checked):
                    break
            time.sleep(0.2)
    finally:
        background.close()
        connections.close()
    ready, down = checked
    assert ready.status == HostStatus.ready, ready.status_reason
    assert ready.last_seen is not None and ready.gpus == []
    assert down.status == HostStatus.down
    assert "127.0.0.1:1" in down.status_reason


def test_draining_host_stays_draining_while_healthy(engine):
    with Session(engine) as s:
        host = hosts.add(s, HostCreate(name="local", driver="local"), "", None, utcnow())
        hosts.set_draining(s, host, True, None, utcnow())
        s.commit()
        connections = Connections(PREFIX)
        health.check(s, host, connections, utcnow())
        connections.close()
        assert host.status == HostStatus.draining


def test_an_interpreter_workspace_users_cannot_reach_is_named(engine):
    """A checkout under a private folder (/root, any mktemp -d): the check names the path and
    the folder that closes it, instead of a scorer's traceback at the first checkpoint."""
    import os
    import shutil
    import sys
    import tempfile

    if os.geteuid() != 0:
        import pytest

        pytest.skip("checking as another user needs root")
    private = Path(tempfile.mkdtemp())  # mode 0700, as `mktemp -d` makes it
    (private / "bin").mkdir()
    python = private / "bin" / "python"
    python.symlink_to(sys.executable)
    private.chmod(0o700)
    with Session(engine) as s:
        data = HostCreate(name="local", driver="local", settings={"python": str(python)})
        host = hosts.add(s, data, "", None, utcnow())
        s.commit()
        connections = Connections(PREFIX)
        health.check(s, host, connections, utcnow())
        assert host.status == HostStatus.down
        assert host.status_reason == (
            f"workspace users cannot run {python}: {private} (mode 700) is closed to them"
        )
        private.chmod(0o755)  # opened: the same check passes
        health.check(s, host, connections, utcnow())
        connections.close()
        shutil.rmtree(private)
        assert host.status == HostStatus.ready, host.status_reason
