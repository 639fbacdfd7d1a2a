"""Putting the ``task`` command on a host and pointing a workspace at the portal, through both
drivers: after ``install_on_host`` and ``configure`` a workspace user runs ``task`` from
its version's folder (/opt/baseliner/task-command/<hash>/bin), its token is private to it,
and the command reaches a stand-in portal through the driver's reverse port (for ssh, a real
OpenSSH remote forward)."""

import os
import secrets
import shlex
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.backends.common import add_user, remove_user
from fleet.drivers.base import Driver
from fleet.drivers.local import LocalDriver
from fleet.host_packages import MARKER
from fleet.task_command import install
from fleet.task_command.install import (
    configure,
    install_on_host,
    package_dir,
    portal_url,
    update_url,
)
from fleet.task_runs import Place
from tests.fleet.fake_portal import FakePortal

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="making unix users needs root")

TERMINAL_PATH = f"{install.bin_dir()}:/usr/local/bin:/usr/bin:/bin"


@pytest.fixture
def user(driver: Driver) -> Iterator[tuple[str, str]]:
    """A scratch workspace user (``bl-tcmd-<hex>``) made as the runtimes make theirs."""
    name = f"bl-tcmd-{secrets.token_hex(4)}"
    home = f"/home/{name}"
    driver.run(add_user(name, home))
    try:
        yield name, home
    finally:
        driver.run(remove_user(name, home), check=False)


@pytest.fixture
def portal() -> Iterator[FakePortal]:
    server = FakePortal().start()
    yield server
    server.stop()


def _as(user: str, command: str) -> subprocess.CompletedProcess:
    """``command`` as ``user`` from a clean environment, as a workspace terminal runs it."""
    return subprocess.run(
        ["runuser", "-u", user, "--", "env", "-i", f"PATH={TERMINAL_PATH}", "LANG=C.UTF-8",
         f"HOME=/home/{user}" if user != "nobody" else "HOME=/", "sh", "-c", command],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip


def test_a_workspace_user_runs_task_and_only_it_reads_the_token(
    driver: Driver, user: tuple[str, str], portal: FakePortal
) -> None:
    name, home = user
    assert install_on_host(driver, "root") == f"{package_dir()}/bin"
    port = driver.reverse_port(("127.0.0.1", portal.server.server_address[1]))
    configure(Place(driver, "root", name, home), portal_url(port), portal.token)

    helped = _as(name, "task --help")
    assert helped.returncode == 0, helped.stderr
    assert "score the task folder as it is now" in helped.stdout

    status = _as(name, "task status")  # the settings in ~/.baseliner, the portal through port
    assert status.returncode == 0, status.stderr
    assert "Clock: running" in status.stdout
    assert portal.requests("GET", "/status")[0].authorization == f"Bearer {portal.token}"

    folder = Path(home, ".baseliner")
    assert _mode_and_owner(folder) == ("700", name)
    assert _mode_and_owner(folder / "token") == ("600", name)
    assert _mode_and_owner(folder / "url") == ("600", name)
    assert (folder / "token").read_text() == portal.token
    assert (folder / "url").read_text() == portal_url(port) + "\n"
    other = _as("nobody", f"cat {shlex.quote(str(folder / 'token'))}")
    assert other.returncode != 0 and "Permission denied" in other.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["token", "url"]  # no temporary left


def test_the_package_is_root_owned_and_world_readable(driver: Driver) -> None:
    install_on_host(driver, "root")
    target = Path(package_dir())
    assert _mode_and_owner(target) == ("755", "root")
    assert _mode_and_owner(target / "task_command" / "client.py") == ("644", "root")
    assert not (target / "task_command" / "install.py").exists()  # the portal's half stays here
    assert _mode_and_owner(target / "bin" / "task") == ("755", "root")
    assert str(target) in (target / "bin" / "task").read_text()


def test_installing_again_changes_nothing(driver: Driver) -> None:
    install_on_host(driver, "root")
    marker, script = Path(package_dir(), MARKER), Path(install.bin_dir(), "task")
    before = (marker.stat().st_mtime_ns, script.stat().st_ino)
    install_on_host(driver, "root")
    assert (marker.stat().st_mtime_ns, script.stat().st_ino) == before


def test_another_version_leaves_this_ones_command_alone(
    driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two installations of different versions on one host (another checkout, a staging
    portal): each workspace keeps the ``task`` of the version that started it."""
    install_on_host(driver, "root")
    ours = Path(install.bin_dir(), "task")
    before = ours.read_bytes()
    monkeypatch.setattr(install, "package_hash", lambda: "0" * 16)
    try:
        theirs = install_on_host(driver, "root")
        assert theirs == f"{install.PACKAGES}/{'0' * 16}/bin" != str(ours.parent)
        assert ours.read_bytes() == before
    finally:
        subprocess.run(["rm", "-rf", f"{install.PACKAGES}/{'0' * 16}"], check=True)


def test_configure_again_replaces_both(
    driver: Driver, user: tuple[str, str], portal: FakePortal
) -> None:
    name, home = user
    place = Place(driver, "root", name, home)
    configure(place, "http://127.0.0.1:1", "blr_old")
    install_on_host(driver, "root")
    configure(place, portal.url, portal.token)
    assert Path(home, ".baseliner", "url").read_text() == portal.url + "\n"
    assert _mode_and_owner(Path(home, ".baseliner", "token")) == ("600", name)
    assert _as(name, "task instructions").stdout == "Make the prefix sum fast.\n"


def test_update_url_points_at_a_new_port_and_keeps_the_token(
    driver: Driver, user: tuple[str, str], portal: FakePortal
) -> None:
    """After a reconnect the forwarded port may change: this is how a live run learns it."""
    name, home = user
    place = Place(driver, "root", name, home)
    install_on_host(driver, "root")
    configure(place, "http://127.0.0.1:1", portal.token)
    # Nothing listens on port 1 (and the command is told not to wait for a portal to come back).
    assert _as(name, "BASELINER_TASK_FAILOVER_S=0 task status").returncode == 2
    update_url(place, portal.url)
    assert Path(home, ".baseliner", "token").read_text() == portal.token
    assert _mode_and_owner(Path(home, ".baseliner", "url")) == ("600", name)
    assert _as(name, "task status").returncode == 0


def test_configure_refuses_what_would_not_work() -> None:
    place = Place(LocalDriver(), "root", "nobody", "/nonexistent")
    with pytest.raises(ValueError, match="not a portal URL"):
        configure(place, "127.0.0.1:8000", "blr_x")
    with pytest.raises(ValueError, match="not a portal URL"):
        configure(place, "http://127.0.0.1:8000\nevil", "blr_x")
    with pytest.raises(ValueError, match="one word"):
        configure(place, "http://127.0.0.1:8000", "blr_x y")


def test_two_starts_at_once_install_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs starting on one host both install; each copies into a folder of its own and
    the first rename wins (checked in a scratch folder, not the machine's /opt/baseliner)."""
    monkeypatch.setattr(install, "PACKAGES", str(tmp_path / "task-command"))
    driver = LocalDriver()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(install_on_host(driver, "root")))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    folder = tmp_path / "task-command" / install.package_hash()
    assert results == [str(folder / "bin")] * 3
    assert [p.name for p in (tmp_path / "task-command").iterdir()] == [folder.name]
    assert sorted(p.name for p in (folder / "bin").iterdir()) == ["task"]
    help_text = subprocess.run(
        [str(folder / "bin" / "task"), "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: task" in help_text.stdout


def test_a_container_workspace_runs_task_with_the_images_python(portal: FakePortal) -> None:
    """The container shares the host's network, so the same loopback URL reaches the portal;
    the package and bin folders are mounted read-only at the same paths."""
    from tests.container_image import ensure_image

    image = ensure_image()
    driver = LocalDriver()
    install_on_host(driver, "root")
    name = f"bl-tcmd-{secrets.token_hex(4)}"
    mounts = [arg for path in install.MOUNTS for arg in ("-v", f"{path}:{path}:ro")]
    subprocess.run(
        ["podman", "run", "-d", "--name", name, "--pull", "never", "--network", "host",
         "--user", "1000:1000", *mounts, image, "sleep", "300"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    try:
        place = Place(driver, "root", "agent", "/home/agent", container=name, engine="podman")
        configure(place, portal.url, portal.token)
        result = subprocess.run(
            ["podman", "exec", "--user", "agent", "-e", f"PATH={TERMINAL_PATH}", name,
             "sh", "-c", "cd /home/agent && task status && stat -c '%a %U' .baseliner/token"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "Clock: running" in result.stdout
        assert result.stdout.splitlines()[-1] == "600 agent"
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, timeout=60)


def _mode_and_owner(path: Path) -> tuple[str, str]:
    import pwd

    info = path.stat()
    return oct(info.st_mode & 0o777)[2:], pwd.getpwuid(info.st_uid).pw_name
