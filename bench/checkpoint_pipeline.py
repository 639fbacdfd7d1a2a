"""How fast the checkpoint pipeline is, end to end, on this machine (the embedded default).

Two figures, on a real workspace of the probe family (tests/fleet/families: a trivial scorer):

1. Submission to scoring start for a task folder of about 100 MB: the time from the moment the
   expert asks (the API call begins) to the moment the worker has claimed the checkpoint, its
   snapshot taken, stored and queued on the way (goal: at most 1 s on a warm host).
2. Checkpoints a minute the pipeline sustains with a trivial scorer: N submitted back to back
   while the worker scores them; the rate is N over the time until the last one is scored.

It makes its own SQLite database and data dir in a temporary folder and removes the workspace
afterwards. Run as root (workspaces are unix users):

    .venv/bin/python bench/checkpoint_pipeline.py [--checkpoints 30] [--megabytes 100]
"""

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

from baselines import checkpointing, checkpoints  # noqa: E402
from baselines.checkpoints import CheckpointStatus  # noqa: E402
from baselines.runs import Run  # noqa: E402
from baselines.users import Role, User  # noqa: E402
from fleet import health, hosts  # noqa: E402
from fleet.hosts import HostCreate  # noqa: E402
from timetracking.utc import utcnow  # noqa: E402
from webapp.app import create_app  # noqa: E402
from webapp.settings import Settings  # noqa: E402

FAMILIES = ROOT / "tests" / "fleet" / "families"


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _start_run(app) -> Run:
    with Session(app.state.engine) as s:
        host = hosts.add(s, HostCreate(name="local", driver="local"), "", None, utcnow())
        s.commit()
        health.check(s, host, app.state.workspaces.connections, utcnow())
        expert = User(email="bench@example.org", name="Bench", role=Role.expert,
                      password_hash="x", created_at=utcnow())  # fmt: skip
        s.add(expert)
        s.commit()
        run = Run(expert_id=expert.id, environment="probe/main", created_at=utcnow())
        s.add(run)
        s.commit()
        task = checkpointing.run_task(s, app.state.settings, run)
        run_id = run.id
    app.state.workspaces.start(run_id, task.launch)
    app.state.workspaces.wait(run_id, timeout=120)
    with Session(app.state.engine) as s:
        run = s.get(Run, run_id)
        assert run.status == "active", run.status_reason
        s.expunge(run)
        return run


def _submit(app, run_id: int) -> int:
    with Session(app.state.engine) as s:
        row = checkpointing.submit(
            s, app.state.settings, app.state.workspaces.connections, s.get(Run, run_id),
            source="cli", now=utcnow(),
        )  # fmt: skip
        app.state.scoring.wake()
        return row.seq


def _wait_claimed(app, run_id: int, seq: int, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(app.state.engine) as s:
            row = checkpoints.get(s, run_id, seq)
            if row.status != CheckpointStatus.queued:
                return time.monotonic()
        time.sleep(0.002)
    raise TimeoutError(f"checkpoint {seq} was not claimed within {timeout:g} s")


def _wait_scored(app, run_id: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(app.state.engine) as s:
            if not checkpoints.pending(s, run_id):
                return
        time.sleep(0.01)
    raise TimeoutError("the queue did not empty")


def _fill(home: Path, user: str, megabytes: int) -> None:
    """About ``megabytes`` MB of incompressible files: 1 MB ones and a thousand small ones."""
    data = home / "data"
    (data / "small").mkdir(parents=True, exist_ok=True)
    for i in range(megabytes):
        (data / f"blob-{i:03d}.bin").write_bytes(os.urandom(1_000_000))
    for i in range(1000):
        (data / "small" / f"f{i:04d}.txt").write_text(f"{i}\n" * 20)
    shutil.chown(data, user, user)
    for path in data.rglob("*"):
        shutil.chown(path, user, user)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=30)
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: workspaces are unix users")
    tmp = Path(tempfile.mkdtemp(prefix="baseliner-bench-"))
    settings = Settings(
        data_dir=tmp / "data",
        database_url=f"sqlite:///{tmp / 'bench.db'}",
        secret_key="bench-secret",
        environment_dirs=str(FAMILIES),
        scheduler=False,
        scoring_worker=False,
    )
    app = create_app(settings)
    app.state.scoring.poll_s = 0.05
    app.state.scoring.start()
    run = _start_run(app)
    home = Path(run.workspace_path)
    try:
        # 2. Throughput with a trivial scorer (the probe family's starting answer).
        started = time.monotonic()
        for _ in range(args.checkpoints):
            _submit(app, run.id)
        submitted = time.monotonic()
        _wait_scored(app, run.id)
        done = time.monotonic()
        rate = args.checkpoints / (done - started) * 60
        with Session(app.state.engine) as s:
            rows = checkpoints.log(s, run.id)
            scoring = [r.scoring_seconds for r in rows]
            assert all(r.status == CheckpointStatus.scored for r in rows)

        # 1. Submission to scoring start with a ~100 MB task folder, warm host.
        _fill(home, run.unix_user, args.megabytes)
        latencies = []
        for i in range(args.repeats):
            (home / "solution.py").write_text(f"def answer():\n    return 0.{i + 1}\n")
            began = time.monotonic()
            seq = _submit(app, run.id)
            claimed = _wait_claimed(app, run.id, seq)
            latencies.append(claimed - began)
            _wait_scored(app, run.id)
        with Session(app.state.engine) as s:
            size = checkpoints.log(s, run.id)[-1].snapshot_bytes
    finally:
        with Session(app.state.engine) as s:
            app.state.workspaces.request_stop(s, s.get(Run, run.id), "bench over")
        app.state.workspaces.wait(run.id, timeout=120)
        app.state.scoring.close()
        app.state.workspaces.close()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"machine: {os.cpu_count()} cores, {_cpu()}; {platform.platform()}")
    print(f"throughput: {args.checkpoints} checkpoints submitted in {submitted - started:.2f} s,"
          f" all scored after {done - started:.2f} s: {rate:.0f} checkpoints a minute"
          f" (scoring itself: median {statistics.median(scoring):.3f} s)")  # fmt: skip
    print(f"submission to scoring start, {size / 1e6:.1f} MB snapshot, {args.repeats} repeats:"
          f" median {statistics.median(latencies):.3f} s, max {max(latencies):.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
