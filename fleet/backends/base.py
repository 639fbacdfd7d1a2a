"""What every workspace backend implements: the one lifecycle the platform drives.

The platform never asks which backend a host has; it calls these methods (JupyterHub's Spawner
is the model). ``start`` returns a JSON-able state that is stored on the run, and every later
call takes it back, so a restarted portal re-attaches from the database alone. A backend is
built per host from its connection (a ``Driver``: this machine, or SSH with a pinned key), the
unix user that connection logs in as, and its own typed settings (stored as JSON on the host).
"""

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleet.backends.common import WorkspaceSpec
from fleet.drivers.base import CommandResult, Driver

PollState = Literal["running", "pending", "stopped", "gone"]


class BackendSettings(BaseModel):
    """A backend's own settings; each backend subclasses it with its fields. Field names are
    unique across backends (the host form shows each next to its own input)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    def problems(self) -> dict[str, str]:
        """Checks beyond each field's type, one message per field (the host form shows them)."""
        return {}


class PythonSettings(BackendSettings):
    """The interpreter that runs task families there; empty: the backend's default."""

    python: str = Field(
        default="",
        max_length=255,
        title="Python for task families",
        description="Leave empty for python3 on the host (in the image, for containers).",
    )

    def problems(self) -> dict[str, str]:
        if not re.fullmatch(r"[A-Za-z0-9_./+-]*", self.python):
            return {"python": "Give a path or a command name, e.g. /opt/venv/bin/python."}
        return {}


@dataclass(frozen=True)
class Poll:
    """Where a workspace stands: ``running`` (its IDE process lives), ``pending`` (a scheduler
    has not started it yet; ``reason`` is the scheduler's, e.g. Resources), ``stopped`` (it
    exists but its IDE is not running) or ``gone`` (it no longer exists; ``reason`` says why).
    True only while running, so ``if backend.poll(...)`` reads as "is it up"."""

    state: PollState
    reason: str = ""

    def __bool__(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class Capacity:
    """What a host can take: ``leased`` backends count GPUs and workspaces themselves (the
    platform's leases decide placement); a scheduler's own (Slurm, Kubernetes) decides, and
    ``max_gpus`` is the most one job can ever get there (0: unknown)."""

    leased: bool
    max_gpus: int = 0


class Backend(ABC):
    """One way of running a workspace (a unix user, a container, a scheduler's job)."""

    name: ClassVar[str]  # what the host record stores; the registry's key
    label: ClassVar[str]  # what the hosts page says
    Settings: ClassVar[type[BackendSettings]] = BackendSettings
    # Where task folders grow on the host (checked for free disk).
    workspace_root: ClassVar[str] = "/"
    # Whether METR's user ``agent`` exists once per machine here (one such run at a time, so
    # placement leases it), rather than once per workspace.
    shares_agent_user: ClassVar[bool] = False
    # Whether the platform's leases place workspaces here (GPUs and ports counted per machine),
    # or a scheduler that owns the GPUs decides (capacity()).
    leased: ClassVar[bool] = True
    # Whether a started workspace may wait in a scheduler's queue (``poll`` says pending) before
    # its IDE runs: the run is then pending, its clock not started, until it runs.
    queued: ClassVar[bool] = False
    # Who queues it, as the pending run's reason names it ("Slurm says: Resources").
    scheduler: ClassVar[str] = "the scheduler"

    def __init__(self, driver: Driver, driver_user: str, settings: BackendSettings) -> None:
        self.driver = driver
        self.driver_user = driver_user
        self.settings = settings

    # ----- the workspace's lifecycle --------------------------------------------------------

    @abstractmethod
    def start(self, spec: WorkspaceSpec) -> dict[str, Any]:
        """Create the workspace and start (or submit) its IDE; on failure undo what was made,
        then raise HostError. A scheduler backend may return before the IDE runs: ``poll``
        then says pending."""

    def endpoint(self, spec: WorkspaceSpec, state: dict[str, Any]) -> tuple[str, int]:
        """The (host, port) on this machine that the portal's IDE proxy dials."""
        return self.driver.endpoint(spec.port)

    @abstractmethod
    def poll(self, spec: WorkspaceSpec, state: dict[str, Any]) -> Poll:
        """Where the workspace stands now. HostError: the host cannot be asked."""

    def gone(self, spec: WorkspaceSpec, state: dict[str, Any]) -> str:
        """Why the workspace no longer exists (its user, container, folder or job was removed
        behind the platform's back); empty while it does. HostError: cannot tell."""
        poll = self.poll(spec, state)
        return poll.reason if poll.state == "gone" else ""

    @abstractmethod
    def stop(self, spec: WorkspaceSpec, state: dict[str, Any]) -> None:
        """Stop the IDE and every process of the workspace; the files stay."""

    @abstractmethod
    def restart(self, spec: WorkspaceSpec, state: dict[str, Any]) -> dict[str, Any]:
        """Stop every process of the workspace and start the IDE again on the same port, files
        untouched (a hung IDE, a runaway process); returns the new state."""

    @abstractmethod
    def archive(self, spec: WorkspaceSpec, state: dict[str, Any], destination: Path) -> int:
        """Write the task folder as a .tar.gz to ``destination``; returns its size in bytes."""

    @abstractmethod
    def remove(self, spec: WorkspaceSpec, state: dict[str, Any]) -> None:
        """Delete everything the workspace made (user, home, container, job, folder)."""

    # ----- running the task inside the workspace's own allocation ---------------------------

    @abstractmethod
    def place(self, spec: WorkspaceSpec, state: dict[str, Any]) -> "Place":
        """Where the started workspace's task lives and how to run commands beside it (same
        GPUs, same files): what scoring, snapshots and the ``task`` command use."""

    def exec(
        self,
        spec: WorkspaceSpec,
        state: dict[str, Any],
        command: str,
        *,
        as_user: bool = False,
        input: bytes | None = None,
        timeout: float = 60,
        check: bool = True,
    ) -> CommandResult:
        """Run a shell ``command`` inside the workspace: as root, or as its user."""
        place = self.place(spec, state)
        if as_user:
            import shlex

            command = f"runuser -u {shlex.quote(place.user)} -- bash -c {shlex.quote(command)}"
        return place.root(command, input=input, timeout=timeout, check=check)

    @abstractmethod
    @contextlib.contextmanager
    def scratch(
        self, name: str, installed: "Installed", gpus: list[int], agent_user: bool, owner: str
    ) -> Iterator["Place"]:
        """A throwaway workspace without an IDE, removed on exit (the environment check)."""

    # ----- the host as a whole --------------------------------------------------------------

    def capacity(self) -> Capacity:
        return Capacity(leased=self.leased)

    def health(self) -> list[str]:
        """What stops this host from running workspaces, beyond reachability, disk and
        code-server (fleet.health checks those for every backend)."""
        return []

    def sweep(self, prefix: str, keep: set[str]) -> list[str]:
        """Remove what this installation (``prefix``) left on the host that no live run owns
        (``keep``: the workspace names of live runs); returns what was removed."""
        return []

    # ----- how the task's family runs there -------------------------------------------------

    def python(self) -> str:
        """The interpreter that runs task families (the host's ``python`` setting, else
        ``python3`` on PATH)."""
        return getattr(self.settings, "python", "") or "python3"

    def terminal_path(self) -> str:
        """What comes first on the workspace terminals' PATH: the ``task`` command."""
        from fleet.task_command import install as task_command

        return task_command.bin_dir()

    def installs_in_workspace(self) -> bool:
        """Whether the family's ``install()`` runs in each workspace (containers: where the
        task's own Python is) rather than once per host."""
        return False

    def task_mounts(self, installed_root: str) -> tuple[str, ...]:
        """Host folders the workspace needs mounted read-only (a container's family and
        ``task`` command); nothing where the workspace shares the host's filesystem."""
        return ()

    def family_note(self) -> str:
        """What the hosts page says beside a prepared family."""
        return ""


from fleet.task_runs import Installed, Place  # noqa: E402  (task_runs imports common, not us)
