"""Start-to-IDE time on the Slurm backend beside the process backend, in one run on this machine:
from ``start`` until code-server answers /healthz (and admits the run's key) on the backend's
endpoint. The Slurm side runs on a real one-node Slurm 22.05 cluster on loopback (tests/slurm.py),
idle, so the time is submission + scheduling + the job script + code-server; the process side
starts code-server as a unix user directly. Both through the local driver, as root. Starts
alternate between the two so load on the machine weighs on both alike; each workspace is removed
before the next start. Prints each start and the medians.

    .venv/bin/python bench/slurm_start.py [N]   (default 5)
"""

import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fleet import codeserver
from fleet.backends.common import WorkspaceSpec
from fleet.backends.process import ProcessRuntime
from fleet.backends.slurm import SlurmBackend, SlurmSettings
from fleet.drivers.local import LocalDriver
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


def slurm_once(backend: SlurmBackend, s: WorkspaceSpec) -> float:
    began = time.perf_counter()
    state = backend.start(s)
    try:
        while not backend.poll(s, state):
            time.sleep(0.05)
        wait_ready(backend.endpoint(s, state), READY_TIMEOUT_S, key=s.ide_key)
        return time.perf_counter() - began
    finally:
        backend.remove(s, state)


def process_once(runtime: ProcessRuntime, s: WorkspaceSpec) -> float:
    began = time.perf_counter()
    state = runtime.start(s)
    try:
        wait_ready(runtime.driver.endpoint(s.port), READY_TIMEOUT_S, key=s.ide_key)
        return time.perf_counter() - began
    finally:
        runtime.remove(s, state)


def main(n: int) -> None:
    scratch = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-bench-slurm-", dir="/tmp"))
    scratch.chmod(0o711)
    files = scratch / "files"
    (files / "solution").mkdir(parents=True)
    (files / "README.md").write_text("# bench task\n")
    work_root = scratch / "work"
    driver = LocalDriver()
    times: dict[str, list[float]] = {"slurm": [], "process": []}
    try:
        with slurm_cluster(scratch / "logs", gpus=1) as cluster:
            settings = SlurmSettings(slurm_conf=str(cluster.conf), work_root=str(work_root))
            backend = SlurmBackend(driver, "root", settings)
            runtime = ProcessRuntime(driver, "root")
            for i in range(n):
                s = slurm_once(backend, spec(995_000 + 2 * i, files))
                p = process_once(runtime, spec(995_001 + 2 * i, files))
                times["slurm"].append(s)
                times["process"].append(p)
                print(f"start {i + 1}: slurm {s:.2f} s, process {p:.2f} s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for name, values in times.items():
        print(
            f"{name:8} start-to-IDE median {statistics.median(values):.2f} s"
            f" (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
