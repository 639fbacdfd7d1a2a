"""The ``process`` backend: each workspace is an unprivileged unix user on the host, its home the
task folder, and code-server a process of that user bound to a loopback port.

Other users' homes are mode 0700, so an expert's terminal sees only their own files; GPUs not
leased to the run are hidden with CUDA_VISIBLE_DEVICES.
"""

import contextlib
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from fleet import codeserver
from fleet.backends.base import Backend, Poll, PythonSettings
from fleet.backends.common import (
    WorkspaceSpec,
    add_user,
    as_root,
    fill_home,
    home_extensions,
    remove_user,
)
from fleet.drivers.base import HostError
from fleet.task_runs import Installed, Place, platform_python, sandbox_problems

STOP_TIMEOUT_S = 20


class ProcessSettings(PythonSettings):
    """Only the interpreter: empty is this platform's own on this machine, else python3."""


class ProcessBackend(Backend):
    name = "process"
    label = "process (a unix user per run)"
    Settings: ClassVar[type[ProcessSettings]] = ProcessSettings
    workspace_root = "/home"
    shares_agent_user = True

    def _root(self, command: str, timeout: float = 60) -> str:
        return self.driver.run(as_root(self.driver_user, command), timeout=timeout).stdout

    @staticmethod
    def home(spec: WorkspaceSpec) -> str:
        return f"/home/{spec.unix_user}"

    def start(self, spec: WorkspaceSpec) -> dict[str, Any]:
        user, home = spec.unix_user, self.home(spec)
        q = shlex.quote
        if self.driver.run(f"id -u {q(user)}", check=False).exit_status == 0:
            # Never adopt (or later delete) a user the host already had.
            raise HostError(f"the host already has a user {user}; remove it or use another host")
        self._root(add_user(user, home, spec.owner))
        try:
            fill_home(self.driver, self.driver_user, spec, home)
            return {"pid": self._launch(spec), "home": home}
        except BaseException:
            self.remove(spec, {})
            raise

    def _launch(self, spec: WorkspaceSpec) -> int:
        """Start code-server as the workspace user, detached; returns the launcher's pid."""
        user, home = spec.unix_user, self.home(spec)
        q = shlex.quote
        env = {
            "HOME": home,
            "USER": user,
            "SHELL": "/bin/bash",
            "CUDA_VISIBLE_DEVICES": ",".join(map(str, spec.gpus)),
            **spec.env,
        }
        exports = " ".join(f"{k}={q(v)}" for k, v in env.items())
        launch = f"cd {q(home)} && {_code_server(spec, home)}"
        # Only the launcher goes to the background, its output to a file: nothing holds the
        # command's pipes, so the call returns at once with the pid.
        pid = self._root(
            f"setsid runuser -u {q(user)} -- env -i {exports} bash -c {q(launch)}"
            f" >> {q(home)}/.code-server.log 2>&1 < /dev/null & echo $!"
        ).strip()
        return int(pid)

    def restart(self, spec: WorkspaceSpec, state: dict[str, Any]) -> dict[str, Any]:
        user = shlex.quote(spec.unix_user)
        if self.driver.run(f"id -u {user}", check=False).exit_status != 0:
            raise HostError(f"the workspace's user {spec.unix_user} is gone from the host")
        self.stop(spec, state)
        return {**state, "pid": self._launch(spec)}

    def poll(self, spec: WorkspaceSpec, state: dict[str, Any]) -> Poll:
        why = self.gone(spec, state)
        if why:
            return Poll("gone", why)
        result = self.driver.run(
            as_root(self.driver_user, f"pgrep -u {shlex.quote(spec.unix_user)} -f code-server"),
            check=False,
            timeout=15,
        )
        return Poll("running" if result.exit_status == 0 else "stopped")

    def gone(self, spec: WorkspaceSpec, state: dict[str, Any]) -> str:
        user, home = shlex.quote(spec.unix_user), shlex.quote(self.home(spec))
        missing = self.driver.run(
            as_root(
                self.driver_user,
                f"id -u {user} >/dev/null 2>&1 || echo user; test -d {home} || echo folder",
            ),
            timeout=15,
        ).stdout.split()
        if "user" in missing:
            return f"its unix user {spec.unix_user} no longer exists there"
        if "folder" in missing:
            return f"its task folder {self.home(spec)} no longer exists there"
        return ""

    def stop(self, spec: WorkspaceSpec, state: dict[str, Any]) -> None:
        user = shlex.quote(spec.unix_user)
        # TERM first so code-server can close cleanly, then KILL whatever is left.
        self.driver.run(
            as_root(
                self.driver_user,
                f"id -u {user} >/dev/null 2>&1 || exit 0; pkill -TERM -u {user};"
                f" for i in $(seq 50); do pgrep -u {user} >/dev/null || exit 0; sleep 0.1; done;"
                f" pkill -KILL -u {user}; exit 0",
            ),
            timeout=STOP_TIMEOUT_S,
        )

    def archive(self, spec: WorkspaceSpec, state: dict[str, Any], destination: Path) -> int:
        home = shlex.quote(self.home(spec))
        destination.parent.mkdir(parents=True, exist_ok=True)
        return self.driver.run_to_file(
            as_root(
                self.driver_user,
                f"tar -C {home} --exclude=./.local --exclude=./.cache --exclude=./.config"
                f" --exclude=./.code-server.log -czf - .",
            ),
            destination,
        )

    def remove(self, spec: WorkspaceSpec, state: dict[str, Any]) -> None:
        with contextlib.suppress(HostError):  # removing the user below ends its processes anyway
            self.stop(spec, state)
        self.driver.run(
            as_root(self.driver_user, remove_user(spec.unix_user, self.home(spec))), timeout=60
        )

    def place(self, spec: WorkspaceSpec, state: dict[str, Any]) -> Place:
        visible = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, spec.gpus))}
        return Place(
            self.driver, self.driver_user, spec.unix_user, state["home"], self.python(), env=visible
        )

    @contextlib.contextmanager
    def scratch(
        self, name: str, installed: Installed, gpus: list[int], agent_user: bool, owner: str
    ) -> Iterator[Place]:
        user = "agent" if agent_user else name
        home = f"/home/{user}"
        if self.driver.run(f"id -u {shlex.quote(user)}", check=False).exit_status == 0:
            raise HostError(f"the host already has a user {user}; the check needs it for itself")
        self._root(add_user(user, home, owner))
        try:
            env = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, gpus))}
            yield Place(self.driver, self.driver_user, user, home, self.python(), env=env)
        finally:
            self.driver.run(
                as_root(self.driver_user, remove_user(user, home)), timeout=60, check=False
            )

    def health(self) -> list[str]:
        return sandbox_problems(self.driver, self.driver_user)

    def python(self) -> str:
        """Its setting, else this platform's own interpreter when the host is this machine (it
        has PyTorch), else python3 on PATH."""
        if self.settings.python:
            return self.settings.python
        return platform_python() if self.driver.on_this_machine else "python3"

    def terminal_path(self) -> str:
        """The ``task`` command, then the scorer's interpreter's folder, so ``python`` in a
        terminal is the one the scorer uses."""
        python = self.python()
        base = super().terminal_path()
        return f"{base}:{Path(python).parent}" if "/" in python else base


def _code_server(spec: WorkspaceSpec, home: str) -> str:
    return codeserver.command(
        port=spec.port,
        folder=home,
        user_data_dir=f"{home}/.local/share/code-server",
        extensions_dir=home_extensions(home),
        cache=Path(spec.cache),
        extra_path=spec.path,
        key_file=f"{home}/{codeserver.KEY_FILE}" if spec.ide_key else "",
    )
