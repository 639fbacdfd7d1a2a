"""The data dir fills up: a checkpoint is refused with a clear reason (507), nothing half-made is
left (no partial snapshot, no checkpoint row, the clock not paused for scoring), and once there
is room again the next checkpoint is taken and queued as usual.

The snapshot store is a real 1 MiB tmpfs mounted over data_dir/snapshots, filled but for a few
KiB, so the snapshot's tar runs out of space part way through, as on a full disk.
"""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from baselines import checkpointing, run_tokens
from baselines.checkpoints import Checkpoint
from baselines.runs import Run
from timetracking import pauses
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def full_store(settings) -> Iterator[Path]:
    """data_dir/snapshots on a 1 MiB tmpfs holding a filler that leaves 8 KiB free."""
    store = checkpointing.snapshot_store(settings)
    store.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(store)], check=True)
    try:
        filler = store / "filler"
        with filler.open("wb") as f:
            f.write(b"\0" * (1024 * 1024 - 8 * 1024))
        yield store
    finally:
        subprocess.run(["umount", "-l", str(store)], check=False)


def _make_big(run: Run) -> None:
    """A task folder far bigger than the room left (the expert's data set, say)."""
    big = Path(run.workspace_path) / "data.bin"
    big.write_bytes(os.urandom(256 * 1024))
    os.chown(big, *_owner(run))


def _owner(run: Run) -> tuple[int, int]:
    stat = Path(run.workspace_path).stat()
    return stat.st_uid, stat.st_gid


def test_a_full_data_dir_refuses_the_checkpoint_and_leaves_nothing_half_made(
    app, engine, live_run, full_store
):
    _make_big(live_run)
    with Session(engine) as s:
        token = run_tokens.issue(s, live_run.id, utcnow())
        s.commit()
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})

    refused = client.post("/api/v1/task/checkpoints", json={})
    assert refused.status_code == 507, refused.text
    detail = refused.json()["detail"]
    assert "no room" in detail and "Your work is safe" in detail
    assert sorted(p.name for p in full_store.iterdir()) == ["filler"]  # no partial snapshot
    with Session(engine) as s:
        assert s.exec(select(Checkpoint).where(Checkpoint.run_id == live_run.id)).all() == []
        assert pauses.paused_by(s, live_run.id) == []  # the clock runs on

    (full_store / "filler").unlink()
    taken = client.post("/api/v1/task/checkpoints", json={})
    assert taken.status_code == 202, taken.text
    with Session(engine) as s:
        (row,) = s.exec(select(Checkpoint).where(Checkpoint.run_id == live_run.id)).all()
        assert (full_store / row.snapshot_sha256[:2]).is_dir()
