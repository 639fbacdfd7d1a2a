"""The scoring queue and the `task` command survive the platform: kill ``baseliner serve`` with
SIGKILL while a checkpoint is being scored, start it again, and the checkpoint ends with exactly
one score; then ten checkpoints submitted at once: ten numbers, ten scores, scored in order. A
`task` call made while the portal is down waits and goes through to the new process.

The portal is a real process on this machine (the embedded default: local host, process
runtime); the task is the probe family (tests/fleet/families), whose score is whatever
``answer()`` in the task folder's solution.py returns, so a test can make scoring slow.
"""

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from baselines import applications, assignments
from baselines.assignments import AiTools
from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.runs import Run
from baselines.users import Role, User
from fleet import task_runs
from fleet.task_command import install as task_command
from fleet.testing_sshd import free_port
from tests.conftest import csrf_token, login
from tests.hosts import ready_host
from tests.live_runs import PROBE_FAMILIES as FAMILIES
from tests.portal import Portal
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


@pytest.fixture
def portal(database_url, tmp_path) -> Portal:
    port = free_port()
    env = {
        **os.environ,
        "BASELINER_DATABASE_URL": database_url,
        "BASELINER_DATA_DIR": str(tmp_path / "data"),
        "BASELINER_ENVIRONMENT_DIRS": str(FAMILIES),
        "BASELINER_SECRET_KEY": "scoring-restart-secret-key",
        "BASELINER_SCHEDULER": "false",
        "BASELINER_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("BASELINER_CONFIG", None)
    portal = Portal(port, env, tmp_path / "portal.log")
    yield portal
    portal.stop()


def _assigned(engine, make_user, name: str) -> tuple[User, int]:
    """An approved expert with probe/main assigned, as the coordinator's pages would make it."""
    expert = make_user(Role.expert, name=name)
    coordinator = make_user(Role.coordinator)
    with Session(engine) as s:
        actor = s.get(User, coordinator.id)
        applications.approve(s, applications.for_user(s, expert.id), actor, utcnow())
        assignment = assignments.create(
            s, expert=s.get(User, expert.id), environment="probe/main", time_limit_s=3600,
            ai_tools=AiTools.none, actor=actor, now=utcnow(),
        )  # fmt: skip
        s.commit()
        return expert, assignment.id


@pytest.fixture
def expert_with_assignment(engine, make_user) -> tuple[User, int]:
    ready_host(engine)
    return _assigned(engine, make_user, "Sam Score")


def _press_start(client: httpx.Client, assignment_id: int) -> int:
    """The expert's Start; the new run's id."""
    started = client.post(
        f"/assignments/{assignment_id}/start",
        data={"csrf_token": csrf_token(client, "/dashboard")},
    )
    assert started.status_code == 303, started.text[:500]
    return int(started.headers["location"].rsplit("/", 1)[1])


def _active(engine, run_id: int) -> Run:
    return _wait(lambda: (r := _get_run(engine, run_id)).status == "active" and r, 60, "the start")


def _stop(client: httpx.Client, engine, run_id: int) -> None:
    client.post(
        f"/runs/{run_id}/stop", data={"csrf_token": csrf_token(client, "/"), "confirm": "yes"}
    )
    _wait(lambda: _get_run(engine, run_id).status in ("finished", "failed"), 60, "stop")


def _write_solution(home: Path, user: str, source: str) -> None:
    path = home / "solution.py"
    path.write_text(source)
    shutil.chown(path, user, user)


def _checkpoints(engine, run_id: int) -> list[Checkpoint]:
    with Session(engine) as s:
        query = select(Checkpoint).where(Checkpoint.run_id == run_id).order_by(Checkpoint.seq)
        return list(s.exec(query))


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")


def test_a_checkpoint_scoring_when_the_portal_dies_is_scored_exactly_once(
    portal, expert_with_assignment, engine
):
    expert, assignment_id = expert_with_assignment
    scratch = Path(task_runs.SCORING)
    before = set(scratch.iterdir()) if scratch.is_dir() else set()
    portal.start()
    client = httpx.Client(base_url=portal.base, timeout=30)
    run_id = None
    try:
        login(client, expert)
        run_id = _press_start(client, assignment_id)
        run = _active(engine, run_id)
        home = Path(run.workspace_path)
        token = (home / ".baseliner" / "token").read_text().strip()
        api = httpx.Client(
            base_url=portal.base, timeout=60, headers={"Authorization": f"Bearer {token}"}
        )
        _write_solution(
            home, run.unix_user, "import time\ndef answer():\n    time.sleep(5)\n    return 0.75\n"
        )
        # Fields the server owns are ignored: the expert cannot set a score or a time.
        made = api.post(
            "/api/v1/task/checkpoints",
            json={"score": 99, "working_s": 1, "submitted_at": "2020-01-01T00:00:00Z"},
        )
        assert made.status_code == 202, made.text
        assert made.json()["seq"] == 1 and 0 <= made.json()["working_s"] < 60
        _wait(
            lambda: _checkpoints(engine, run_id)[0].status == CheckpointStatus.scoring,
            30,
            "scoring to begin",
        )

        portal.kill()  # SIGKILL mid-scoring: no shutdown code runs
        assert _checkpoints(engine, run_id)[0].status == CheckpointStatus.scoring
        portal.start()

        done = _wait(
            lambda: (
                (rows := _checkpoints(engine, run_id))[0].status == CheckpointStatus.scored and rows
            ),
            60,
            "the resumed scoring",
        )
        assert len(done) == 1
        (row,) = done
        assert (row.score, row.valid, row.attempts) == (0.75, True, 1)
        assert row.submitted_at.year == utcnow().year and row.working_s < 600

        # Ten at once: ten numbers, ten scores, in order.
        _write_solution(home, run.unix_user, "def answer():\n    return 1.0\n")
        answers: list[int] = []

        def submit() -> None:
            answer = api.post("/api/v1/task/checkpoints", json={})
            assert answer.status_code == 202, answer.text
            answers.append(answer.json()["seq"])

        threads = [threading.Thread(target=submit) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) == list(range(2, 12))
        rows = _wait(lambda: _all_scored(engine, run_id), 120, "ten scorings")
        assert [r.seq for r in rows] == list(range(1, 12))
        assert all(r.score == 1.0 for r in rows[1:])
        scored = [r.scored_at for r in rows]
        assert scored == sorted(scored)
        # The clock ran again once the queue was empty.
        status = api.get("/api/v1/task/status").json()
        assert status["clock"] == "running" and len(status["recent"]) == 3
    finally:
        # The scoring the kill cut short left its scratch folder (a later scoring sweeps such
        # folders once they are an hour old); other tests count those folders.
        for folder in set(scratch.iterdir()) - before if scratch.is_dir() else ():
            shutil.rmtree(folder, ignore_errors=True)
        if run_id is not None:
            _stop(client, engine, run_id)


def _all_scored(engine, run_id: int) -> list[Checkpoint] | None:
    rows = _checkpoints(engine, run_id)
    return rows if all(r.status == CheckpointStatus.scored for r in rows) else None


def _get_run(engine, run_id: int) -> Run:
    with Session(engine) as s:
        return s.get(Run, run_id)


@pytest.fixture
def ssh_expert_with_assignment(engine, make_user, sshd) -> tuple[User, int]:
    ready_host(engine, "ssh", sshd=sshd)
    return _assigned(engine, make_user, "Tess Tunnel")


def _task(user: str, *args: str) -> subprocess.CompletedProcess:
    """The `task` command as the workspace's user runs it in a terminal."""
    return subprocess.run(
        ["runuser", "-u", user, "--", "env", f"HOME=/home/{user}", f"{task_command.bin_dir()}/task",
         *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_task_command_waits_through_a_portal_restart_over_the_ssh_tunnel(
    portal, ssh_expert_with_assignment, engine
):
    """The tunnel dies with the portal; the new process takes the task-tunnels lease, opens its
    own and points every live workspace's `task` command at it. A `task` call made while the
    portal is down waits (it retries a refused connection) and goes through once it is back."""
    expert, assignment_id = ssh_expert_with_assignment
    portal.start()
    client = httpx.Client(base_url=portal.base, timeout=30)
    run_id = None
    try:
        login(client, expert)
        run_id = _press_start(client, assignment_id)
        run = _active(engine, run_id)
        before = _task(run.unix_user, "status")
        assert before.returncode == 0 and "running" in before.stdout, before.stdout + before.stderr
        url_file = Path(run.workspace_path) / ".baseliner" / "url"
        url = url_file.read_text().strip()
        assert url.startswith("http://127.0.0.1:") and not url.endswith(f":{portal.port}")

        portal.kill()
        waiting: list[subprocess.CompletedProcess] = []
        call = threading.Thread(target=lambda: waiting.append(_task(run.unix_user, "status")))
        call.start()
        time.sleep(3)  # the call is now retrying against the dead tunnel
        portal.start()
        call.join(90)
        (after,) = waiting
        assert after.returncode == 0, after.stdout + after.stderr
        assert "running" in after.stdout
        assert after.stderr == "The portal is not answering; trying again...\n"
        assert url_file.read_text().strip() != url  # a new tunnel, a new port
    finally:
        if run_id is not None:
            _stop(client, engine, run_id)
