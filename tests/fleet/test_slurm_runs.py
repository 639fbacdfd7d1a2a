"""Runs on a Slurm cluster through the portal's own jobs: a start that waits in the queue is
pending with Slurm's reason and no clock, runs once the GPUs free, scores inside its own job and
ends with its job gone; a GPU count the cluster never has is refused at Start; a job cancelled
from outside is a lost workspace whose files are still archived.

The cluster is the real one-node Slurm of tests/slurm.py (one GPU), registered as a host with the
``slurm`` backend on this machine."""

import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from baselines import checkpointing
from baselines.runs import Lease, Run, RunStatus
from baselines.users import Role
from fleet import task_runs, workspaces
from tests.naming import PREFIX
from tests.slurm import SlurmCluster, installed, slurm_cluster
from tests.slurm_host import (
    HOLD,
    SLURM_FAMILIES,
    cancel_all,
    hold_gpus,
    queued,
    slurm_host,
    work_root,
)
from timetracking.utc import utcnow

pytestmark = [
    pytest.mark.host,
    pytest.mark.skipif(
        not installed() or os.geteuid() != 0,
        reason="needs Debian's slurm-wlm and munge (make install) and root",
    ),
]


@pytest.fixture(scope="module")
def module_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    with slurm_cluster(tmp_path_factory.mktemp("slurm"), gpus=1) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def shared_folder() -> Iterator[Path]:
    with work_root() as root:
        yield root


@pytest.fixture
def cluster(module_cluster: SlurmCluster) -> Iterator[SlurmCluster]:
    yield module_cluster
    cancel_all(module_cluster)


@pytest.fixture
def settings(settings):
    settings.environment_dirs = str(SLURM_FAMILIES)
    return settings


@pytest.fixture
def host(engine, cluster: SlurmCluster, shared_folder: Path):
    return slurm_host(engine, cluster, shared_folder)


def _run(engine, run_id: int) -> Run:
    with Session(engine) as s:
        return s.get(Run, run_id)


def _start(app, engine, expert_id: int, environment: str) -> tuple[int, task_runs.TaskLaunch]:
    with Session(engine) as s:
        run = Run(expert_id=expert_id, environment=environment, created_at=utcnow(),
                  time_limit_s=45 * 60)  # fmt: skip
        s.add(run)
        s.commit()
        launch = checkpointing.run_task(s, app.state.settings, run).launch
        run_id = run.id
    app.state.workspaces.start(run_id, launch)
    app.state.workspaces.wait(run_id, timeout=120)
    return run_id, launch


def _until(check, timeout: float = 30.0, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def _advance(app, engine, run_id: int) -> Run:
    """One round of the scheduler's pending job, waited for."""
    app.state.scheduler.pending()
    app.state.workspaces.wait(run_id, timeout=120)
    return _run(engine, run_id)


def test_a_run_waits_for_the_cluster_then_runs_scores_in_its_job_and_stops(
    app, engine, make_user, host, cluster: SlurmCluster
) -> None:
    expert = make_user(Role.expert)
    holder = hold_gpus(cluster)
    run_id, launch = _start(app, engine, expert.id, "slurm_probe/main")

    run = _until(lambda: (r := _advance(app, engine, run_id)).status_reason.endswith(
        "Resources).") and r)  # fmt: skip
    assert run, _run(engine, run_id).status_reason
    assert run.status == RunStatus.pending
    assert (
        run.status_reason
        == "Waiting for the cluster to start the workspace (Slurm says: Resources)."
    )
    assert run.started_at is None  # the clock has not begun
    job_id = run.runtime_state["job_id"]
    [line] = [q for q in queued(cluster) if q.startswith(f"{job_id} ")]
    assert line == f"{job_id} {PREFIX}-run-{run_id} PENDING"
    limit = cluster.run("squeue", "-h", "-j", job_id, "-o", "%l").stdout.strip()
    assert limit == "1:45:00"  # the run's 45 minutes and the hour of slack

    cluster.run("scancel", str(holder))
    run = _until(lambda: (r := _advance(app, engine, run_id)).status != RunStatus.pending and r)
    assert run.status == RunStatus.active, run.status_reason
    assert run.started_at is not None and run.status_reason == ""
    with Session(engine) as s:
        host_row = s.merge(host)
        assert workspaces.alive(app.state.workspaces.connections, run, host_row)
        place = workspaces.task_place(app.state.workspaces.connections, run, host_row)
        backend = app.state.workspaces.connections.backend(host_row)
        installed_family = task_runs.install_for(backend, launch)
        place.root(f"echo 42 > {place.home}/answer.txt")
        result = task_runs.score(place, installed_family, "main", fresh_copy=True)
        # No GPU lease: the cluster's own GPUs, and none of the platform's leases for them.
        kinds = {lease.kind for lease in s.exec(select(Lease).where(Lease.run_id == run_id))}
        assert kinds == {"port"}
    assert result.status == "scored" and result.score == 1.0, result.output
    assert result.details["slurm_job_id"] == job_id  # scored inside the run's own job
    assert result.details["cuda_visible_devices"] != ""

    with Session(engine) as s:
        app.state.workspaces.request_stop(s, s.get(Run, run_id), "test over")
    app.state.workspaces.wait(run_id, timeout=120)
    ended = _run(engine, run_id)
    assert ended.status == RunStatus.finished and not ended.cleanup_pending, ended.cleanup_error
    assert not any(q.startswith(f"{job_id} ") for q in queued(cluster))
    with tarfile.open(ended.archive_path) as tar:
        assert "./answer.txt" in tar.getnames()


def test_a_gpu_count_the_cluster_never_has_is_refused_at_start(
    app, engine, make_user, host, cluster: SlurmCluster
) -> None:
    run_id, _ = _start(app, engine, make_user(Role.expert).id, "slurm_probe/two")
    run = _run(engine, run_id)
    assert run.status == RunStatus.failed
    assert "2 free GPUs" in run.status_reason
    assert queued(cluster) == []


def test_a_stop_while_pending_cancels_the_queued_job(
    app, engine, make_user, host, cluster: SlurmCluster
) -> None:
    hold_gpus(cluster)
    run_id, _ = _start(app, engine, make_user(Role.expert).id, "slurm_probe/main")
    run = _run(engine, run_id)
    assert run.status == RunStatus.pending, run.status_reason
    job_id = run.runtime_state["job_id"]
    with Session(engine) as s:
        app.state.workspaces.request_stop(s, s.get(Run, run_id), "changed my mind")
    app.state.workspaces.wait(run_id, timeout=120)
    ended = _run(engine, run_id)
    assert ended.status == RunStatus.finished and ended.started_at is None
    assert not any(q.startswith(f"{job_id} ") for q in queued(cluster))


def test_a_job_the_cluster_ends_ends_the_run_with_its_reason_and_keeps_the_files(
    app, engine, make_user, host, cluster: SlurmCluster
) -> None:
    run_id, _ = _start(app, engine, make_user(Role.expert).id, "slurm_probe/main")
    run = _run(engine, run_id)
    assert run.status == RunStatus.active, run.status_reason
    cluster.run("scancel", run.runtime_state["job_id"])  # an operator, from outside

    def ending() -> bool:
        app.state.workspaces.find_lost(utcnow())
        return _run(engine, run_id).status != RunStatus.active

    assert _until(ending), "the poll never noticed the job had ended"
    app.state.workspaces.wait(run_id, timeout=120)
    ended = _run(engine, run_id)
    assert ended.status == RunStatus.finished, ended.status_reason
    assert ended.lost_at is None
    assert ended.status_reason.startswith("The cluster ended the workspace: ")
    assert "CANCELLED" in ended.status_reason
    with tarfile.open(ended.archive_path) as tar:  # the folder outlived the job: archived
        assert "./answer.txt" in tar.getnames()


def test_the_host_check_sweeps_only_this_installations_jobs_that_no_run_owns(
    app, engine, make_user, host, cluster: SlurmCluster
) -> None:
    run_id, _ = _start(app, engine, make_user(Role.expert).id, "slurm_probe/main")
    live = _run(engine, run_id)
    assert live.status == RunStatus.active, live.status_reason
    orphan = cluster.sbatch(HOLD, f"--job-name={PREFIX}-run-999999")
    theirs = cluster.sbatch(HOLD, "--job-name=another-installation-run-1")
    check = cluster.sbatch(HOLD, f"--job-name={PREFIX}-check-abc123")
    app.state.scheduler.check_hosts()

    def names() -> set[str]:
        return {line.split()[1] for line in queued(cluster)}

    # A cancelled job is gone from squeue once Slurm has ended it (KillWait).
    assert _until(lambda: f"{PREFIX}-run-999999" not in names(), timeout=15), orphan
    kept = {f"{PREFIX}-run-{run_id}", "another-installation-run-1", f"{PREFIX}-check-abc123"}
    assert kept <= names(), (theirs, check)
    with Session(engine) as s:
        app.state.workspaces.request_stop(s, s.get(Run, run_id), "test over")
    app.state.workspaces.wait(run_id, timeout=120)


def test_a_restarted_portal_reattaches_to_the_running_job(
    app, engine, make_user, host, cluster: SlurmCluster, settings
) -> None:
    """Everything a new portal process needs is in the run's row: it finds the IDE through the
    job's report and runs commands inside the same job."""
    from webapp.app import create_app

    run_id, _ = _start(app, engine, make_user(Role.expert).id, "slurm_probe/main")
    run = _run(engine, run_id)
    assert run.status == RunStatus.active, run.status_reason
    app.state.workspaces.close()  # the first portal process goes away
    again = create_app(settings, migrate=False)
    jobs = again.state.workspaces
    try:
        with Session(engine) as s:
            host_row = s.merge(host)
            assert workspaces.alive(jobs.connections, run, host_row)
            place = workspaces.task_place(jobs.connections, run, host_row)
            said = place.root("echo $SLURM_JOB_ID").stdout.strip()
            assert said == run.runtime_state["job_id"]
            jobs.request_stop(s, s.get(Run, run_id), "test over")
        jobs.wait(run_id, timeout=120)
        assert _run(engine, run_id).status == RunStatus.finished
        assert queued(cluster) == []
    finally:
        jobs.close()
