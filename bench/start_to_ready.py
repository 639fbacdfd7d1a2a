"""Start-to-IDE-ready on a warm host: from pressing Start (a run row and a start job) until
code-server answers /healthz through the platform's endpoint, for the local host and an SSH host
on loopback. Prints p50/p95 over N starts, and the stop (archive + remove) time.

    .venv/bin/python bench/start_to_ready.py [N]
"""

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import Session

from baselines.runs import Run, RunStatus
from baselines.staff import StaffCreate, create_staff
from baselines.users import Role
from fleet import health, hosts, naming
from fleet.hosts import HostCreate
from fleet.testing_sshd import start_sshd
from timetracking.utc import utcnow
from webapp import db
from webapp.workspace_jobs import WorkspaceJobs


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench(jobs: WorkspaceJobs, engine, expert_id: int, host_name: str, files: Path, n: int):
    with Session(engine) as s:
        for other in hosts.all_hosts(s):
            hosts.set_draining(s, other, other.name != host_name, None, utcnow())
        s.commit()
    starts, stops = [], []
    for _ in range(n):
        with Session(engine) as s:
            run = Run(expert_id=expert_id, environment="bench/main", created_at=utcnow())
            s.add(run)
            s.commit()
            run_id = run.id
        staged = Path(tempfile.mkdtemp(prefix="bench-files-"))
        shutil.copytree(files, staged, dirs_exist_ok=True)  # the start job deletes its copy
        began = time.perf_counter()
        jobs.start(run_id, files=staged)
        jobs.wait(run_id)
        starts.append(time.perf_counter() - began)
        with Session(engine) as s:
            run = s.get(Run, run_id)
            assert run.status == RunStatus.active, run.status_reason
        began = time.perf_counter()
        jobs.stop(run_id)
        jobs.wait(run_id)
        stops.append(time.perf_counter() - began)
    return starts, stops


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    work = Path(tempfile.mkdtemp(prefix="bench-start-"))
    url = f"sqlite:///{work / 'bench.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    files = work / "files"
    files.mkdir()
    (files / "README.md").write_text("# task\n")
    (files / "train.py").write_text("print('hello')\n" * 200)
    sshd = start_sshd(work / "sshd")
    jobs = WorkspaceJobs(engine, work / "data", naming.new_prefix())
    try:
        with Session(engine) as s:
            expert = create_staff(
                s,
                StaffCreate(email="bench@example.org", name="bench", role=Role.analyst),
                None,
                utcnow(),
                password="bench password 1",
            )
            local = hosts.add(s, HostCreate(name="local", driver="local"), "", None, utcnow())
            remote = hosts.add(
                s,
                HostCreate(
                    name="ssh",
                    driver="ssh",
                    address=sshd.address,
                    port=sshd.port,
                    username=sshd.username,
                    key_path=str(sshd.key_path),
                ),
                sshd.host_key_line,
                None,
                utcnow(),
            )
            s.commit()
            for host in (local, remote):
                health.check(s, host, jobs.connections, utcnow())
            expert_id = expert.id
        print(f"# start-to-IDE-ready, {n} starts per host, files: 2 small; {time.strftime('%F')}")
        print(f"{'host':<8} {'start p50 s':>12} {'start p95 s':>12} {'stop p50 s':>11}")
        for name in ("local", "ssh"):
            # One warm-up start, not counted (first code-server start reads its files from disk).
            bench(jobs, engine, expert_id, name, files, 1)
            starts, stops = bench(jobs, engine, expert_id, name, files, n)
            print(
                f"{name:<8} {statistics.median(starts):>12.3f} {percentile(starts, 0.95):>12.3f}"
                f" {statistics.median(stops):>11.3f}"
            )
    finally:
        jobs.close()
        sshd.stop()


if __name__ == "__main__":
    main()
