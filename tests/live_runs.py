"""A live run on this machine for tests that need a real workspace: the probe family's task,
started through the portal's own jobs (the test module points ``settings`` at tests/fleet/families).
"""

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlmodel import Session

from baselines import checkpointing
from baselines.runs import Run, RunStatus
from baselines.users import Role
from tests.hosts import ready_host
from timetracking.utc import utcnow

# The probe family (tests/fleet/families): its score is whatever the task folder's solution.py
# answers, so tests decide a scoring's result and how long it takes.
PROBE_FAMILIES = Path(__file__).resolve().parent / "fleet" / "families"


@contextmanager
def started_run(
    app, engine, expert_id: int, environment: str, *, ready: bool = True
) -> Iterator[Run]:
    """A run of ``environment`` on the ready host (the local one unless ``ready`` is False and
    the test registered another), started through the portal's own jobs, and stopped at the end
    if it is still active."""
    if ready:
        ready_host(engine)
    with Session(engine) as s:
        run = Run(expert_id=expert_id, environment=environment, created_at=utcnow())
        s.add(run)
        s.commit()
        run_id = run.id
        task = checkpointing.run_task(s, app.state.settings, run)
    app.state.workspaces.start(run_id, task.launch)
    app.state.workspaces.wait(run_id, timeout=120)
    with Session(engine) as s:
        run = s.get(Run, run_id)
        assert run.status == RunStatus.active, run.status_reason
    try:
        yield run
    finally:  # a failing test too: its workspace must not break the tests after it
        with Session(engine) as s:
            run = s.get(Run, run_id)
            if run.status == RunStatus.active:
                app.state.workspaces.request_stop(s, run, "test over")
        app.state.workspaces.wait(run_id, timeout=60)


def remove_behind_our_back(user: str) -> None:
    """What another installation's sweep once did to a live run: its unix user's processes
    killed, the user and its home deleted, the platform not told."""
    deadline = time.monotonic() + 20
    while True:  # userdel refuses (8) while a killed process has not quite exited yet
        subprocess.run(["pkill", "-KILL", "-u", user], check=False)
        done = subprocess.run(["userdel", "-r", user], check=False, capture_output=True)
        if done.returncode == 0:
            return
        assert done.returncode == 8 and time.monotonic() < deadline, done.stderr
        time.sleep(0.2)


@pytest.fixture
def live_run(app, engine, make_user):
    """A started probe/main run on the local host, through the portal's own jobs."""
    with started_run(app, engine, make_user(Role.expert).id, "probe/main") as run:
        yield run
