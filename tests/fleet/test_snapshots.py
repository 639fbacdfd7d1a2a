"""Snapshots of a task folder on a host, over both drivers: deterministic, content-addressed,
capped on the host, diffable, and scored on a fresh copy however the live folder changed since."""

import io
import os
import secrets
import shlex
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from environments.catalogue import discover
from fleet import snapshots, task_runs
from fleet.backends.common import remove_user
from fleet.drivers.base import Driver, HostError
from fleet.snapshots import SnapshotTooLarge
from fleet.task_runs import Place, TaskLaunch

FAMILIES = Path(__file__).resolve().parent / "families"
SKEL = {".bash_logout", ".bashrc", ".profile"}  # every new home has them (/etc/skel)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="makes unix users: needs root")


@pytest.fixture
def place(driver: Driver) -> Iterator[Place]:
    """A throwaway workspace user ``bl-snap-…`` with a private home, as a run has."""
    user = f"bl-snap-{secrets.token_hex(4)}"
    home = f"/home/{user}"
    driver.run(make_user(user, home))
    try:
        yield Place(driver, "root", user, home, "python3")
    finally:
        driver.run(remove_user(user, home), timeout=60, check=False)


def make_user(user: str, home: str) -> str:
    """As ``runtimes.add_user`` makes a workspace user, with another comment: a concurrent test
    session's sweep of stale workspace users (tests/conftest.py) must not take this one."""
    home = shlex.quote(home)
    return (
        f"useradd --create-home --home-dir {home} --shell /bin/bash --user-group"
        f" --comment 'baseliner snapshot test' {user} && chmod 700 {home}"
    )


def write(place: Place, files: dict[str, bytes | str]) -> None:
    """Write files into the task folder as its user would have them."""
    for rel, content in files.items():
        path = shlex.quote(f"{place.home}/{rel}")
        data = content.encode() if isinstance(content, str) else content
        place.root(
            f"mkdir -p $(dirname {path}) && cat > {path}"
            f" && chown -R {place.user}: {shlex.quote(place.home)}",
            input=data,
        )


def stored(store: Path) -> list[str]:
    """Every file in the store, temporary ones included."""
    return sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())


def names(snapshot: snapshots.Snapshot) -> set[str]:
    return set(snapshots.listing(snapshot.path)) - SKEL


def take(place: Place, store: Path, **kwargs) -> snapshots.Snapshot:
    return snapshots.take(place, store, cap_bytes=kwargs.pop("cap_bytes", 10 * 10**6), **kwargs)


def test_identical_content_is_stored_once_and_a_change_is_a_new_snapshot(place, tmp_path):
    store = tmp_path / "snapshots"
    write(place, {"solution.py": "x = 1\n", "data/notes.txt": "hello\n"})
    first = take(place, store)
    # Times and the order files were written in do not change the bytes.
    place.root(f"touch -d '2001-01-01' {place.home}/solution.py")
    second = take(place, store)
    assert first.sha256 == second.sha256 and first.size == second.size
    assert (first.reused, second.reused) == (False, True)
    assert first.path == second.path == snapshots.path_for(store, first.sha256)
    assert stored(store) == [f"{first.sha256[:2]}/{first.sha256}.tar"]
    assert names(first) == {"solution.py", "data/notes.txt"}

    write(place, {"solution.py": "x = 2\n"})
    third = take(place, store)
    assert third.sha256 != first.sha256 and not third.reused
    assert len(stored(store)) == 2
    with tarfile.open(third.path) as tar:
        member = tar.getmember("./solution.py")
        assert (member.uid, member.uname, member.mtime) == (0, "", 0)
        assert tar.extractfile(member).read() == b"x = 2\n"


def test_caches_and_the_run_token_are_left_out(place, tmp_path):
    write(
        place,
        {
            "train.py": "print(1)\n",
            ".cache/pip/wheel": "w",
            "pkg/__pycache__/m.cpython-311.pyc": "c",
            "pkg/m.pyc": "c",
            "pkg/m.py": "m = 1\n",
            ".baseliner/token": "secret-token",
            ".bash_history": "ls\n",
            ".cachefile": "kept: only the name .cache is left out",
            "data/raw/big.bin": "raw",
            "other/data/raw/kept.bin": "kept: the pattern is anchored",
        },
    )
    excludes = snapshots.excludes_with(" data/raw , ")
    snapshot = take(place, tmp_path, excludes=excludes)
    assert names(snapshot) == {".cachefile", "other/data/raw/kept.bin", "pkg/m.py", "train.py"}
    assert b"secret-token" not in snapshot.path.read_bytes()


def test_a_folder_over_the_cap_is_refused_on_the_host(place, tmp_path):
    store = tmp_path / "snapshots"
    write(place, {"weights.bin": os.urandom(300_000), ".cache/big": os.urandom(300_000)})
    with pytest.raises(SnapshotTooLarge) as caught:
        take(place, store, cap_bytes=200_000)
    assert caught.value.message == (
        "The task folder is larger than the snapshot limit of 0.2 MB (caches such as .cache"
        " and __pycache__ are left out); delete large files you do not need."
    )
    assert stored(store) == []  # no temporary file left behind
    # Under the cap (the cache is left out, so it does not count) the same folder is taken.
    assert take(place, store, cap_bytes=400_000).size <= 400_000
    extra = SnapshotTooLarge(500 * snapshots.MB, snapshots.excludes_with("data/raw"))
    assert "limit of 500 MB" in extra.message and "as are data/raw" in extra.message


def test_the_diff_names_each_change_with_a_unified_diff(place, tmp_path):
    write(
        place,
        {
            "solution.py": "def answer():\n    return 0.25\n",
            "old.txt": "going\n",
            "model.bin": b"\0\1\2",
            "same.txt": "same\n",
        },
    )
    before = take(place, tmp_path)
    place.root(f"rm {place.home}/old.txt && chmod 755 {place.home}/same.txt")
    write(
        place,
        {"solution.py": "def answer():\n    return 1.0\n", "new.txt": "hi\n", "model.bin": b"\0\3"},
    )
    after = take(place, tmp_path)
    changes = {c.path: c for c in snapshots.diff(before.path, after.path)}
    assert {path: c.kind for path, c in changes.items()} == {
        "model.bin": "binary",
        "new.txt": "added",
        "old.txt": "removed",
        "same.txt": "modified",
        "solution.py": "modified",
    }
    assert changes["solution.py"].diff.splitlines()[:2] == [
        "--- a/solution.py",
        "+++ b/solution.py",
    ]
    assert "-    return 0.25\n+    return 1.0\n" in changes["solution.py"].diff
    assert changes["new.txt"].diff.startswith("--- /dev/null\n+++ b/new.txt\n")
    assert "+hi" in changes["new.txt"].diff and "-going" in changes["old.txt"].diff
    assert changes["same.txt"].diff == "mode 644 -> 755\n"
    assert changes["model.bin"].diff == "changed (binary): 3 bytes -> 2 bytes\n"
    assert not any(c.truncated for c in changes.values())
    assert snapshots.diff(after.path, after.path) == []


def _tar(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return path


def test_diffs_are_cut_at_their_limits(tmp_path):
    long_a = "".join(f"line {i}\n" for i in range(5000))
    long_b = "".join(f"LINE {i}\n" for i in range(5000))
    a = _tar(tmp_path / "a.tar", {"big.txt": long_a, "z.txt": "a\n"})
    b = _tar(tmp_path / "b.tar", {"big.txt": long_b, "z.txt": "b\n"})
    big, small = snapshots.diff(a, b)
    assert big.truncated and len(big.diff.splitlines()) == snapshots.DIFF_LINES_PER_FILE
    assert not small.truncated
    tight = snapshots.diff(a, b, max_bytes=1000)
    assert tight[0].truncated and len(tight[0].diff.encode()) <= 1000
    assert tight[0].diff.endswith("\n")
    assert tight[1] == snapshots.FileChange("z.txt", "modified", "", True)  # budget spent


def test_path_for_takes_only_a_sha256(tmp_path):
    sha = "ab" * 32
    assert snapshots.path_for(tmp_path, sha) == tmp_path / "ab" / f"{sha}.tar"
    with pytest.raises(ValueError):
        snapshots.path_for(tmp_path, "../../etc/passwd")


# -- scoring a snapshot ----------------------------------------------------------------------

# The score says whether the scorer saw the snapshot's files as the workspace user's, in a
# folder of root's and the family's group (mode 0710: passable, not listable).
OWNED = """import os, pwd
def answer():
    home = os.path.dirname(__file__)
    mine = pwd.getpwuid(os.stat(__file__).st_uid).pw_name == os.environ["BASELINER_SCORING_USER"]
    folder = os.stat(os.path.dirname(home))
    guarded = (folder.st_uid, folder.st_gid, folder.st_mode & 0o777) == (
        0, int(os.environ["BASELINER_PROTECTED_GID"]), 0o710)
    return {value} if mine and guarded else -1.0
"""


@pytest.fixture
def probe() -> TaskLaunch:
    family = next(f for f in discover(str(FAMILIES)).families if f.name == "probe")
    return TaskLaunch(family, "main", 0, True, ("reference/",))


def _install(driver: Driver, probe: TaskLaunch) -> task_runs.Installed:
    return task_runs.install(
        driver, "root", probe.family, leave_out=["reference/"], python="python3", task="main"
    )


def test_a_snapshot_is_scored_not_the_live_folder(driver, place, probe, tmp_path):
    installed = _install(driver, probe)
    task_runs.start(place, installed, "main")
    write(place, {"solution.py": OWNED.format(value=0.75)})
    snapshot = take(place, tmp_path)
    write(place, {"solution.py": "def answer():\n    return 0.0\n"})  # the expert works on

    scored = task_runs.score(place, installed, "main", fresh_copy=True, snapshot=snapshot.path)
    assert (scored.status, scored.score) == ("scored", 0.75), scored.message
    home = scored.details["home"].rsplit("/", 1)[0]
    assert home.startswith(task_runs.SCORING)
    assert driver.run(f"test -e {shlex.quote(home)}", check=False).exit_status != 0  # removed
    live = task_runs.score(place, installed, "main", fresh_copy=True)
    assert live.score == 0.0


def test_a_snapshot_that_cannot_be_extracted_leaves_nothing(driver, place, probe, tmp_path):
    installed = _install(driver, probe)
    broken = tmp_path / "broken.tar"
    broken.write_bytes(b"not a tar" * 2000)
    before = _scratch_folders(driver)
    with pytest.raises(HostError):
        task_runs.score(place, installed, "main", fresh_copy=True, snapshot=broken)
    assert _scratch_folders(driver) == before  # the scratch folder it made is gone


def _scratch_folders(driver) -> set[str]:
    listing = driver.run(f"mkdir -p {task_runs.SCORING} && ls -A {task_runs.SCORING}").stdout
    return set(listing.split())


# -- the container runtime ---------------------------------------------------------------------


@pytest.fixture
def container_place(ssh_driver, probe) -> Iterator[tuple[Place, task_runs.Installed]]:
    """A container of the test image that sleeps, as ``env check`` makes (named bl-snap-…)."""
    from tests.container_image import ensure_image

    image = ensure_image()
    installed = task_runs.install(ssh_driver, "root", probe.family, leave_out=["reference/"])
    name = f"bl-snap-{secrets.token_hex(4)}"
    ssh_driver.run(
        f"podman run -d --name {name} --pull never --network host --user 1000:1000"
        f" -v {installed.root}:{installed.root}:ro {image} sleep infinity",
        timeout=120,
    )
    try:
        yield (
            Place(ssh_driver, "root", "agent", "/home/agent", "python3", name, "podman"),
            installed,
        )
    finally:
        ssh_driver.run(f"podman rm -f -t 0 {name}", timeout=60, check=False)


def test_snapshots_in_a_container(container_place, tmp_path):
    place, installed = container_place
    task_runs.start(place, installed, "main", run_install=True)
    write(place, {"solution.py": OWNED.format(value=0.5), ".cache/x": "cached"})
    snapshot = take(place, tmp_path)
    assert names(snapshot) == {"solution.py", "INSTRUCTIONS.md"}
    assert take(place, tmp_path).reused
    write(place, {"solution.py": "def answer():\n    return 0.0\n"})
    scored = task_runs.score(place, installed, "main", fresh_copy=True, snapshot=snapshot.path)
    assert (scored.status, scored.score) == ("scored", 0.5), scored.message
