"""Putting one version of a platform package on a host: once, atomically, shared by every run.

The ``task`` command and the editor extension both live on hosts as
``/opt/baseliner/<package>/<version hash>/``, root-owned and world-readable. Several starts may
install at the same moment: each copies into a folder of its own and the first rename wins, so a
reader never sees half a version. Versions a day old serve nobody (starts use the newest) and go.
"""

import hashlib
import secrets
import shlex
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from fleet.backends.common import as_root, put_files
from fleet.drivers.base import Driver

MARKER = ".complete"  # written last: a version folder without it is not there
q = shlex.quote


def files_hash(files: dict[str, bytes]) -> str:
    """The version of a package: a hash of its files' names and contents."""
    digest = hashlib.sha256()
    for name, content in files.items():
        digest.update(f"{name}\0{len(content)}\0".encode() + content)
    return digest.hexdigest()[:16]


def root_runner(driver: Driver, driver_user: str) -> Callable[..., int]:
    """A command run as root with umask 022, answering its exit status."""

    def root(command: str, input: bytes | None = None, check: bool = True) -> int:
        return driver.run(
            as_root(driver_user, f"umask 022; {command}"), input=input, timeout=120, check=check
        ).exit_status

    return root


# Versions unused this long are removed from a host (a week, in minutes).
PRUNE_MIN = 7 * 24 * 60


def put_version(
    driver: Driver,
    driver_user: str,
    stage: Callable[[Path], Path],
    packages: str,
    version: str,
    label: str,
) -> None:
    """Copy what ``stage`` writes into a folder to ``packages/version`` on the host, unless it
    is there already. Each call marks the version used (its folder's time); versions no start
    has used for a week are removed (live runs keep the version they started with, and a run
    outlives a week of disuse only past any time limit we know)."""
    root = root_runner(driver, driver_user)
    target = f"{packages}/{version}"
    if root(f"test -f {q(target)}/{MARKER} && touch {q(target)}", check=False) == 0:
        return
    partial = f"{target}.partial-{secrets.token_hex(6)}"
    staging = stage(Path(tempfile.mkdtemp(prefix=f"baseliner-{label}-")))
    try:
        root(f"mkdir -p {q(packages)} && mkdir -m 700 {q(partial)}")
        put_files(driver, driver_user, staging, partial, f"{label}-{secrets.token_hex(6)}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    root(
        f"chown -R root:root {q(partial)} && chmod -R u=rwX,go=rX {q(partial)}"
        f" && touch {q(partial)}/{MARKER} && chmod 755 {q(partial)}"
        # A rename is atomic and fails onto a folder another start already put there.
        f" && {{ mv -T {q(partial)} {q(target)} 2>/dev/null; rm -rf {q(partial)};"
        f" test -f {q(target)}/{MARKER}; }}"
        f" && find {q(packages)} -mindepth 1 -maxdepth 1 ! -name {q(version)} -mmin +{PRUNE_MIN}"
        " -exec rm -rf {} +"
    )
