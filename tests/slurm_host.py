"""A Slurm cluster registered as a host, the way a coordinator would: the real one-node cluster
of tests/slurm.py, reached on this machine (the local driver as its "login node"), its task
folders under a folder workspace users can traverse (the cluster's "shared filesystem")."""

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from fleet import health, hosts
from fleet.connections import Connections
from fleet.hosts import Host, HostCreate, HostStatus
from tests.naming import PREFIX
from tests.slurm import SlurmCluster
from timetracking.utc import utcnow

# The slurm_probe family: scored inside the run's job, it says which job and GPUs it saw.
SLURM_FAMILIES = Path(__file__).resolve().parent / "fleet" / "slurm_families"
HOLD = "#!/bin/bash\nexec sleep 600\n"


@contextmanager
def work_root() -> Iterator[Path]:
    """A folder workspace users can traverse (pytest's tmp folders are root's, 0700)."""
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-slurmwork-", dir="/tmp"))
    root.chmod(0o711)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def slurm_host(engine: Engine, cluster: SlurmCluster, root: Path, name: str = "cluster") -> Host:
    """The cluster as a host record, health-checked; fails unless ready."""
    data = HostCreate(
        name=name,
        driver="local",
        backend="slurm",
        settings={"slurm_conf": str(cluster.conf), "work_root": str(root)},
    )
    with Session(engine) as s:
        host = hosts.add(s, data, "", None, utcnow())
        s.commit()
        connections = Connections(PREFIX)
        health.check(s, host, connections, utcnow())
        connections.close()
        assert host.status == HostStatus.ready, host.status_reason
        s.refresh(host)
        s.expunge(host)
        return host


def hold_gpus(cluster: SlurmCluster) -> int:
    """A job of someone else's that holds every GPU of the cluster until cancelled."""
    job = cluster.sbatch(HOLD, "--job-name=someone-else", f"--gres=gpu:{cluster.gpus}")
    cluster.wait_job(job, {"RUNNING"})
    return job


def queued(cluster: SlurmCluster) -> list[str]:
    """``id name state`` of every job the cluster still knows as queued or running."""
    out = cluster.run("squeue", "-h", "-o", "%i %j %T").stdout
    return [line for line in out.splitlines() if line.strip()]


def cancel_all(cluster: SlurmCluster) -> None:
    cluster.run("scancel", "--partition", cluster.partition)
    deadline = time.monotonic() + 15
    while queued(cluster):
        assert time.monotonic() < deadline, "jobs outlived scancel"
        time.sleep(0.1)
