"""The workspace image the container tests run: a minimal Debian with user ``agent`` (uid 1000,
home /home/agent) and python3, made with debootstrap from this machine's Debian mirror and
``podman import``ed, since no image registry is reachable from here.

It carries no code-server: the runtime bind-mounts the host's cache. The rootfs tar is kept under
``CACHE`` by a hash of the recipe, so a wiped podman store re-imports in seconds and a changed
recipe rebuilds (about 40 s on the test machine).
"""

import fcntl
import hashlib
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from fleet.backends.container import WORKSPACES
from tests.naming import ours_or_dead

IMAGE = "localhost/baseliner-test-workspace:latest"
CACHE = Path("/var/cache/baseliner/test-image")
SUITE = "bookworm"
AGENT_UID = 1000  # fleet.backends.container.AGENT_UID
# Everything that shapes the image; its hash names the cached tar and labels the image.
RECIPE = (
    f"debootstrap --variant=minbase --include=python3 {SUITE};"
    f" useradd --uid {AGENT_UID} --user-group --create-home --home-dir /home/agent"
    " --shell /bin/bash agent; ENV LANG=C.UTF-8"
)
RECIPE_HASH = hashlib.sha256(RECIPE.encode()).hexdigest()[:16]

_outcome: str | None = None  # why the image cannot be had, once a build failed this session


def ensure_image() -> str:
    """The image name, built and imported if needed; skips the calling test when podman or
    debootstrap cannot be made to work here, saying why."""
    global _outcome
    if _outcome is not None:
        pytest.skip(_outcome)
    try:
        _ensure()
    except _CannotBuild as exc:
        _outcome = f"no test workspace image: {exc}"
        pytest.skip(_outcome)
    return IMAGE


def sweep_containers() -> None:
    """Remove the workspace containers and folders of this session (and of test sessions that
    died): run ids restart with each test database, so a leftover would block the next run of
    that id. Other installations' containers are never touched."""
    if not shutil.which("podman"):
        return
    names = _sh("podman ps -a --format '{{.Names}}'", check=False).stdout.split()
    folders = [p.name for p in Path(WORKSPACES).glob("*")] if Path(WORKSPACES).is_dir() else []
    doomed = [name for name in names if ours_or_dead(name)]
    if doomed:
        _sh("podman rm -f " + " ".join(map(shlex.quote, doomed)) + " >/dev/null", check=False)
    for name in folders:
        if ours_or_dead(name):
            shutil.rmtree(Path(WORKSPACES) / name, ignore_errors=True)


class _CannotBuild(Exception):
    pass


def _ensure() -> None:
    if os.geteuid() != 0:
        raise _CannotBuild("building it needs root (debootstrap, rootful podman)")
    if not shutil.which("podman"):
        raise _CannotBuild("podman is not installed (scripts/install.sh installs it)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel sessions build it once
        label = _sh(
            f"podman image inspect -f '{{{{index .Labels \"baseliner.recipe\"}}}}' {IMAGE}",
            check=False,
        )
        if label.returncode != 0 or label.stdout.strip() != RECIPE_HASH:
            tar = CACHE / f"rootfs-{RECIPE_HASH}.tar"
            if not tar.exists():
                _build_rootfs(tar)
            _sh(
                f"podman import --change 'LABEL baseliner.recipe={RECIPE_HASH}'"
                f" --change 'ENV LANG=C.UTF-8' {tar} {IMAGE}"
            )
        smoke = _sh(f"podman run --rm --pull never {IMAGE} id agent", check=False)
        if smoke.returncode != 0:
            raise _CannotBuild(
                f"podman cannot run it ({smoke.stderr.strip()[-300:]}); scripts/install.sh"
                " writes the /etc/containers/containers.conf this machine needs"
            )


def _build_rootfs(tar: Path) -> None:
    if not shutil.which("debootstrap"):
        _sh("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap", check=False)
        if not shutil.which("debootstrap"):
            raise _CannotBuild("debootstrap is missing and apt-get could not install it")
    rootfs = CACHE / f"rootfs-{RECIPE_HASH}"
    shutil.rmtree(rootfs, ignore_errors=True)
    try:
        _sh(
            f"debootstrap --variant=minbase --include=python3 {SUITE} {rootfs} {debian_mirror()}",
            timeout=900,
        )
        _sh(
            f"chroot {rootfs} useradd --uid {AGENT_UID} --user-group --create-home"
            f" --home-dir /home/agent --shell /bin/bash agent"
            f" && rm -rf {rootfs}/var/cache/apt/archives/*.deb {rootfs}/var/lib/apt/lists/*"
            f" && tar --numeric-owner -C {rootfs} -cf {tar}.part . && mv {tar}.part {tar}"
        )
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses for ``SUITE`` (the only one reachable here)."""
    listed = Path("/etc/apt/sources.list.d")
    paths = [Path("/etc/apt/sources.list"), *sorted(listed.glob("*.list"))]
    for path in [*paths, *sorted(listed.glob("*.sources"))]:
        text = path.read_text() if path.exists() else ""
        if path.suffix == ".sources":  # deb822 stanzas
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
                if (
                    "deb" in fields.get("Types", "").split()
                    and SUITE in fields.get("Suites", "").split()
                ):
                    return fields["URIs"].split()[0]
        for match in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", text, re.M):
            if match.group(2) == SUITE:
                return match.group(1)
    raise _CannotBuild(f"no Debian {SUITE} mirror in /etc/apt/sources.list*")


def _sh(command: str, *, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(
            command, shell=True, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise _CannotBuild(f"`{command[:100]}` took over {timeout:g} s") from exc
    if check and result.returncode != 0:
        raise _CannotBuild(f"`{command[:100]}` failed: {result.stderr.strip()[-300:]}")
    return result
