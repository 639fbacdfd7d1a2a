"""How the platform puts the ``task`` command on a host and points it at the portal.

The package is copied once per version (a hash of its files) to ``/opt/baseliner/task-command/
<hash>/``, root-owned and world-readable, with the ``task`` script that runs it in its ``bin/``;
a workspace's terminals have that version's ``bin/`` on their PATH. So two installations of
different versions on one host (a lab's staging and production portals, two checkouts) never
swap each other's command under a live run, and a run keeps the command it started with. Each
run's own part is two files in its home, ``~/.baseliner/url`` and ``~/.baseliner/token``,
private to the workspace user. This module runs in the portal (it is not copied to hosts, and it
may import the platform).
"""

from __future__ import annotations

import functools
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from fleet.drivers.base import Driver, HostError
from fleet.host_packages import files_hash, put_version

if TYPE_CHECKING:  # fleet.task_runs may import this module's paths
    from fleet.task_runs import Place

ROOT = "/opt/baseliner"
PACKAGES = f"{ROOT}/task-command"
# What a container workspace needs mounted read-only, at the same paths, to run ``task``.
MOUNTS = (PACKAGES,)
PACKAGE = Path(__file__).parent
NAME = PACKAGE.name  # task_command: what ``python3 -m`` runs
NOT_COPIED = frozenset({"install.py"})
q = shlex.quote


def package_files() -> dict[str, bytes]:
    """The client's modules by name: what is copied, and what the version hash covers."""
    return {
        path.name: path.read_bytes()
        for path in sorted(PACKAGE.glob("*.py"))
        if path.name not in NOT_COPIED
    }


@functools.cache
def package_hash() -> str:
    """The version: a hash of the client's files and of its ``task`` script (read once per
    process), so a change to either is a new folder."""
    return files_hash({**package_files(), "bin/task": wrapper("<folder>").encode()})


def package_dir() -> str:
    """Where this version lives on a host (the folder PYTHONPATH names)."""
    return f"{PACKAGES}/{package_hash()}"


def bin_dir() -> str:
    """The folder of this version's ``task`` script: first on the workspace terminals' PATH."""
    return f"{package_dir()}/bin"


def stage(destination: Path) -> Path:
    """Write the package as ``destination/task_command/`` and its script as
    ``destination/bin/task``; returns ``destination``."""
    folder = destination / NAME
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in package_files().items():
        (folder / name).write_bytes(content)
    script = destination / "bin" / "task"
    script.parent.mkdir(exist_ok=True)
    script.write_text(wrapper(package_dir()))
    script.chmod(0o755)
    return destination


def wrapper(folder: str) -> str:
    """The ``task`` script: the first ``python3`` on PATH (in a container, the image's) runs the
    package in ``folder``. It starts there, with only that folder on PYTHONPATH, so a ``json.py``
    in the expert's working folder cannot stand in for a standard module."""
    return f"""#!/bin/sh
# Baseliner's in-workspace `task` command, written by the platform: do not edit.
if ! command -v python3 >/dev/null 2>&1; then
    echo "task: python3 is not installed here; tell your coordinator." >&2
    exit 2
fi
cd {q(folder)} || exit 2
PYTHONPATH={q(folder)} PYTHONDONTWRITEBYTECODE=1 exec python3 -s -m {NAME} "$@"
"""


def install_on_host(driver: Driver, driver_user: str) -> str:
    """Install this version of the command on the host unless it is there already; returns the
    folder of its ``task`` (for the terminals' PATH). Safe to call for every run start, also for
    two at once: each copies into a folder of its own and the first rename wins."""
    put_version(driver, driver_user, stage, PACKAGES, package_hash(), "task-command")
    return bin_dir()


def portal_url(port: int) -> str:
    """The portal's address as the workspace sees it: a port on the host's loopback (from
    ``driver.reverse_port``), reachable from a container too (it shares the host's network)."""
    return f"http://127.0.0.1:{port}"


def configure(place: Place, url: str, token: str) -> None:
    """Point the workspace's ``task`` at the portal with the run's token: ``~/.baseliner/url``
    and ``~/.baseliner/token`` (folder 0700, files 0600), written by the workspace user itself
    so that nothing in a home the expert controls is followed as root. Idempotent. The token
    travels on standard input, never on a command line (``ps`` would show it)."""
    if not token or any(c.isspace() for c in token):
        raise ValueError("a run token is one word")
    _write(place, url, token)


def update_url(place: Place, url: str) -> None:
    """Point a configured workspace at a new address, its token untouched: for when
    ``driver.reverse_port`` answers another port than the one the run was given."""
    _write(place, url, None)


def _write(place: Place, url: str, token: str | None) -> None:
    if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
        raise ValueError(f"not a portal URL: {url!r}")
    folder = f"{place.home}/.baseliner"
    # Each file is written aside and renamed over, so `task` never reads half of one.
    script = (
        'umask 077 && mkdir -p "$1" && chmod 700 "$1"'
        ' && printf "%s\\n" "$2" > "$1/.url.tmp" && chmod 600 "$1/.url.tmp"'
        ' && mv -f "$1/.url.tmp" "$1/url"'
    )
    if token is not None:
        script += (
            ' && cat > "$1/.token.tmp" && chmod 600 "$1/.token.tmp"'
            ' && mv -f "$1/.token.tmp" "$1/token"'
        )
    result = place.root(
        f"runuser -u {q(place.user)} -- sh -c {q(script)} sh {q(folder)} {q(url)}",
        input=token.encode() if token is not None else None,
        check=False,
    )
    if result.exit_status != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:]
        raise HostError(
            f"could not write the task command's settings in {folder}: "
            + (detail[0] if detail else f"exit status {result.exit_status}")
        )
