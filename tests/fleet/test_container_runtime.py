"""The container runtime on this machine's podman, through both drivers: code-server answers from
inside the container, the task folder is the agent's home, stop/archive/remove leave nothing
behind, and a failed start rolls back. GPU flags are checked as command lines (no GPU here)."""

import os
import socket
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet import codeserver
from fleet.backends.common import WorkspaceSpec
from fleet.backends.container import WORKSPACES, ContainerBackend, ContainerSettings, gpu_args
from fleet.drivers.base import HostError
from fleet.drivers.local import LocalDriver
from fleet.workspaces import wait_ready
from tests.container_image import ensure_image, sweep_containers
from tests.naming import workspace

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="rootful podman needs root")


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    image = ensure_image()
    sweep_containers()
    yield image
    sweep_containers()


@pytest.fixture
def task_files(tmp_path) -> Path:
    folder = tmp_path / "files"
    (folder / "solution").mkdir(parents=True)
    (folder / "README.md").write_text("# the task\n")
    (folder / "solution" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (folder / "solution" / "run.sh").chmod(0o755)
    return folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spec(run_id: int, files: Path | None) -> WorkspaceSpec:
    return WorkspaceSpec(
        run_id=run_id,
        port=_free_port(),
        gpus=[],
        files=files,
        ai_tools=False,
        cache=str(codeserver.cache_dir()),
        name=workspace(run_id),
        ide_key=f"key-of-run-{run_id}",
    )


def _podman(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=False)


def _container_exists(name: str) -> bool:
    return _podman("container", "exists", name).returncode == 0


@needs_root
def test_workspace_runs_in_a_container_as_agent(image, driver, task_files, tmp_path):
    runtime = ContainerBackend(driver, "root", ContainerSettings(image=image))
    spec = _spec(990_001, task_files)
    folder = Path(f"{WORKSPACES}/{workspace(990001)}")
    state = runtime.start(spec)
    try:
        wait_ready(driver.endpoint(spec.port), 60, key=spec.ide_key)
        assert state == {"container": workspace(990001), "dir": str(folder), "engine": "podman"}
        assert runtime.poll(spec, state)
        assert (folder / "solution" / "run.sh").stat().st_mode & 0o777 == 0o755
        assert folder.stat().st_uid == 1000 and folder.stat().st_mode & 0o777 == 0o700
        settings = folder / ".local/share/code-server/User/settings.json"
        assert '"chat.disableAIFeatures": true' in settings.read_text()

        inside = _podman(
            "exec",
            "--user",
            "agent",
            workspace(990001),
            "bash",
            "-c",
            "whoami; echo $HOME; pwd; stat -c %U /home/agent/solution/run.sh;"
            " cat /home/agent/README.md; echo $CUDA_VISIBLE_DEVICES; touch made-inside",
        )
        assert inside.returncode == 0, inside.stderr
        assert inside.stdout.splitlines() == [
            "agent",
            "/home/agent",
            "/home/agent",
            "agent",
            "# the task",
            "",
        ]
        assert (folder / "made-inside").stat().st_uid == 1000

        # Restart relaunches code-server in the same container; the files stay.
        assert runtime.restart(spec, state) == state
        wait_ready(driver.endpoint(spec.port), 60, key=spec.ide_key)
        assert (folder / "made-inside").exists()

        runtime.stop(spec, state)
        assert not runtime.poll(spec, state)
        runtime.stop(spec, state)  # stopping twice is fine
        archive = tmp_path / "out" / "run.tar.gz"
        assert runtime.archive(spec, state, archive) == archive.stat().st_size > 0
        with tarfile.open(archive) as tar:
            names = tar.getnames()
        assert {"./README.md", "./solution/run.sh", "./made-inside"} <= set(names)
        assert not any(n.startswith("./.local") for n in names)
    finally:
        runtime.remove(spec, state)
    assert not _container_exists(workspace(990001))
    assert not folder.exists()
    runtime.remove(spec, state)  # removing twice is fine


@needs_root
def test_a_container_removed_behind_our_back_is_gone_with_the_reason(image, task_files):
    runtime = ContainerBackend(LocalDriver(), "root", ContainerSettings(image=image))
    spec = _spec(990_003, task_files)
    state = runtime.start(spec)
    try:
        assert runtime.gone(spec, state) == ""
        runtime.stop(spec, state)
        assert runtime.gone(spec, state) == ""  # stopped is not gone: Restart IDE brings it back
        assert _podman("rm", "-f", workspace(990_003)).returncode == 0
        assert runtime.gone(spec, state) == (
            f"its container {workspace(990_003)} no longer exists there"
        )
    finally:
        runtime.remove(spec, state)


@needs_root
def test_a_failed_start_rolls_back_and_says_why(image, task_files):
    runtime = ContainerBackend(
        LocalDriver(), "root", ContainerSettings(image="localhost/no-such-image:latest")
    )
    spec = _spec(990_002, task_files)
    with pytest.raises(HostError, match="podman could not start the workspace from image"):
        runtime.start(spec)
    assert not _container_exists(workspace(990002))
    assert not Path(f"{WORKSPACES}/{workspace(990002)}").exists()


@needs_root
def test_missing_task_files_roll_back(image, tmp_path):
    runtime = ContainerBackend(LocalDriver(), "root", ContainerSettings(image=image))
    with pytest.raises(NotADirectoryError):
        runtime.start(_spec(990_003, tmp_path / "no-such-folder"))
    assert not Path(f"{WORKSPACES}/{workspace(990003)}").exists()


def test_no_image_is_a_clear_error():
    runtime = ContainerBackend(LocalDriver(), "root", ContainerSettings(image=""))
    with pytest.raises(HostError, match="no workspace image"):
        runtime.start(_spec(990_004, None))


def test_gpu_flags_name_only_the_leased_gpus():
    docker = gpu_args("docker", [2, 5])
    assert docker == ["-e", "CUDA_VISIBLE_DEVICES=0,1", "--gpus", '"device=2,5"']
    assert gpu_args("podman", [2, 5]) == [
        "-e",
        "CUDA_VISIBLE_DEVICES=0,1",
        "-e",
        "NVIDIA_VISIBLE_DEVICES=void",
        "--device",
        "nvidia.com/gpu=2",
        "--device",
        "nvidia.com/gpu=5",
    ]
    for engine in ("docker", "podman"):
        flags = gpu_args(engine, [])
        assert flags == ["-e", "CUDA_VISIBLE_DEVICES=", "-e", "NVIDIA_VISIBLE_DEVICES=void"]


def test_run_command_line():
    runtime = ContainerBackend(
        LocalDriver(), "root", ContainerSettings(image="registry.example/ws:1")
    )
    spec = WorkspaceSpec(
        run_id=7,
        port=20007,
        gpus=[3],
        files=None,
        ai_tools=False,
        cache="/var/cache/baseliner",
        name=workspace(7),
    )
    argv = runtime.run_argv(spec, "docker")
    joined = " ".join(argv)
    assert argv[:5] == ["docker", "run", "-d", "--name", workspace(7)]
    assert "--network host" in joined and "--user 1000:1000" in joined
    assert f"-v {WORKSPACES}/{workspace(7)}:/home/agent" in joined
    assert "-v /var/cache/baseliner:/var/cache/baseliner:ro" in joined
    assert '--gpus "device=3"' in joined and "--pull never" in joined
    assert argv[-4:-2] == ["registry.example/ws:1", "bash"]
    assert "--bind-addr 127.0.0.1:20007" in argv[-1] and argv[-1].endswith(" /home/agent")
