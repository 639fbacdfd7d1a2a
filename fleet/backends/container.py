"""The ``container`` backend: each workspace is a container of its own, as METR task families
expect (user ``agent``, home ``/home/agent``), run by podman or, failing that, docker.

The task folder lives on the host under ``WORKSPACES`` and is bind-mounted as the agent's home,
so archiving and removing it needs no running container. code-server and Node come from the
host's cache, bind-mounted read-only at the same path, so one cache serves both runtimes and the
version the health check found is the one that runs. ``--network host`` puts code-server's
127.0.0.1:<port> on the host's loopback, where the portal's tunnel reaches it.

Engine commands run as root (rootful podman/docker): rootless storage would be per driver user and
could not chown the task folder to the agent's uid. The OCI runtime is the host's choice: hosts
whose podman needs ``runc`` say so in /etc/containers/containers.conf (``scripts/install.sh``
writes it), so nothing here passes ``--runtime`` and hosts where crun works keep it.
"""

import contextlib
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from fleet import codeserver
from fleet.backends.base import Backend, Poll, PythonSettings
from fleet.backends.common import (
    WorkspaceSpec,
    as_root,
    ide_settings,
    preinstall,
    put_files,
    write_key,
)
from fleet.drivers.base import CommandFailed, Driver, HostError
from fleet.task_command.install import MOUNTS as TASK_COMMAND_MOUNTS
from fleet.task_runs import Installed, Place

WORKSPACES = "/var/lib/baseliner/workspaces"
HOME = "/home/agent"
EXTENSIONS = ".local/share/code-server/extensions"  # in the home
# The image's ``agent`` user (vm_images/Dockerfile, tests/container_image.py) has this uid:gid.
AGENT_UID = 1000
STOP_TIMEOUT_S = 10
ENGINES = ("podman", "docker")


def gpu_args(engine: str, gpus: list[int]) -> list[str]:
    """The flags that give the container exactly the leased GPUs, and the environment it sees.

    Inside, the leased GPUs are renumbered from 0, so CUDA_VISIBLE_DEVICES lists 0..n-1 (the host's
    indices would name devices the container does not have). NVIDIA_VISIBLE_DEVICES=void stops an
    image's ``NVIDIA_VISIBLE_DEVICES=all`` (nvidia/cuda sets it) from exposing every GPU through a
    default nvidia runtime or legacy hook; docker's ``--gpus`` sets that variable itself, so it is
    left alone there.
    """
    visible = ",".join(str(i) for i in range(len(gpus)))
    args = ["-e", f"CUDA_VISIBLE_DEVICES={visible}"]
    if engine == "docker":
        if gpus:
            # The value is parsed as CSV: the quotes keep "device=0,1" one field.
            return [*args, "--gpus", f'"device={",".join(map(str, gpus))}"']
        return [*args, "-e", "NVIDIA_VISIBLE_DEVICES=void"]
    # podman: CDI names from `nvidia-ctk cdi generate` (vm_images/bootstrap.sh).
    devices = [arg for gpu in gpus for arg in ("--device", f"nvidia.com/gpu={gpu}")]
    return [*args, "-e", "NVIDIA_VISIBLE_DEVICES=void", *devices]


class ContainerSettings(PythonSettings):
    """The image every workspace starts from (podman or docker on the host), and the Python in
    it that runs task families (python3 on PATH when empty)."""

    image: str = Field(default="", max_length=255, title="Container image")

    def problems(self) -> dict[str, str]:
        errors = super().problems()
        if not self.image:
            errors["image"] = "The container runtime needs an image name."
        return errors


class ContainerBackend(Backend):
    name = "container"
    label = "container (podman or docker)"
    Settings: ClassVar[type[ContainerSettings]] = ContainerSettings
    workspace_root = "/var/lib"

    def __init__(
        self, driver: Driver, driver_user: str = "root", settings: ContainerSettings | None = None
    ) -> None:
        super().__init__(driver, driver_user, settings or ContainerSettings())
        self._engine: str | None = None

    @property
    def image(self) -> str:
        return self.settings.image

    def _root(self, command: str, timeout: float = 60, check: bool = True) -> str:
        return self.driver.run(
            as_root(self.driver_user, command), timeout=timeout, check=check
        ).stdout

    def engine(self, state: dict[str, Any] | None = None) -> str:
        """podman if the host has it, else docker; asked once per runtime, and a started
        workspace keeps the engine that started it."""
        if state and state.get("engine") in ENGINES:  # state comes from the database
            return state["engine"]
        if self._engine is None:
            # Prints the path of each one found, in the order asked.
            paths = self._root(f"command -v {' '.join(ENGINES)}", timeout=15, check=False)
            found = next(iter(paths.split()), "").rsplit("/", 1)[-1]
            if found not in ENGINES:
                raise HostError("Neither podman nor docker is installed on the host.")
            self._engine = found
        return self._engine

    @staticmethod
    def container_name(spec: WorkspaceSpec) -> str:
        """Container and folder carry the workspace's name (the installation's prefix and the run
        id): found again from the run alone (the state's copies are for people reading the
        database), and never another installation's."""
        return spec.name

    @classmethod
    def folder(cls, spec: WorkspaceSpec) -> str:
        return f"{WORKSPACES}/{cls.container_name(spec)}"

    def run_argv(self, spec: WorkspaceSpec, engine: str) -> list[str]:
        """The full ``<engine> run`` command line that starts the workspace detached."""
        launch = codeserver.command(
            port=spec.port,
            folder=HOME,
            user_data_dir=f"{HOME}/.local/share/code-server",
            extensions_dir=f"{HOME}/{EXTENSIONS}",
            cache=Path(spec.cache),
            extra_path=spec.path,
            key_file=f"{HOME}/{codeserver.KEY_FILE}" if spec.ide_key else "",
        )
        env = {"HOME": HOME, "USER": "agent", "SHELL": "/bin/bash", **spec.env}
        return [
            engine,
            "run",
            "-d",
            "--name",
            self.container_name(spec),
            "--label",
            f"baseliner.run={spec.run_id}",
            "--pull",
            "never",  # no registry is assumed reachable; a missing image is a clear error
            "--init",  # reaps what the expert's terminals leave behind; forwards SIGTERM
            "--network",
            "host",
            "--security-opt",
            "no-new-privileges",  # no setuid way to root from the expert's shell
            "--security-opt",
            "label=disable",  # SELinux hosts: the shared cache keeps its labels
            "--user",
            f"{AGENT_UID}:{AGENT_UID}",
            "-w",
            HOME,
            "-v",
            f"{self.folder(spec)}:{HOME}",
            "-v",
            f"{spec.cache}:{spec.cache}:ro",
            *[arg for path in spec.mounts for arg in ("-v", f"{path}:{path}:ro")],
            *[arg for k, v in env.items() for arg in ("-e", f"{k}={v}")],
            *gpu_args(engine, spec.gpus),
            self.image,
            "bash",
            "-c",
            launch,
        ]

    def start(self, spec: WorkspaceSpec) -> dict[str, Any]:
        if not self.image:
            raise HostError("The host has no workspace image set; edit the host to give one.")
        engine = self.engine()
        name, folder = self.container_name(spec), self.folder(spec)
        state = {"container": name, "dir": folder, "engine": engine}
        q = shlex.quote
        # No -p on the folder itself: one left from before is an error, never silently reused.
        self._root(f"mkdir -p {WORKSPACES} && mkdir -m 700 {q(folder)}")
        try:
            if spec.files is not None:
                put_files(self.driver, self.driver_user, spec.files, folder, spec.run_id)
            settings_dir = f"{folder}/.local/share/code-server/User"
            # Copied into the task folder on the host, so the container needs no extra mount.
            extensions = preinstall(
                spec.extensions, f"{folder}/{EXTENSIONS}", f"{HOME}/{EXTENSIONS}"
            )
            write_key(self.driver, self.driver_user, spec, folder)
            self.driver.run(
                as_root(
                    self.driver_user,
                    f"mkdir -p {q(settings_dir)} && cat > {q(settings_dir)}/settings.json"
                    f" && {extensions} && chown -R {AGENT_UID}:{AGENT_UID} {q(folder)}",
                ),
                input=ide_settings(spec.ai_tools, spec.path).encode(),
            )
            try:
                self._root(shlex.join(self.run_argv(spec, engine)), timeout=120)
            except CommandFailed as exc:
                detail = (exc.result.stderr or exc.result.stdout).strip().splitlines()[-1:]
                raise HostError(
                    f"{engine} could not start the workspace from image {self.image}: "
                    + (detail[0] if detail else f"exit status {exc.result.exit_status}")
                ) from exc
            return state
        except BaseException:
            self.remove(spec, state)
            raise

    def poll(self, spec: WorkspaceSpec, state: dict[str, Any]) -> Poll:
        running = self._root(
            f"{self.engine(state)} inspect -f '{{{{.State.Running}}}}' {self.container_name(spec)}",
            timeout=15,
            check=False,
        )
        if running.strip() == "true":
            return Poll("running")
        why = self.gone(spec, state)
        return Poll("gone", why) if why else Poll("stopped")

    def gone(self, spec: WorkspaceSpec, state: dict[str, Any]) -> str:
        engine, name, folder = self.engine(state), self.container_name(spec), self.folder(spec)
        missing = self._root(
            f"{_exists(engine, name)} || echo container; test -d {folder} || echo folder",
            timeout=15,
        ).split()
        if "container" in missing:
            return f"its container {name} no longer exists there"
        if "folder" in missing:
            return f"its task folder {folder} no longer exists there"
        return ""

    def stop(self, spec: WorkspaceSpec, state: dict[str, Any]) -> None:
        engine, name = self.engine(state), self.container_name(spec)
        self._root(
            f"if {_exists(engine, name)}; then {engine} stop -t {STOP_TIMEOUT_S} {name} >/dev/null;"
            " fi",
            timeout=STOP_TIMEOUT_S + 30,
        )

    def restart(self, spec: WorkspaceSpec, state: dict[str, Any]) -> dict[str, Any]:
        # The container's command is code-server itself: restarting the container restarts it,
        # ends every other process in it, and keeps the mounted task folder.
        name = self.container_name(spec)
        self._root(
            f"{self.engine(state)} restart -t {STOP_TIMEOUT_S} {name} >/dev/null",
            timeout=STOP_TIMEOUT_S + 30,
        )
        return state

    def archive(self, spec: WorkspaceSpec, state: dict[str, Any], destination: Path) -> int:
        destination.parent.mkdir(parents=True, exist_ok=True)
        return self.driver.run_to_file(
            as_root(
                self.driver_user,
                f"tar -C {self.folder(spec)} --exclude=./.local --exclude=./.cache"
                " --exclude=./.config -czf - .",
            ),
            destination,
        )

    def remove(self, spec: WorkspaceSpec, state: dict[str, Any]) -> None:
        engine, name = self.engine(state), self.container_name(spec)
        self._root(
            f"if {_exists(engine, name)}; then {engine} rm -f {name} >/dev/null; fi;"
            f" rm -rf -- {self.folder(spec)}",
            timeout=STOP_TIMEOUT_S + 50,
        )

    def place(self, spec: WorkspaceSpec, state: dict[str, Any]) -> Place:
        return Place(
            self.driver,
            self.driver_user,
            "agent",
            HOME,
            self.python(),
            container=state["container"],
            engine=state["engine"],
        )

    @contextlib.contextmanager
    def scratch(
        self, name: str, installed: Installed, gpus: list[int], agent_user: bool, owner: str
    ) -> Iterator[Place]:
        """A container that sleeps, from the host's image, with the family mounted."""
        engine = self.engine()
        argv = [
            engine, "run", "-d", "--name", name, "--label", "baseliner.check=1",
            "--pull", "never", "--network", "host", "--security-opt", "no-new-privileges",
            "--security-opt", "label=disable", "--user", f"{AGENT_UID}:{AGENT_UID}",
            "-v", f"{installed.root}:{installed.root}:ro",
            *gpu_args(engine, gpus), self.image, "sleep", "infinity",
        ]  # fmt: skip
        self._root(" ".join(map(shlex.quote, argv)), timeout=120)
        try:
            yield Place(self.driver, self.driver_user, "agent", HOME, self.python(), name, engine)
        finally:
            self._root(f"{engine} rm -f {name}", timeout=60, check=False)

    def health(self) -> list[str]:
        found = self._root(
            "(podman --version || docker --version) 2>/dev/null | head -n 1", check=False
        )
        return [] if found.strip() else ["neither podman nor docker is installed"]

    def installs_in_workspace(self) -> bool:
        return True

    def task_mounts(self, installed_root: str) -> tuple[str, ...]:
        return (installed_root, *TASK_COMMAND_MOUNTS)

    def family_note(self) -> str:
        return "install() runs in each container"


def _exists(engine: str, name: str) -> str:
    """A shell test for the container, quiet either way (docker has no `container exists`)."""
    return f"{engine} inspect --type container {name} >/dev/null 2>&1"
