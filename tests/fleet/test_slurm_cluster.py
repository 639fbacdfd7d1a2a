"""The test Slurm cluster (tests/slurm.py) is real and usable the way the Slurm backend will use
it: ``sbatch --parsable`` with GPUs and a time limit, a job script reporting its node, GPUs and a
port, ``squeue`` states and pending reasons, ``srun --overlap`` inside a running job's
allocation, ``scancel``, refusals at submission, and a controller restart under a running job."""

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.naming import PREFIX
from tests.slurm import SlurmCluster, _leftovers, installed, slurm_cluster

pytestmark = pytest.mark.skipif(
    not installed() or os.geteuid() != 0,
    reason="needs Debian's slurm-wlm and munge (make install) and root",
)

GPUS = 2

# What the backend's job script will do, in small: report where it runs and on which port,
# then serve there (code-server in the real one) until cancelled.
SERVE = """#!/bin/bash
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
echo "$SLURMD_NODENAME $SLURM_JOB_GPUS $CUDA_VISIBLE_DEVICES $port $$" > {report}.tmp
mv {report}.tmp {report}
exec python3 -m http.server "$port" --bind 127.0.0.1 --directory {folder}
"""
HOLD = "#!/bin/bash\nexec sleep 600\n"


@pytest.fixture(scope="module")
def module_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """One cluster for the module: starting one takes about a second, each test ends its jobs."""
    with slurm_cluster(tmp_path_factory.mktemp("slurm"), gpus=GPUS) as cluster:
        yield cluster


@pytest.fixture
def cluster(module_cluster: SlurmCluster) -> Iterator[SlurmCluster]:
    yield module_cluster
    module_cluster.run("scancel", "--partition", module_cluster.partition)
    deadline = time.monotonic() + 15
    while module_cluster.run("squeue", "-h", "-o", "%i").stdout.strip():
        assert time.monotonic() < deadline, "jobs outlived scancel"
        time.sleep(0.1)


def job_options(name: str, *extra: str) -> list[str]:
    """What the backend will pass: a job name with the installation prefix, a time limit."""
    return [f"--job-name={PREFIX}-{name}", "--time=10", "--output=/dev/null", *extra]


def submit_server(cluster: SlurmCluster, folder: Path, gpus: int = 1) -> tuple[int, list[str]]:
    """Submit SERVE and wait for its report: ``(job id, [node, job gpus, cuda devices, port,
    pid])``."""
    report = folder / "report"
    script = SERVE.format(report=report, folder=folder)
    job_id = cluster.sbatch(script, *job_options("serve", f"--gres=gpu:{gpus}"))
    deadline = time.monotonic() + 20
    while not report.exists():
        assert time.monotonic() < deadline, f"no report; job {cluster.job(job_id)}"
        time.sleep(0.05)
    return job_id, report.read_text().split()


def wait_listening(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on {port}"
            time.sleep(0.05)


def test_a_batch_job_runs_with_its_gpus_and_serves_on_its_port(
    cluster: SlurmCluster, tmp_path: Path
) -> None:
    (tmp_path / "hello.txt").write_text("from the job's node")
    job_id, (node, job_gpus, cuda, port, _pid) = submit_server(cluster, tmp_path)

    assert cluster.job(job_id) == ("RUNNING", "localhost")
    assert node == "localhost"
    assert job_gpus == cuda and job_gpus in {"0", "1"}
    wait_listening(int(port))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=5) as response:
        assert response.read() == b"from the job's node"
    name = cluster.run("squeue", "-h", "-j", str(job_id), "-o", "%j %l %b").stdout.split()
    assert name == [f"{PREFIX}-serve", "10:00", "gres:gpu:1"]


def test_jobs_beyond_the_gpus_wait_with_a_reason_until_they_free(
    cluster: SlurmCluster, tmp_path: Path
) -> None:
    holder = cluster.sbatch(HOLD, *job_options("holder", f"--gres=gpu:{GPUS}"))
    cluster.wait_job(holder, {"RUNNING"})
    second = cluster.sbatch(HOLD, *job_options("second", "--gres=gpu:1"))
    third = cluster.sbatch(HOLD, *job_options("third", "--gres=gpu:1"))
    waiting = {("PENDING", "(Resources)"), ("PENDING", "(Priority)")}
    assert cluster.wait_job(second, waiting, timeout=5) == ("PENDING", "(Resources)")
    assert cluster.wait_job(third, waiting, timeout=5) in waiting
    time.sleep(1.5)  # scheduler passes run every second: still pending after them
    assert cluster.job(holder) == ("RUNNING", "localhost")
    assert cluster.job(second) == ("PENDING", "(Resources)")
    assert cluster.job(third) in waiting

    cluster.run("scancel", str(holder))
    cluster.wait_job(second, {"RUNNING"})
    if cluster.cpus >= 3:  # each job holds a core (CR_Core): the third also needs one
        cluster.wait_job(third, {"RUNNING"})
        gpus = cluster.run("squeue", "-h", "-t", "R", "-o", "%i", "-j", f"{second},{third}")
        assert len(gpus.stdout.split()) == 2


def test_srun_overlap_runs_inside_the_jobs_allocation(
    cluster: SlurmCluster, tmp_path: Path
) -> None:
    job_id, (_node, job_gpus, _cuda, _port, _pid) = submit_server(cluster, tmp_path)

    step = cluster.run(
        "srun", "--jobid", str(job_id), "--overlap", "bash", "-c",
        'echo "$SLURM_JOB_ID $SLURMD_NODENAME $SLURM_STEP_GPUS $CUDA_VISIBLE_DEVICES"; cat',
        input="standard input reaches the step\n",
    )  # fmt: skip
    lines = step.stdout.splitlines()
    assert lines == [f"{job_id} localhost {job_gpus} {job_gpus}", "standard input reaches the step"]
    failed = cluster.run(
        "srun", "--jobid", str(job_id), "--overlap", "bash", "-c", "echo no >&2; exit 3",
        check=False,
    )  # fmt: skip
    assert failed.returncode == 3 and "no" in failed.stderr
    assert cluster.job(job_id) == ("RUNNING", "localhost")  # a failing step leaves the job be


def test_scancel_ends_the_job_and_its_processes(cluster: SlurmCluster, tmp_path: Path) -> None:
    job_id, (*_, port, pid) = submit_server(cluster, tmp_path)
    wait_listening(int(port))

    cluster.run("scancel", str(job_id))
    assert cluster.wait_job(job_id, {None}, timeout=10) is None
    assert not Path(f"/proc/{pid}").exists() or _zombie(int(pid))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()


def _zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_steps_in_a_job_belong_to_its_owner(cluster: SlurmCluster) -> None:
    """Why the backend submits as root and drops to the workspace user inside the job: root
    cannot start a step in another user's job, and the owner's steps run as the owner."""
    as_nobody = ["runuser", "-u", "nobody", "--"]
    sbatch = ["sbatch", "--parsable", "--chdir=/tmp", *job_options("theirs", "--gres=gpu:1")]
    submitted = subprocess.run(
        [*as_nobody, *sbatch],
        input=HOLD, env=cluster.env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    theirs = int(submitted.stdout)
    cluster.wait_job(theirs, {"RUNNING"})
    assert cluster.run("squeue", "-h", "-j", str(theirs), "-o", "%u").stdout.strip() == "nobody"
    refused = cluster.run("srun", "--jobid", str(theirs), "--overlap", "id", check=False)
    assert "Access/permission denied" in refused.stderr
    owners_step = subprocess.run(
        [*as_nobody, "srun", "--jobid", str(theirs), "--overlap", "id", "-un"],
        env=cluster.env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert owners_step.stdout.strip() == "nobody"

    ours = cluster.sbatch(HOLD, *job_options("ours", "--gres=gpu:1"))
    cluster.wait_job(ours, {"RUNNING"})
    as_root = cluster.run("srun", "--jobid", str(ours), "--overlap", "id", "-un")
    as_user = cluster.run("srun", "--jobid", str(ours), "--overlap", *as_nobody, "id", "-un")
    assert (as_root.stdout.strip(), as_user.stdout.strip()) == ("root", "nobody")


def test_what_the_cluster_can_never_run_is_refused_at_submission(cluster: SlurmCluster) -> None:
    too_many = cluster.run(
        "sbatch", "--parsable", *job_options("too-many", f"--gres=gpu:{GPUS + 1}"),
        input=HOLD, check=False,
    )  # fmt: skip
    assert too_many.returncode == 1
    assert "Requested node configuration is not available" in too_many.stderr
    no_partition = cluster.run(
        "sbatch", "--parsable", *job_options("nowhere", "--partition=nosuch"),
        input=HOLD, check=False,
    )  # fmt: skip
    assert no_partition.returncode == 1
    assert "Invalid partition name specified" in no_partition.stderr
    assert cluster.run("squeue", "-h").stdout == ""


def test_a_running_job_survives_a_controller_restart(cluster: SlurmCluster, tmp_path: Path) -> None:
    job_id, (*_, port, pid) = submit_server(cluster, tmp_path)
    waiting = cluster.sbatch(HOLD, *job_options("waiting", f"--gres=gpu:{GPUS}"))
    cluster.wait_job(waiting, {("PENDING", "(Resources)")}, timeout=5)

    cluster.restart_controller()

    assert cluster.job(job_id) == ("RUNNING", "localhost")
    assert cluster.job(waiting) == ("PENDING", "(Resources)")
    assert Path(f"/proc/{pid}").exists()
    wait_listening(int(port))
    step = cluster.run("srun", "--jobid", str(job_id), "--overlap", "printenv", "SLURM_JOB_ID")
    assert step.stdout.strip() == str(job_id)
    cluster.run("scancel", str(job_id))
    assert cluster.wait_job(job_id, {None}, timeout=10) is None
    cluster.wait_job(waiting, {"RUNNING"})  # the restarted controller schedules as before


def test_two_clusters_side_by_side_and_nothing_left_behind(
    module_cluster: SlurmCluster, tmp_path: Path
) -> None:
    with slurm_cluster(tmp_path, gpus=1) as other:
        assert other.name != module_cluster.name
        assert set(other.ports).isdisjoint(module_cluster.ports)
        job_id = other.sbatch(HOLD, *job_options("left-running", "--gres=gpu:1"))
        other.wait_job(job_id, {"RUNNING"})
        assert other.run("squeue", "-h", "-o", "%j").stdout.split() == [f"{PREFIX}-left-running"]
        assert module_cluster.run("squeue", "-h", "-o", "%j").stdout.split() == []
        root, conf = other.root, other.conf
        assert _leftovers(root, conf)

    assert _leftovers(root, conf) == []
    assert not root.exists()
    assert "slurmctld version 22.05" in (tmp_path / "slurm-logs" / "slurmctld.log").read_text()
    for port in other.ports:
        with socket.socket() as s:  # its daemons let go of their ports (TIME_WAIT aside)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", port))
            s.listen()
    assert module_cluster.run("sinfo", "-h", "-o", "%T").stdout.strip() == "idle"
