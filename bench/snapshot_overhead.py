"""From a checkpoint's submission to its scoring start, on a warm host: the snapshot of a 100 MB
task folder (``snapshots.take``: tar on the host, streamed into the store, sha256, stored) and
its fresh copy for scoring (``task_runs.scratch_home``: uploaded and extracted by the workspace
user), over the local driver and the ssh driver (sshd on loopback). Goal: ≤ 1 s.

Each repetition changes one small file first, so every snapshot is new content (none reused).

    .venv/bin/python bench/snapshot_overhead.py [REPETITIONS [BIG_FILES]]   # as root (a unix user)
"""

import os
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fleet import snapshots, task_runs
from fleet.backends.common import remove_user
from fleet.drivers.base import Driver
from fleet.drivers.local import LocalDriver
from fleet.drivers.ssh import SSHDriver
from fleet.task_runs import Place
from fleet.testing_sshd import start_sshd

BIG_FILES, BIG_SIZE = 100, 1_000_000
SMALL_FILES, SMALL_SIZE = 1000, 1000
CAP = 500 * snapshots.MB


def fill(home: Path, user: str, big_files: int) -> None:
    """``big_files`` incompressible 1 MB files and 1000 small ones, the user's."""
    for i in range(big_files):
        (home / "weights").mkdir(exist_ok=True)
        (home / "weights" / f"w{i:03d}.bin").write_bytes(os.urandom(BIG_SIZE))
    for i in range(SMALL_FILES):
        folder = home / "src" / f"m{i // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:04d}.py").write_text(secrets.token_hex(SMALL_SIZE // 2))
    subprocess.run(["chown", "-R", f"{user}:{user}", str(home)], check=True)


def once(place: Place, store: Path, gid: int) -> tuple[float, float, int]:
    """Seconds to take a snapshot and to make its scratch home; the snapshot's size."""
    (Path(place.home) / "src" / "m0" / "f0000.py").write_text(secrets.token_hex(SMALL_SIZE // 2))
    began = time.perf_counter()
    snapshot = snapshots.take(place, store, cap_bytes=CAP)
    taken = time.perf_counter()
    scratch = task_runs.scratch_home(place, gid, snapshot.path)
    ready = time.perf_counter()
    place.root(f"rm -rf {shlex.quote(scratch)}", timeout=120)
    snapshot.path.unlink()
    assert not snapshot.reused
    return taken - began, ready - taken, snapshot.size


def bench(label: str, driver: Driver, place_of: Place, store: Path, gid: int, n: int) -> None:
    place = Place(driver, "root", place_of.user, place_of.home, "python3")
    once(place, store, gid)  # warm-up, not counted
    rows = [once(place, store, gid) for _ in range(n)]
    take, extract = [r[0] for r in rows], [r[1] for r in rows]
    total = [a + b for a, b in zip(take, extract, strict=True)]
    print(
        f"| {label} | {rows[0][2] / 1e6:.1f} MB |"
        + " |".join(
            f" {statistics.median(xs):.3f} / {max(xs):.3f} s" for xs in (take, extract, total)
        )
        + " |"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    big_files = int(sys.argv[2]) if len(sys.argv) > 2 else BIG_FILES
    work = Path(tempfile.mkdtemp(prefix="bench-snapshot-"))
    user = f"bl-snap-bench-{secrets.token_hex(3)}"
    home = f"/home/{user}"
    local = LocalDriver()
    # Not add_user's comment: a test session's sweep of stale workspace users would take it.
    local.run(
        f"useradd --create-home --home-dir {home} --user-group --comment 'baseliner bench' {user}"
        f" && chmod 700 {home}"
    )
    sshd = start_sshd(work / "sshd")
    ssh = SSHDriver(sshd.address, sshd.port, sshd.username, sshd.key_path, sshd.host_key_line)
    try:
        fill(Path(home), user, big_files)
        group = f"{task_runs.FAMILY_GROUP_PREFIX}bench"  # a family's group stands in
        gid = int(
            local.run(f"groupadd -f --system {group} && getent group {group} | cut -d: -f3").stdout
        )
        place = Place(local, "root", user, home)
        print(f"{n} repetitions after one warm-up; median / max")
        print("| driver | snapshot | take() | upload + extract | submission to scoring start |")
        print("| --- | --- | --- | --- | --- |")
        bench("local", local, place, work / "store-local", gid, n)
        bench("ssh (loopback sshd)", ssh, place, work / "store-ssh", gid, n)
    finally:
        ssh.close()
        sshd.stop()
        local.run(remove_user(user, home), timeout=60, check=False)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
