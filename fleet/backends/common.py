"""What every backend needs to make a workspace: its spec, the unix user it runs as, the IDE's
settings and key, the extensions it starts with, and files copied in as root."""

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.drivers.base import Driver


@dataclass(frozen=True)
class Extension:
    """A VS Code extension unpacked in a folder on the host, which every new workspace there gets
    a copy of (fleet/editor_extension_setup.py puts ours there)."""

    id: str  # publisher.name
    version: str
    source: str  # the folder on the host holding its package.json

    @property
    def folder(self) -> str:
        """Its folder's name in an extensions folder, as code-server names it."""
        return f"{self.id}-{self.version}"


@dataclass(frozen=True)
class WorkspaceSpec:
    run_id: int
    port: int
    gpus: list[int]
    files: Path | None  # the folder whose contents become the task folder
    ai_tools: bool  # whether AI assistants in the IDE are allowed
    cache: str  # where code-server and Node live on the host
    env: dict[str, str] = field(default_factory=dict)
    # The run's working-time limit in minutes, for backends whose job needs a wall-time limit
    # (a scheduler's); None: the run has none, or the caller does not say.
    time_limit_min: int | None = None
    # METR-format families need the user ``agent`` (home /home/agent) on the process runtime.
    user: str = ""
    # Folders of the host mounted read-only at the same paths in a container (the task family,
    # the `task` command).
    mounts: tuple[str, ...] = ()
    # Folders put first on the terminals' PATH (where the task's Python lives on the host).
    path: str = ""
    # Extensions every workspace has from the start (the activity reporter).
    extensions: tuple[Extension, ...] = ()
    # The secret code-server admits (Run.ide_key); empty: no auth of its own (older runs).
    ide_key: str = ""
    # The workspace's name on the host (fleet.naming.workspace: the installation's prefix and
    # the run id): its unix user on the process runtime, its container and folder otherwise.
    name: str = ""
    # The installation's prefix (fleet.naming), written on the unix users it makes, so whose a
    # user is can be told even when its name carries no prefix (METR's ``agent``).
    owner: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a workspace needs its name (fleet.naming.workspace)")

    @property
    def unix_user(self) -> str:
        return self.user or self.name


# The comment (GECOS) of every unix user Baseliner makes, followed by the prefix of the
# installation that made it, so a sweep can find them by it and take only its own.
USER_COMMENT = "baseliner workspace"


def add_user(user: str, home: str, owner: str = "") -> str:
    """The command that makes a workspace user with a private home, marked as ``owner``'s (an
    installation's prefix)."""
    q = shlex.quote
    comment = f"{USER_COMMENT} {owner}".strip()
    return (
        f"useradd --create-home --home-dir {q(home)} --shell /bin/bash --user-group"
        f" --comment {q(comment)} {q(user)} && chmod 700 {q(home)}"
    )


def user_owner(comment: str) -> str | None:
    """The prefix of the installation that made a unix user, from its comment (GECOS); "" for a
    workspace user of a version that did not say; None for a user that is not a workspace's."""
    if comment != USER_COMMENT and not comment.startswith(USER_COMMENT + " "):
        return None
    return comment[len(USER_COMMENT) :].strip()


def remove_user(user: str, home: str) -> str:
    """The command that ends every process of a workspace user and deletes it and its home."""
    q = shlex.quote
    return (
        f"if id -u {q(user)} >/dev/null 2>&1; then pkill -KILL -u {q(user)};"
        f" userdel -r {q(user)} 2>/dev/null || userdel {q(user)}; fi; rm -rf {q(home)}"
    )


def as_root(driver_user: str, command: str) -> str:
    """The command, through passwordless sudo unless the driver already is root."""
    return command if driver_user == "root" else f"sudo -n bash -c {shlex.quote(command)}"


def put_files(
    driver: Driver, driver_user: str, source: Path, destination: str, token: int | str
) -> None:
    """Copy the task files into a folder root made: straight in as root, or through a staging
    folder the sudo user owns, moved in by root."""
    if driver_user == "root":
        driver.put_tree(source, destination)
        return
    staging = f"/tmp/baseliner-files-{token}"
    driver.run(f"rm -rf {shlex.quote(staging)}")
    driver.put_tree(source, staging)
    driver.run(
        as_root(
            driver_user,
            f"cp -a {shlex.quote(staging)}/. {shlex.quote(destination)}/"
            f" && rm -rf {shlex.quote(staging)}",
        )
    )


def write_key(driver: Driver, driver_user: str, spec: WorkspaceSpec, folder: str) -> None:
    """The run's IDE key into the task folder's code-server config, mode 0600 (the start's
    ``chown -R`` then gives it to the workspace user, whose code-server reads it)."""
    if not spec.ide_key:
        return
    from fleet import codeserver

    path = shlex.quote(f"{folder}/{codeserver.KEY_FILE}")
    driver.run(
        as_root(driver_user, f"mkdir -p $(dirname {path}) && (umask 077 && cat > {path})"),
        input=codeserver.key_config(spec.ide_key),
    )


def preinstall(extensions: tuple[Extension, ...], folder: str, seen_as: str) -> str:
    """The command (as root, before the home is given to the workspace user) that copies
    ``extensions`` into a new workspace's extensions folder ``folder`` (``seen_as`` where
    code-server sees it: in a container, its home's path inside) and lists them in its
    ``extensions.json``, which code-server reads instead of the folder once it exists. The expert
    can still install, disable or remove extensions: code-server rewrites that file then."""
    if not extensions:
        return "true"
    q = shlex.quote
    listed = [
        {
            "identifier": {"id": e.id},
            "version": e.version,
            "location": {"$mid": 1, "path": f"{seen_as}/{e.folder}", "scheme": "file"},
            "relativeLocation": e.folder,
            # What code-server records for a .vsix; pinned: never replaced by a gallery version.
            "metadata": {"source": "vsix", "pinned": True},
        }
        for e in extensions
    ]
    copies = " && ".join(f"cp -R {q(e.source)} {q(f'{folder}/{e.folder}')}" for e in extensions)
    return (
        f"mkdir -p {q(folder)} && {copies}"
        f" && printf '%s' {q(json.dumps(listed))} > {q(folder)}/extensions.json"
    )


def ide_settings(ai_tools: bool, path_first: str = "") -> str:
    """VS Code user settings: no welcome page, nothing that phones out, no automatic port
    forwarding, and with AI tools not allowed, the built-in Chat and agent features turned off."""
    settings: dict[str, Any] = {
        "workbench.startupEditor": "none",
        "workbench.welcomePage.walkthroughs.openOnInstall": False,
        "workbench.tips.enabled": False,
        "workbench.enableExperiments": False,
        "telemetry.telemetryLevel": "off",
        "update.mode": "none",
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "extensions.ignoreRecommendations": True,
        "npm.fetchOnlinePackageInfo": False,
        "workbench.settings.enableNaturalLanguageSearch": False,
        "security.workspace.trust.enabled": False,
        "terminal.integrated.defaultProfile.linux": "bash",
        # Not a login shell: /etc/profile would reset PATH and lose the `task` command and the
        # task's Python, which the workspace puts first.
        "terminal.integrated.profiles.linux": {"bash": {"path": "bash", "args": []}},
        # The shell's and the IDE's own dotfiles are not part of the task.
        "files.exclude": {
            name: True
            for name in (
                ".baseliner",
                ".cache",
                ".config",
                ".local",
                ".code-server.log",
                ".bash_logout",
                ".bashrc",
                ".profile",
                ".bash_history",
                ".wget-hsts",
                ".python_history",
            )
        },
        # The terminal draws as text, not on a canvas: lighter in the browser, and readable by
        # the browser journeys that check what a command printed.
        "terminal.integrated.gpuAcceleration": "off",
        # No port forwarding of its own: loopback is shared by every workspace on the host, so
        # VS Code would find and offer other workspaces' (and installations') ports.
        "remote.autoForwardPorts": False,
        "remote.restoreForwardedPorts": False,
        "remote.forwardOnOpen": False,
        "remote.otherPortsAttributes": {"onAutoForward": "ignore"},
    }
    if path_first:
        # VS Code builds a terminal's environment from a login shell's (which resets PATH on
        # Debian), so what must come first is said again here.
        settings["terminal.integrated.env.linux"] = {"PATH": f"{path_first}:${{env:PATH}}"}
    if not ai_tools:
        settings |= {
            "chat.disableAIFeatures": True,
            "chat.agent.enabled": False,
            "chat.commandCenter.enabled": False,
            "chat.setupFromDialog": False,
            "workbench.secondarySideBar.defaultVisibility": "hidden",
            "inlineChat.enableV2": False,
            "github.copilot.enable": {"*": False},
        }
    return json.dumps(settings, indent=2)


def home_extensions(home: str) -> str:
    """Where code-server keeps the extensions of a workspace whose home is ``home``."""
    return f"{home}/.local/share/code-server/extensions"


def fill_home(driver: Driver, driver_user: str, spec: WorkspaceSpec, home: str) -> None:
    """A new workspace user's home made ready for its IDE: the task files, the IDE's settings,
    the extensions it starts with and its key, then all of it given to the user (the process and
    Slurm backends, whose workspaces are unix users)."""
    q = shlex.quote
    if spec.files is not None:
        put_files(driver, driver_user, spec.files, home, spec.run_id)
    settings_dir = f"{home}/.local/share/code-server/User"
    extensions = preinstall(spec.extensions, home_extensions(home), home_extensions(home))
    write_key(driver, driver_user, spec, home)
    user = q(spec.unix_user)
    driver.run(
        as_root(
            driver_user,
            f"mkdir -p {q(settings_dir)} && cat > {q(settings_dir)}/settings.json"
            f" && {extensions} && chown -R {user}:{user} {q(home)}",
        ),
        input=ide_settings(spec.ai_tools, spec.path).encode(),
    )
