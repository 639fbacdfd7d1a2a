"""What one request of a live session costs the server, and one round of the scheduler's clock
job: SQL statements, time in the database driver, and CPU, measured in-process (no network, no
other client) on the database bench/load.py seeds. Counts do not depend on how busy the machine
is, so they explain bench/load.py's latencies where its timings are noisy.

    .venv/bin/python bench/load_costs.py [--sessions 500] [--history-hours 2] [--db sqlite|postgres]
                                         [--repeat 200]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import load  # noqa: E402  (bench/load.py: the same seed)

from timetracking.utc import utcnow  # noqa: E402
from webapp.app import create_app  # noqa: E402
from webapp.settings import Settings  # noqa: E402


class Meter:
    """Statements and seconds inside the DB driver, counted on the app's engine."""

    def __init__(self, engine) -> None:
        self.statements, self.db_s, self._t = 0, 0.0, 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_a) -> None:
        self._t = time.perf_counter()

    def _after(self, *_a) -> None:
        self.statements += 1
        self.db_s += time.perf_counter() - self._t

    def reset(self) -> None:
        self.statements, self.db_s = 0, 0.0


def measure(meter: Meter, call, repeat: int) -> tuple[float, float, float, float]:
    """Median wall ms, median CPU ms, statements and DB ms per call."""
    walls, cpus = [], []
    meter.reset()
    for i in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        call(i)
        walls.append((time.perf_counter() - w) * 1000)
        cpus.append((time.process_time() - c) * 1000)
    return (
        statistics.median(walls),
        statistics.median(cpus),
        meter.statements / repeat,
        meter.db_s * 1000 / repeat,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--history-hours", type=float, default=2.0)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-load-costs-"))
    pg_name = f"bench_load_costs_{os.getpid()}"
    try:
        if args.db == "sqlite":
            url = f"sqlite:///{work / 'data' / 'baseliner.db'}"
        else:
            url = load.postgres_create(args.pg_url, pg_name)
        seeded = load.seed(url, work, args.sessions, args.history_hours, 16)
        settings = Settings(
            data_dir=work / "data",
            database_url=url,
            secret_key=load.SECRET,
            scheduler=False,
            scoring_worker=False,
        )
        app = create_app(settings)
        meter = Meter(app.state.engine)
        n = len(seeded.run_ids)
        rows = []
        with TestClient(app) as client:

            def bearer(i: int) -> dict:
                return {"Authorization": f"Bearer {seeded.tokens[i % n]}"}

            def ping(i: int) -> None:
                r = client.post("/api/v1/task/activity", json={"kind": "edit"}, headers=bearer(i))
                assert r.status_code == 200, r.text

            def poll(i: int) -> None:
                client.cookies.set("baseliner_session", seeded.cookies[i % n])
                r = client.get(f"/runs/{seeded.run_ids[i % n]}/clock")
                assert r.status_code == 200, r.text

            def status(i: int) -> None:
                r = client.get("/api/v1/task/status", headers=bearer(i))
                assert r.status_code == 200, r.text

            def score(i: int) -> None:
                home = seeded.homes[i % n]
                (home / "solution" / "solution.py").write_text(f"# {i}\n")
                r = client.post("/api/v1/task/checkpoints", json={}, headers=bearer(i))
                assert r.status_code == 202, r.text

            def health(i: int) -> None:
                assert client.get("/healthz").status_code == 200

            for name, call, repeat in (
                ("GET /healthz (no database)", health, args.repeat),
                ("activity ping", ping, args.repeat),
                ("clock poll", poll, args.repeat),
                ("task status", status, args.repeat),
                ("task score (submit)", score, max(10, args.repeat // 4)),
            ):
                call(0)  # warm
                rows.append((name, *measure(meter, call, repeat)))
        # One round of the scheduler's clock job (idle runs and reached limits), over all runs.
        jobs = app.state.scheduler
        meter.reset()
        w, c = time.perf_counter(), time.process_time()
        jobs.clock()
        rows.append(
            (
                f"scheduler clock job, one round ({n} runs)",
                (time.perf_counter() - w) * 1000,
                (time.process_time() - c) * 1000,
                meter.statements,
                meter.db_s * 1000,
            )
        )
        app.state.engine.dispose()
    finally:
        if args.db == "postgres":
            load.postgres_drop(args.pg_url, pg_name)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"# per-request costs, in-process; {args.db}; {n} runs {args.history_hours:g} h old;"
        f" {time.strftime('%F')}; {os.cpu_count()} cores, {load._cpu()};"
        f" load average {os.getloadavg()[0]:.2f}; {utcnow():%H:%M} UTC"
    )
    print(f"{'request':<42} {'wall ms':>8} {'CPU ms':>7} {'SQL':>6} {'execute ms':>10}")
    for name, wall, cpu, sql, db_ms in rows:
        print(f"{name:<42} {wall:>8.2f} {cpu:>7.2f} {sql:>6.1f} {db_ms:>10.2f}")


if __name__ == "__main__":
    main()
