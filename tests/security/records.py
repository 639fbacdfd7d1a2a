"""Rows and files the security tests start from, made as the portal itself would store them."""

import hashlib
import io
import tarfile
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.runs import Run, RunStatus
from fleet import hosts, snapshots
from fleet.hosts import HostCreate, HostStatus
from timetracking.utc import utcnow

ENVIRONMENT = "warmup/main"


def local_host(engine: Engine) -> int:
    """A ready host record for this machine (the local driver), made once; its id."""
    with Session(engine) as s:
        host = hosts.by_name(s, "local")
        if host is None:
            host = hosts.add(s, HostCreate(name="local", driver="local"), "", None, utcnow())
        host.status, host.status_reason = HostStatus.ready, "ok"
        s.add(host)
        s.commit()
        return host.id


def live_run(
    engine: Engine, expert_id: int, port: int, status: RunStatus = RunStatus.active
) -> int:
    """A run whose IDE is whatever listens on ``port`` on loopback (nothing is started)."""
    host_id = local_host(engine)
    with Session(engine) as s:
        run = Run(
            expert_id=expert_id,
            environment=ENVIRONMENT,
            status=status,
            host_id=host_id,
            port=port,
            created_at=utcnow(),
            started_at=utcnow(),
        )
        s.add(run)
        s.commit()
        return run.id


def tar_of(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    """A tar holding exactly these members (names, links and types as given, however odd)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def file_member(name: str, text: str) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), text.encode()


def link_member(name: str, target: str, *, hard: bool = False) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, b""


def scored_checkpoint(
    engine: Engine, data_dir: Path, run_id: int, seq: int, snapshot: bytes, score: float = 1.5
) -> None:
    """A scored checkpoint whose snapshot is stored where the portal keeps snapshots."""
    sha = hashlib.sha256(snapshot).hexdigest()
    path = snapshots.path_for(data_dir / "snapshots", sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(snapshot)
    with Session(engine) as s:
        s.add(
            Checkpoint(
                run_id=run_id, seq=seq, source="cli", submitted_at=utcnow(),
                working_s=60.0 * seq, snapshot_sha256=sha, snapshot_bytes=len(snapshot),
                status=CheckpointStatus.scored, score=score, valid=True,
            )
        )  # fmt: skip
        s.commit()
