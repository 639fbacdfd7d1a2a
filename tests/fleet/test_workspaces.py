"""A run's workspace on a real host (this machine, the local driver): real unix users, real
code-server, real files; failures roll back; GPUs and ports are never shared."""

import os
import pwd
import threading
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from baselines.runs import Lease, Run, RunStatus
from baselines.users import Role
from fleet import allocation, health, hosts
from fleet.hosts import Host, HostCreate, HostStatus
from tests.naming import PREFIX, workspace
from timetracking.utc import utcnow
from webapp.workspace_jobs import WorkspaceJobs

pytestmark = [
    pytest.mark.host,
    pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users"),
]


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture
def local_host(engine) -> Host:
    with Session(engine) as s:
        host = hosts.add(s, HostCreate(name="local", driver="local"), "", None, utcnow())
        s.commit()
        jobs_connections = WorkspaceJobs(engine, Path("/tmp"), PREFIX).connections
        health.check(s, host, jobs_connections, utcnow())
        jobs_connections.close()
        s.refresh(host)
        s.expunge(host)
        return host


@pytest.fixture
def jobs(engine, tmp_path):
    jobs = WorkspaceJobs(engine, tmp_path / "data", PREFIX)
    yield jobs
    jobs.close()


@pytest.fixture
def task_files(tmp_path) -> Path:
    folder = tmp_path / "files"
    (folder / "solution").mkdir(parents=True)
    (folder / "README.md").write_text("# the task\n")
    (folder / "solution" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (folder / "solution" / "run.sh").chmod(0o755)
    return folder


def _new_run(engine, make_user, ai_tools="NO_AI_TOOLS") -> int:
    expert = make_user(Role.expert)
    with Session(engine) as s:
        run = Run(
            expert_id=expert.id, environment="demo/main", ai_tools=ai_tools, created_at=utcnow()
        )
        s.add(run)
        s.commit()
        return run.id


def _run(engine, run_id) -> Run:
    with Session(engine) as s:
        return s.get(Run, run_id)


def test_local_host_is_ready_with_code_server(local_host):
    assert local_host.status == HostStatus.ready, local_host.status_reason
    assert local_host.disk_free_gb and local_host.disk_free_gb > 0


def test_start_then_stop_archives_and_removes_everything(
    engine, make_user, local_host, jobs, task_files, tmp_path
):
    run_id = _new_run(engine, make_user)
    jobs.start(run_id, files=task_files)
    jobs.wait(run_id, timeout=90)
    run = _run(engine, run_id)
    assert run.status == RunStatus.active, run.status_reason
    user = workspace(run_id)
    home = Path(f"/home/{user}")
    assert _user_exists(user)
    assert (home / "solution" / "run.sh").stat().st_mode & 0o777 == 0o755
    assert home.stat().st_mode & 0o777 == 0o700
    assert home.stat().st_uid == pwd.getpwnam(user).pw_uid
    settings = (home / ".local/share/code-server/User/settings.json").read_text()
    assert '"chat.disableAIFeatures": true' in settings
    health_answer = httpx.get(f"http://127.0.0.1:{run.port}/healthz", timeout=5).json()
    assert health_answer["status"] in ("alive", "expired")
    with Session(engine) as s:
        leases = s.exec(select(Lease).where(Lease.run_id == run_id)).all()
        assert [(lease.kind, lease.value) for lease in leases] == [("port", run.port)]

    jobs.stop(run_id, reason="done")
    jobs.wait(run_id, timeout=60)
    run = _run(engine, run_id)
    assert run.status == RunStatus.finished
    assert Path(run.archive_path).stat().st_size > 0
    assert not _user_exists(user) and not home.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{run.port}/healthz", timeout=2)
    with Session(engine) as s:
        assert s.exec(select(Lease).where(Lease.run_id == run_id)).all() == []
    import tarfile

    with tarfile.open(run.archive_path) as tar:
        names = tar.getnames()
    assert "./README.md" in names and "./solution/run.sh" in names
    assert not any(n.startswith("./.local") for n in names)


def test_a_failed_start_rolls_back_and_says_why(engine, make_user, local_host, jobs, tmp_path):
    run_id = _new_run(engine, make_user)
    jobs.start(run_id, files=tmp_path / "no-such-folder")
    jobs.wait(run_id, timeout=60)
    run = _run(engine, run_id)
    assert run.status == RunStatus.failed
    assert run.status_reason
    assert not _user_exists(workspace(run_id))
    assert not Path(f"/home/{workspace(run_id)}").exists()
    with Session(engine) as s:
        assert s.exec(select(Lease).where(Lease.run_id == run_id)).all() == []


def test_no_ready_host_is_a_clear_failure(engine, make_user, local_host, jobs, task_files):
    with Session(engine) as s:
        host = s.get(Host, local_host.id)
        hosts.set_draining(s, host, True, None, utcnow())
        s.commit()
    run_id = _new_run(engine, make_user)
    jobs.start(run_id, files=task_files)
    jobs.wait(run_id, timeout=30)
    run = _run(engine, run_id)
    assert run.status == RunStatus.failed
    assert "No ready host has room for a workspace" in run.status_reason
    gpu_run = _new_run(engine, make_user)
    with Session(engine) as s:
        host = s.get(Host, local_host.id)
        hosts.set_draining(s, host, False, None, utcnow())
        # The fleet has a GPU host, down: a GPU task waits for it rather than taking a CPU.
        gpu_box = hosts.add(s, HostCreate(name="gpu-box", driver="local"), "", None, utcnow())
        gpu_box.gpus = [{"index": 0, "name": "H100", "memory_mb": 81559}]
        s.add(gpu_box)
        s.commit()
    jobs.start(gpu_run, files=task_files, gpu_count=1)
    jobs.wait(gpu_run, timeout=30)
    assert "No ready host has 1 free GPU" in _run(engine, gpu_run).status_reason


def test_a_gpu_less_fleet_runs_gpu_tasks_on_the_cpu(engine, make_user, local_host):
    """The embedded default (no GPU anywhere): a GPU task is placed without GPUs, flagged, so
    its scores are marked not comparable."""
    run_id = _new_run(engine, make_user)
    with Session(engine) as s:
        run = s.get(Run, run_id)
        placement = allocation.place(s, run, 1)
        assert placement.gpus == [] and placement.host.id == local_host.id
        assert s.get(Run, run_id).cpu_mode is True
        allocation.release(s, run_id)
        s.commit()


def test_concurrent_placements_never_share_a_gpu_or_port(engine, make_user):
    with Session(engine) as s:
        host = hosts.add(s, HostCreate(name="gpu-box", driver="local"), "", None, utcnow())
        host.status = HostStatus.ready
        host.gpus = [{"index": i, "name": "H100", "memory_mb": 81559} for i in range(4)]
        s.add(host)
        s.commit()
    run_ids = [_new_run(engine, make_user) for _ in range(6)]
    results: dict[int, object] = {}

    def place(run_id: int) -> None:
        with Session(engine) as s:
            try:
                results[run_id] = allocation.place(s, s.get(Run, run_id), 2)
            except allocation.NoCapacity as exc:
                results[run_id] = exc

    threads = [threading.Thread(target=place, args=(r,)) for r in run_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    placed = [r for r in results.values() if isinstance(r, allocation.Placement)]
    refused = [r for r in results.values() if isinstance(r, allocation.NoCapacity)]
    assert len(placed) == 2 and len(refused) == 4
    gpus = [g for p in placed for g in p.gpus]
    assert sorted(gpus) == [0, 1, 2, 3]
    assert len({p.port for p in placed}) == 2


def test_restart_relaunches_the_ide_and_keeps_the_files(
    engine, make_user, local_host, jobs, task_files
):
    run_id = _new_run(engine, make_user)
    jobs.start(run_id, files=task_files)
    jobs.wait(run_id, timeout=90)
    before = _run(engine, run_id)
    assert before.status == RunStatus.active, before.status_reason
    home = Path(f"/home/{workspace(run_id)}")
    (home / "work.txt").write_text("unsaved thoughts\n")
    jobs.restart(run_id)
    jobs.wait(run_id, timeout=90)
    after = _run(engine, run_id)
    assert after.status == RunStatus.active and after.status_reason == ""
    assert after.runtime_state["pid"] != before.runtime_state["pid"]
    assert after.port == before.port
    assert (home / "work.txt").read_text() == "unsaved thoughts\n"
    assert httpx.get(f"http://127.0.0.1:{after.port}/healthz", timeout=5).status_code == 200
    jobs.stop(run_id)
    jobs.wait(run_id, timeout=60)


def _launch(folder: Path, name: str, task: str, gpus: int, from_home: bool):
    from environments.catalogue import discover
    from fleet.task_runs import TaskLaunch

    family = next(f for f in discover(str(folder)).families if f.name == name)
    return TaskLaunch(family, task, gpus, from_home, ("reference/",))


def test_a_run_starts_its_task_in_the_workspace(engine, make_user, local_host, jobs):
    """triton_cumsum on this GPU-less machine: the family's start fills the task folder (owned by
    the run's user), its instructions are written there, and the run is flagged CPU mode."""
    launch = _launch(Path(__file__).resolve().parents[2] / "environments", "triton_cumsum",
                     "main", 1, True)  # fmt: skip
    run_id = _new_run(engine, make_user)
    jobs.start(run_id, launch=launch)
    jobs.wait(run_id, timeout=120)
    run = _run(engine, run_id)
    assert run.status == RunStatus.active, run.status_reason
    assert run.cpu_mode is True and run.gpu_indices == []
    home = Path(run.workspace_path)
    solution = home / "solution" / "solution.py"
    assert "def prefix_sum" in solution.read_text()
    assert pwd.getpwuid(solution.stat().st_uid).pw_name == run.unix_user
    assert "prefix_sum" in (home / "INSTRUCTIONS.md").read_text()
    assert not (home / "reference").exists() and not (home / "scoring").exists()
    jobs.stop(run_id)
    jobs.wait(run_id, timeout=60)
    assert not _user_exists(run.unix_user)


def test_a_metr_format_task_gets_the_user_agent_one_run_per_host(
    engine, make_user, local_host, jobs
):
    launch = _launch(Path(__file__).resolve().parents[1] / "environments" / "families",
                     "count_words", "short", 0, False)  # fmt: skip
    first, second = _new_run(engine, make_user), _new_run(engine, make_user)
    jobs.start(first, launch=launch)
    jobs.wait(first, timeout=120)
    run = _run(engine, first)
    assert run.status == RunStatus.active, run.status_reason
    assert (run.unix_user, run.workspace_path) == ("agent", "/home/agent")
    assert Path("/home/agent/answer.txt").read_text() == "0\n"
    assert pwd.getpwuid(Path("/home/agent/text.txt").stat().st_uid).pw_name == "agent"
    # The host's one user agent is taken: a second such run waits for another host.
    jobs.start(second, launch=launch)
    jobs.wait(second, timeout=60)
    assert "No ready host" in _run(engine, second).status_reason
    jobs.stop(first)
    jobs.wait(first, timeout=60)
    assert not _user_exists("agent") and not Path("/home/agent").exists()
