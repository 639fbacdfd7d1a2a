"""Start-to-IDE time on the Slurm backend beside the process backend, in one run on this machine:
from ``start`` until code-server answers /healthz (and admits the run's key) on the backend's
endpoint. Each backend is reached both ways a host can be: this machine (the local driver) and
SSH (a real sshd on loopback, the way a GPU host or a cluster's login node is reached). The Slurm
side runs on a real one-node Slurm 22.05 cluster on loopback (tests/slurm.py), idle, so its time
is submission + scheduling + the job script + code-server; the process side starts code-server
as a unix user directly. Starts rotate over the four so load on the machine weighs on all alike;
each workspace is removed before the next start. Prints each start and the medians.

    PYTHONPATH=. .venv/bin/python bench/slurm_start.py [N]   (default 5; as root)
"""

import logging
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fleet import codeserver
from fleet.backends.base import Backend
from fleet.backends.common import WorkspaceSpec
from fleet.backends.process import ProcessBackend, ProcessSettings
from fleet.backends.slurm import SlurmBackend, SlurmSettings
from fleet.drivers.local import LocalDriver
from fleet.drivers.ssh import SSHDriver
from fleet.testing_sshd import start_sshd
from fleet.workspaces import wait_ready
from tests.naming import PREFIX, workspace
from tests.slurm import slurm_cluster

READY_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spec(run_id: int, files: Path) -> WorkspaceSpec:
    return WorkspaceSpec(
        run_id=run_id,
        port=free_port(),
        gpus=[0],
        files=files,
        ai_tools=False,
        cache=str(codeserver.cache_dir()),
        name=workspace(run_id),
        owner=PREFIX,
        ide_key=f"bench-key-{run_id}",
    )


def start_to_ide(backend: Backend, s: WorkspaceSpec) -> float:
    """Seconds from ``start`` until the run's own IDE answers; the workspace is removed after."""
    began = time.perf_counter()
    state = backend.start(s)
    try:
        while backend.queued and not backend.poll(s, state):
            time.sleep(0.05)
        wait_ready(backend.endpoint(s, state), READY_TIMEOUT_S, key=s.ide_key)
        return time.perf_counter() - began
    finally:
        backend.remove(s, state)


def main(n: int) -> None:
    # A forwarder dialled before code-server listens is refused; paramiko says so on stderr.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    scratch = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-bench-slurm-", dir="/tmp"))
    scratch.chmod(0o711)
    files = scratch / "files"
    (files / "solution").mkdir(parents=True)
    (files / "README.md").write_text("# bench task\n")
    work_root = scratch / "work"
    sshd = start_sshd(scratch / "sshd")
    ssh = SSHDriver(
        address=sshd.address,
        port=sshd.port,
        username=sshd.username,
        key_path=str(sshd.key_path),
        host_key=sshd.host_key_line,
    )
    times: dict[str, list[float]] = {}
    try:
        with slurm_cluster(scratch / "logs", gpus=1) as cluster:
            slurm = SlurmSettings(slurm_conf=str(cluster.conf), work_root=str(work_root))
            backends = {
                "process, local": ProcessBackend(LocalDriver(), "root", ProcessSettings()),
                "process, ssh": ProcessBackend(ssh, "root", ProcessSettings()),
                "slurm, local": SlurmBackend(LocalDriver(), "root", slurm),
                "slurm, ssh": SlurmBackend(ssh, "root", slurm),
            }
            run_id = 995_000
            for i in range(n):
                said = []
                for name, backend in backends.items():
                    run_id += 1
                    seconds = start_to_ide(backend, spec(run_id, files))
                    times.setdefault(name, []).append(seconds)
                    said.append(f"{name} {seconds:.2f} s")
                print(f"start {i + 1}: " + ", ".join(said), flush=True)
    finally:
        ssh.close()
        sshd.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    for name, values in times.items():
        print(
            f"{name:16} start-to-IDE median {statistics.median(values):.2f} s"
            f" (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
