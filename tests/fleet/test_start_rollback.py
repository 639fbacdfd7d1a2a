"""A start that fails at any step leaves nothing behind: no workspace user, home or code-server,
no leases, and a failed run that says why. The host is this machine (real users, real
code-server); the failure is a real driver call that dies at step k, for every k a start makes.
"""

import os
import pwd
import subprocess
from pathlib import Path

import pytest
from sqlmodel import Session, select

from baselines.runs import Lease, Run, RunStatus
from baselines.users import Role
from fleet import health, hosts, workspaces
from fleet.connections import Connections
from fleet.drivers.base import CommandFailed, CommandResult
from fleet.drivers.local import LocalDriver
from fleet.hosts import Host, HostCreate
from fleet.task_command_setup import TaskCommandSetup
from tests.naming import PREFIX, workspace
from timetracking.utc import utcnow

pytestmark = [
    pytest.mark.host,
    pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users"),
]
FAMILIES = Path(__file__).resolve().parent / "families"


class DyingDriver(LocalDriver):
    """This machine's driver, whose ``fail_at``-th command dies with ``error`` (0: none die);
    it counts every command, so a clean start tells how many steps there are."""

    def __init__(self, fail_at: int = 0, error: type[BaseException] = CommandFailed) -> None:
        self.fail_at, self.error, self.calls = fail_at, error, 0

    def _exec(self, command, timeout, feed, sink):
        self.calls += 1
        if self.calls == self.fail_at:
            if self.error is CommandFailed:
                raise CommandFailed(CommandResult(command, 1, "", f"killed at step {self.calls}"))
            raise self.error(f"killed at step {self.calls}")
        return super()._exec(command, timeout, feed, sink)


class OneDriver(Connections):
    """Connections that hand out one given driver for every host."""

    def __init__(self, driver: LocalDriver) -> None:
        super().__init__(PREFIX)
        self.given = driver

    def driver(self, host: Host) -> LocalDriver:
        return self.given


@pytest.fixture
def local_host(engine) -> Host:
    with Session(engine) as s:
        host = hosts.add(s, HostCreate(name="local", driver="local"), "", None, utcnow())
        s.commit()
        health.check(s, host, OneDriver(LocalDriver()), utcnow())
        s.refresh(host)
        s.expunge(host)
        return host


def _launch():
    from environments.catalogue import discover
    from fleet.task_runs import TaskLaunch

    family = next(f for f in discover(str(FAMILIES)).families if f.name == "probe")
    return TaskLaunch(family, "main", 0, True, ("reference/",))


def _start(engine, make_user, driver: DyingDriver) -> Run:
    expert = make_user(Role.expert)
    with Session(engine) as s:
        run = Run(expert_id=expert.id, environment="probe/main", created_at=utcnow())
        s.add(run)
        s.commit()
        run_id = run.id
    workspaces.start(
        engine,
        OneDriver(driver),
        run_id,
        now=utcnow,
        launch=_launch(),
        task_command=TaskCommandSetup(("127.0.0.1", 9)),
        ready_timeout=30,
    )
    with Session(engine) as s:
        return s.get(Run, run_id)


def _left_behind(engine, run: Run) -> list[str]:
    name = workspace(run.id)
    left = []
    try:
        pwd.getpwnam(name)
        left.append(f"user {name}")
    except KeyError:
        pass
    if Path(f"/home/{name}").exists():
        left.append(f"/home/{name}")
    if subprocess.run(["pgrep", "-f", f"/home/{name}"], capture_output=True).returncode == 0:
        left.append(f"a process of {name}")
    with Session(engine) as s:
        if s.exec(select(Lease).where(Lease.run_id == run.id)).all():
            left.append("leases")
    return left


def test_a_start_killed_at_any_step_leaves_nothing(engine, make_user, local_host):
    clean = _start(engine, make_user, counter := DyingDriver())
    assert clean.status == RunStatus.active, clean.status_reason
    steps = counter.calls
    assert steps >= 8, steps  # user, files, settings, code-server, task start, instructions, …
    workspaces.stop(engine, OneDriver(LocalDriver()), clean.id, archive_dir=Path("/tmp"),
                    now=utcnow)  # fmt: skip
    assert _left_behind(engine, clean) == []
    for step in range(1, steps + 1):
        # A command that fails, and one whose thread dies with something other than an error
        # of the host (a bug, an interrupt): both are undone.
        error = CommandFailed if step % 2 else RuntimeError
        run = _start(engine, make_user, DyingDriver(step, error))
        assert run.status == RunStatus.failed, (step, run.status)
        assert run.status_reason, step
        assert _left_behind(engine, run) == [], (step, run.status_reason)


def test_a_start_whose_process_died_is_undone_by_the_next_round(engine, make_user, local_host):
    """SIGKILL mid-start leaves a run provisioning and a workspace on the host: the scheduler's
    next round removes the workspace, frees the leases and fails the run with a reason."""
    from datetime import timedelta

    from fleet import allocation

    expert = make_user(Role.expert)
    long_ago = utcnow() - workspaces.ABANDONED_AFTER - timedelta(minutes=1)
    connections = OneDriver(LocalDriver())
    with Session(engine) as s:
        run = Run(expert_id=expert.id, environment="probe/main", created_at=long_ago)
        s.add(run)
        s.commit()
        allocation.place(s, run, 0)
        host = s.get(Host, run.host_id)
        backend = connections.backend(host)
        spec = workspaces.spec_for(run, host, PREFIX, backend)
        # What the dead process had got as far as: the user, the files and code-server.
        run.runtime_state = backend.start(spec)
        run.unix_user = spec.unix_user
        s.add(run)
        s.commit()
        fresh = Run(expert_id=expert.id, environment="probe/main", created_at=utcnow())
        s.add(fresh)
        s.commit()
        run_id, fresh_id = run.id, fresh.id
    assert pwd.getpwnam(workspace(run_id))
    assert workspaces.fail_abandoned_starts(engine, connections, now=utcnow) == [run_id]
    with Session(engine) as s:
        run, fresh = s.get(Run, run_id), s.get(Run, fresh_id)
        assert run.status == RunStatus.failed and "Press Start again" in run.status_reason
        assert fresh.status == RunStatus.provisioning  # a start still in its time is left alone
        assert _left_behind(engine, run) == []
