"""The Slurm backend against a real one-node Slurm 22.05 cluster (tests/slurm.py) through the
local driver: a start waits with Slurm's reason while another job holds the GPUs, then runs
code-server in the job; commands run as steps of the job; stop, an outside scancel, refusals,
a controller restart, sweep, archive, scratch, capacity and health."""

import os
import pwd
import shutil
import socket
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet import codeserver
from fleet.backends.base import Poll
from fleet.backends.common import WorkspaceSpec
from fleet.backends.slurm import SlurmBackend, SlurmSettings
from fleet.drivers.base import HostError
from fleet.drivers.local import LocalDriver
from fleet.task_runs import Installed
from fleet.workspaces import wait_ready
from tests.naming import PREFIX, workspace
from tests.slurm import SlurmCluster, installed, slurm_cluster

pytestmark = pytest.mark.skipif(
    not installed() or os.geteuid() != 0,
    reason="needs Debian's slurm-wlm and munge (make install) and root",
)

GPUS = 2
HOLD = "#!/bin/bash\nexec sleep 600\n"


@pytest.fixture(scope="module")
def module_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    with slurm_cluster(tmp_path_factory.mktemp("slurm"), gpus=GPUS) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def work_root() -> Iterator[Path]:
    """The cluster's "shared filesystem": a folder workspace users can traverse (pytest's own
    tmp folders are root's 0700)."""
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-slurmwork-", dir="/tmp"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cluster(module_cluster: SlurmCluster) -> Iterator[SlurmCluster]:
    yield module_cluster
    module_cluster.run("scancel", "--partition", module_cluster.partition)
    deadline = time.monotonic() + 15
    while module_cluster.run("squeue", "-h", "-o", "%i").stdout.strip():
        assert time.monotonic() < deadline, "jobs outlived scancel"
        time.sleep(0.1)


def make_backend(cluster: SlurmCluster, work_root: Path, **settings: object) -> SlurmBackend:
    options = {"slurm_conf": str(cluster.conf), "work_root": str(work_root), **settings}
    return SlurmBackend(LocalDriver(), "root", SlurmSettings.model_validate(options))


@pytest.fixture
def backend(cluster: SlurmCluster, work_root: Path) -> SlurmBackend:
    return make_backend(cluster, work_root)


@pytest.fixture
def task_files(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    (folder / "solution").mkdir(parents=True)
    (folder / "README.md").write_text("# the task\n")
    (folder / "solution" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_spec(run_id: int, files: Path | None = None, gpus: int = 1) -> WorkspaceSpec:
    return WorkspaceSpec(
        run_id=run_id,
        port=free_port(),
        gpus=list(range(gpus)),
        files=files,
        ai_tools=False,
        cache=str(codeserver.cache_dir()),
        name=workspace(run_id),
        owner=PREFIX,
        ide_key=f"key-of-run-{run_id}",
        time_limit_min=30,
    )


def wait_poll(backend: SlurmBackend, spec: WorkspaceSpec, state: dict, want, timeout=30) -> Poll:
    """Poll until ``want(poll)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        poll = backend.poll(spec, state)
        if want(poll):
            return poll
        assert time.monotonic() < deadline, f"still {poll} after {timeout}s"
        time.sleep(0.2)


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def queued(cluster: SlurmCluster) -> list[str]:
    return cluster.run("squeue", "-h", "-o", "%j").stdout.split()


def test_a_workspace_waits_for_the_gpus_runs_its_ide_and_steps_in_its_job(
    backend: SlurmBackend, cluster: SlurmCluster, task_files: Path, tmp_path: Path
) -> None:
    holder = cluster.sbatch(HOLD, "--job-name=someone-else", "--gres=gpu:2", "--output=/dev/null")
    cluster.wait_job(holder, {"RUNNING"})
    spec = make_spec(991_001, task_files)
    state = backend.start(spec)
    folder = backend.folder(spec)
    try:
        assert set(state) == {"job_id", "dir", "home"} and state["home"] == folder
        assert wait_poll(backend, spec, state, lambda p: p.reason == "Resources", 10) == Poll(
            "pending", "Resources"
        )
        time.sleep(1.5)  # scheduler passes run every second: it still waits after them
        assert backend.poll(spec, state) == Poll("pending", "Resources")
        assert not backend.poll(spec, state)
        assert backend.gone(spec, state) == ""
        with pytest.raises(HostError, match="not started its IDE"):
            backend.endpoint(spec, state)
        job = cluster.run("squeue", "-h", "-j", state["job_id"], "-o", "%j|%l|%b|%u").stdout
        assert job.strip() == f"{spec.name}|1:30:00|gres:gpu:1|root"  # limit 30 + slack 60

        cluster.run("scancel", str(holder))
        wait_poll(backend, spec, state, bool, 30)
        seconds = wait_ready(backend.endpoint(spec, state), 90, key=spec.ide_key)
        assert seconds < 90

        # Commands are steps of the job: its id, its GPU, the workspace's home.
        out = backend.exec(spec, state, 'echo "$SLURM_JOB_ID|$CUDA_VISIBLE_DEVICES|$HOME|$(pwd)"')
        job_id, cuda, home, cwd = out.stdout.strip().split("|")
        assert (job_id, home, cwd) == (state["job_id"], folder, folder)
        assert cuda in {"0", "1"}
        who = backend.exec(spec, state, "id -un; touch made-inside", as_user=True)
        assert who.stdout.strip() == spec.unix_user
        assert (Path(folder) / "made-inside").stat().st_uid == pwd.getpwnam(spec.name).pw_uid
        # stdin reaches the step, and the exit status comes back
        fed = backend.place(spec, state).root("cat; exit 3", input=b"fed\n", check=False)
        assert (fed.stdout, fed.exit_status) == ("fed\n", 3)
        # bytes stream out of the step unchanged (snapshots are tars streamed so)
        blob = os.urandom(300_000)
        (Path(folder) / "blob.bin").write_bytes(blob)
        out_file = tmp_path / "blob.out"
        place = backend.place(spec, state)
        assert place.root_to_file("cat blob.bin", out_file) == len(blob)
        assert out_file.read_bytes() == blob
        # The IDE runs as the workspace's user, a process of the job.
        ide = backend.exec(spec, state, f"pgrep -u {spec.unix_user} -f code-server")
        assert ide.stdout.split()

        backend.stop(spec, state)
        assert queued(cluster) == []
        assert backend.poll(spec, state) == Poll("stopped", "stopped by Baseliner")
        assert backend.gone(spec, state) == ""
        backend.stop(spec, state)  # twice is fine

        archive = tmp_path / "out" / "run.tar.gz"
        assert backend.archive(spec, state, archive) == archive.stat().st_size > 0
        with tarfile.open(archive) as tar:
            names = set(tar.getnames())
        assert {"./README.md", "./solution/run.sh", "./made-inside"} <= names
        assert not any(n.startswith("./.local") for n in names)

        # Restart: a new job on the same folder.
        new = backend.restart(spec, state)
        assert new["job_id"] != state["job_id"] and new["home"] == folder
        wait_poll(backend, spec, new, bool, 30)
        wait_ready(backend.endpoint(spec, new), 90, key=spec.ide_key)
        assert (Path(folder) / "made-inside").exists()
        state = new
    finally:
        backend.remove(spec, state)
    assert queued(cluster) == []
    assert not user_exists(spec.name)
    assert not Path(folder).exists() and not Path(backend.control(spec.name)).exists()


def test_a_job_cancelled_outside_is_gone_with_slurms_reason(
    backend: SlurmBackend, cluster: SlurmCluster
) -> None:
    spec = make_spec(991_002, gpus=0)
    state = backend.start(spec)
    try:
        wait_poll(
            backend,
            spec,
            state,
            lambda p: p.state in {"running", "pending"} and "start" not in p.reason,
        )
        cluster.run("scancel", state["job_id"])
        poll = wait_poll(
            backend, spec, state, lambda p: p.state != "running" and p.state != "pending"
        )
        assert poll.state == "gone"
        assert "CANCELLED" in poll.reason and "outside Baseliner" in poll.reason
        assert backend.gone(spec, state) == poll.reason
        with pytest.raises(HostError):
            backend.endpoint(spec, {**state, "job_id": "0"})
        # A job the controller has forgotten, on a cluster without accounting.
        forgotten = backend.poll(spec, {"job_id": "999999"})
        assert forgotten.state == "gone" and "no longer knows why" in forgotten.reason
    finally:
        backend.remove(spec, state)
    assert not user_exists(spec.name)


@pytest.mark.parametrize(
    ("settings", "gpus", "said"),
    [
        ({"partition": "nosuch"}, 1, "Invalid partition name specified"),
        ({}, GPUS + 1, "Requested node configuration is not available"),
    ],
)
def test_what_the_cluster_can_never_run_is_refused_at_start_leaving_nothing(
    cluster: SlurmCluster, work_root: Path, settings: dict, gpus: int, said: str
) -> None:
    backend = make_backend(cluster, work_root, **settings)
    spec = make_spec(991_003, gpus=gpus)
    with pytest.raises(HostError, match=f"Slurm refused the job: .*{said}"):
        backend.start(spec)
    assert queued(cluster) == []
    assert not user_exists(spec.name)
    assert not Path(backend.folder(spec)).exists()
    assert not Path(backend.control(spec.name)).exists()


def test_a_running_workspace_survives_a_controller_restart(
    backend: SlurmBackend, cluster: SlurmCluster
) -> None:
    spec = make_spec(991_004)
    state = backend.start(spec)
    try:
        wait_poll(backend, spec, state, bool, 30)
        wait_ready(backend.endpoint(spec, state), 90, key=spec.ide_key)

        cluster.restart_controller()

        assert backend.poll(spec, state) == Poll("running")
        wait_ready(backend.endpoint(spec, state), 10, key=spec.ide_key)
        out = backend.exec(spec, state, "echo $SLURM_JOB_ID", timeout=30)
        assert out.stdout.strip() == state["job_id"]
    finally:
        backend.remove(spec, state)


def test_an_unanswering_controller_is_a_host_error_not_a_loss(
    cluster: SlurmCluster, work_root: Path, tmp_path: Path
) -> None:
    conf = tmp_path / "slurm.conf"
    text = cluster.conf.read_text()  # a port nothing listens on; clients give up sooner
    text = text.replace(f"SlurmctldPort={cluster.ports[0]}", f"SlurmctldPort={free_port()}")
    conf.write_text(text.replace("MessageTimeout=10", "MessageTimeout=2"))
    backend = make_backend(cluster, work_root, slurm_conf=str(conf))
    spec = make_spec(991_005, gpus=0)
    with pytest.raises(HostError, match="does not answer"):
        backend.poll(spec, {"job_id": "1"})
    problems = backend.health()
    assert len(problems) == 1 and "does not answer" in problems[0]
    with pytest.raises(HostError, match="controller does not answer"):
        backend.start(spec)
    assert not user_exists(spec.name) and not Path(backend.folder(spec)).exists()


def test_sweep_cancels_only_this_installations_unowned_jobs(
    backend: SlurmBackend, cluster: SlurmCluster
) -> None:
    kept, stray, other = workspace(7), workspace(8), "blother-run-9"
    for name in (kept, stray, other):
        cluster.sbatch(HOLD, f"--job-name={name}", "--output=/dev/null", "--time=5")
    assert backend.sweep(PREFIX, {kept}) == [stray]
    deadline = time.monotonic() + 10
    while stray in queued(cluster):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert sorted(queued(cluster)) == sorted([kept, other])


def test_scratch_is_a_job_of_its_own_removed_on_exit(
    backend: SlurmBackend, cluster: SlurmCluster
) -> None:
    name = f"{PREFIX}-check-abc123"
    installed = Installed(root="/nowhere", name="family", gid=0)
    with backend.scratch(name, installed, [0], agent_user=False, owner=PREFIX) as place:
        out = place.root('echo "$SLURM_JOB_ID $CUDA_VISIBLE_DEVICES $USER $HOME"')
        job_id, cuda, user, home = out.stdout.split()
        assert queued(cluster) == [name] and job_id.isdigit() and cuda in {"0", "1"}
        assert (user, home) == (name, backend.folder(place_spec(name)))
    assert queued(cluster) == []
    assert not user_exists(name) and not Path(home).exists()


def place_spec(name: str) -> WorkspaceSpec:
    return WorkspaceSpec(run_id=0, port=0, gpus=[], files=None, ai_tools=False, cache="", name=name)


def test_capacity_and_health(backend: SlurmBackend, cluster: SlurmCluster, work_root: Path) -> None:
    assert backend.capacity().max_gpus == GPUS and not backend.capacity().leased
    assert backend.health() == []
    elsewhere = make_backend(cluster, work_root, partition="nosuch")
    assert elsewhere.health() == [
        f"the cluster has no partition nosuch (it has: {cluster.partition})"
    ]
    cluster.run("scontrol", "update", "nodename=localhost", "state=drain", "reason=test")
    try:
        problems = backend.health()
        assert len(problems) == 1 and "no node of the partition is up (drained)" in problems[0]
    finally:
        cluster.run("scontrol", "update", "nodename=localhost", "state=resume")
