"""Load: N simulated live sessions against one `baseliner serve` process, on SQLite and PostgreSQL.

Each simulated session is what a live expert's workspace and browser send to the portal:

- the editor extension's activity ping, ``POST /api/v1/task/activity`` with the run's token, once
  a minute (fleet/editor_extension/extension.js: INTERVAL_MS = 60 s);
- the run page's clock poll, ``GET /runs/{id}/clock`` as the signed-in expert (cookie session),
  every 30 s (templates/static/clock.js: setInterval 30000);
- ``task status`` (``GET /api/v1/task/status``), on average every --status-every seconds;
- ``task score`` on average every --checkpoint-every seconds: ``POST /api/v1/task/checkpoints``
  (the real path: a tar of the run's task folder through the local driver into the snapshot
  store, a queued checkpoint, the clock's scoring pause), after one file of the folder changed;
  then the command's long poll ``GET /api/v1/task/checkpoints/{seq}?wait=30``, held for up to
  --score-wait seconds (re-asked as the command does while it stays pending).

The pings and polls run at a fixed period from a random phase (as the timers do); status and
score at exponential intervals (people). Requests are sent open-loop at their planned times, each
as its own task, so a slow server does not lower the offered load. Latency is measured from the
request's send to the full response read. By default the rate is the REAL one (--rate-scale 1):
the figures are 500 sessions' steady state for --seconds; --rate-scale k compresses time k-fold
(every interval divided by k).

The server is a real child process (`baseliner serve`), scheduler on (host health, the idle and
limit clock jobs, timesheet rollover) as in production, scoring worker OFF
(BASELINER_SCORING_WORKER=false): checkpoints only queue, so this measures the portal answering,
not the scorer, and the long polls all run to their limit. The database is seeded first: one
local-driver host (this machine, process runtime, as root), N experts each with an assignment of
triton_cumsum/main and an active run started --history-hours ago with a run token, a small real
task folder under the bench's temporary folder, and the history such a run has by then (activity
rows per minute from the extension and the IDE, a checkpoint with its scoring pause every 6
minutes). Session cookies are signed with the server's secret exactly as its SessionMiddleware
signs them after a sign-in (the bench does not time 500 password checks).

PostgreSQL: a fresh database bench_load_<pid> on --pg-url (trust auth), dropped afterwards.
The server logs JSON (BASELINER_LOG_FORMAT=json) so each access line's duration_ms gives the
app's own time ("app" columns). --score-wait 0 leaves the long poll out; --raw writes every
request (kind, Unix send time, latency, outcome) to a CSV; --profile samples the server with
py-spy (`pip install py-spy`); --serve starts another command instead, to try a change.

    .venv/bin/python bench/load.py [--sessions 500] [--seconds 120] [--db sqlite|postgres|both]
                                   [--rate-scale 1] [--score-wait 30] [--raw PREFIX]
                                   [--profile PREFIX] [--serve COMMAND] [--keep]
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import itsdangerous
from sqlalchemy import create_engine, insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from baselines.assignments import Assignment  # noqa: E402
from baselines.checkpoints import Checkpoint  # noqa: E402
from baselines.run_tokens import PREFIX, RunToken  # noqa: E402
from baselines.runs import Run  # noqa: E402
from baselines.users import User  # noqa: E402
from fleet.hosts import Host  # noqa: E402
from timetracking.activity import Activity  # noqa: E402
from timetracking.pauses import Pause  # noqa: E402
from webapp import db  # noqa: E402

BIN = Path(sys.executable).parent / "baseliner"
ENVIRONMENT = "triton_cumsum/main"
TIME_LIMIT_S = 8 * 3600
PING_S, POLL_S = 60.0, 30.0  # the extension's and the page's real periods
WAIT_MAX_S = 30  # the longest the portal holds one long poll (webapp/routes/task_api.py)
TIMEOUT_S = 30.0  # the task command's and a patient browser's limit
SECRET = "bench-load-secret"
KINDS = ("activity ping", "clock poll", "task status", "task score (submit)")
WAIT = "task score (long poll)"
EXPECTED = {KINDS[0]: 200, KINDS[1]: 200, KINDS[2]: 200, KINDS[3]: 202, WAIT: 200}


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the database ------------------------------------------------------------------------------


@dataclass
class Seeded:
    run_ids: list[int]
    tokens: list[str]
    cookies: list[str]
    homes: list[Path]


def session_cookie(uid: int, epoch: int = 0) -> str:
    """What Starlette's SessionMiddleware sets after webapp.auth.sessions.sign_in."""
    data = base64.b64encode(json.dumps({"uid": uid, "epoch": epoch}).encode())
    return itsdangerous.TimestampSigner(SECRET).sign(data).decode()


def make_home(home: Path, i: int, kilobytes: int) -> None:
    """A small real task folder: the family's layout, a few files of about ``kilobytes`` in all."""
    (home / "solution").mkdir(parents=True)
    (home / "solution" / "solution.py").write_text(f"# run {i}\ndef prefix_sum(x):\n    ...\n")
    (home / "notes.md").write_text(f"# notes of session {i}\n")
    chunk = max(1, kilobytes // 4)
    for name in ("train.py", "utils.py", "bench.py", "data.txt"):
        (home / name).write_text(f"# {name} {i}\n" + "x = 1\n" * (chunk * 1024 // 6))


def seed(url: str, work: Path, n: int, history_h: float, folder_kb: int) -> Seeded:
    """Schema, one local host, and n experts each with an assignment and an active run with its
    token, its task folder and history (activity, checkpoints and scoring pauses)."""
    db.upgrade(url)
    engine = create_engine(url)
    now = datetime.now(UTC)
    started = now - timedelta(hours=history_h)
    minutes = int(history_h * 60)
    tokens = [PREFIX + os.urandom(24).hex() for _ in range(n)]
    homes = [work / "homes" / f"run-{i}" for i in range(n)]
    for i, home in enumerate(homes):
        make_home(home, i, folder_kb)
    with engine.begin() as c:
        host_id = c.execute(
            insert(Host).returning(Host.id),
            {"name": "local", "driver": "local", "username": "root", "runtime": "process",
             "status": "ready", "status_reason": "ok", "gpus": [], "max_workspaces": n,
             "host_key": "", "address": "", "port": 22, "key_path": "", "image": "",
             "python": "", "draining": False, "created_at": now},
        ).scalar_one()  # fmt: skip
        users = [
            {"email": f"expert{i}@load.example", "name": f"Expert {i}", "role": "expert",
             "password_hash": "not-used", "disabled": False, "session_epoch": 0,
             "created_at": now, "timezone": "UTC"}
            for i in range(n)
        ]  # fmt: skip
        c.execute(insert(User), users)
        uids = [r[0] for r in c.execute(text("SELECT id FROM users ORDER BY id"))][-n:]
        c.execute(
            insert(Assignment),
            [{"expert_id": u, "environment": ENVIRONMENT, "environment_version": "",
              "time_limit_s": TIME_LIMIT_S, "ai_tools": "NO_AI_TOOLS", "status": "assigned",
              "note": "", "retries_granted": 0, "created_at": now} for u in uids],
        )  # fmt: skip
        aids = [r[0] for r in c.execute(text("SELECT id FROM assignments ORDER BY id"))][-n:]
        c.execute(
            insert(Run),
            [{"expert_id": u, "assignment_id": a, "attempt": 1, "environment": ENVIRONMENT,
              "environment_version": "", "cpu_mode": False, "ai_tools": "NO_AI_TOOLS",
              "status": "active", "status_reason": "", "host_id": host_id, "gpu_indices": [],
              "port": 20000 + i, "unix_user": "", "workspace_path": str(homes[i]),
              "runtime": "process", "runtime_state": {"home": str(homes[i])},
              "archive_path": "", "created_at": started, "started_at": started,
              "time_limit_s": TIME_LIMIT_S, "overridden": False}
             for i, (u, a) in enumerate(zip(uids, aids, strict=True))],
        )  # fmt: skip
        rids = [r[0] for r in c.execute(text("SELECT id FROM runs ORDER BY id"))][-n:]
        c.execute(
            insert(RunToken),
            [{"run_id": r, "token_hash": hashlib.sha256(t.encode()).hexdigest(),
              "created_at": started} for r, t in zip(rids, tokens, strict=True)],
        )  # fmt: skip
        # History: an activity row a minute from the extension and from the IDE, up to now.
        for source in ("extension", "ide"):
            rows = [
                {"run_id": r, "minute": started + timedelta(minutes=m),
                 "source": source, "last_at": started + timedelta(minutes=m, seconds=40)}
                for r in rids for m in range(minutes)
            ]  # fmt: skip
            for k in range(0, len(rows), 20000):
                c.execute(insert(Activity), rows[k : k + 20000])
        # A scored checkpoint every 6 minutes, each with its (ended) 60 s scoring pause.
        checkpoints, pauses = [], []
        for r in rids:
            for seq, m in enumerate(range(6, minutes, 6), start=1):
                at = started + timedelta(minutes=m)
                checkpoints.append(
                    {"run_id": r, "seq": seq, "source": "cli", "final": False,
                     "submitted_at": at, "working_s": m * 60.0 - (seq - 1) * 60.0,
                     "snapshot_sha256": hashlib.sha256(f"{r}-{seq}".encode()).hexdigest(),
                     "snapshot_bytes": folder_kb * 1024, "status": "scored", "attempts": 1,
                     "last_error": "", "claimed_at": at, "scored_at": at + timedelta(seconds=60),
                     "scoring_seconds": 60.0, "score": 1.5 - seq / 100,
                     "score_normalized": seq / 100, "valid": True, "comparable": True,
                     "message": {"ms": 4.1}, "details": {"sizes": [1000, 10**8]},
                     "output": "checked 3 sizes; median 4.1 ms\n" * 10}
                )  # fmt: skip
                pauses.append(
                    {"run_id": r, "started_at": at, "ended_at": at + timedelta(seconds=60),
                     "reason": "scoring"}
                )  # fmt: skip
        if checkpoints:
            c.execute(insert(Checkpoint), checkpoints)
            c.execute(insert(Pause), pauses)
    engine.dispose()
    return Seeded(rids, tokens, [session_cookie(u) for u in uids], homes)


def postgres_create(base: str, name: str) -> str:
    import psycopg

    with psycopg.connect(base.replace("+psycopg", "") + "/postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def postgres_drop(base: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base.replace("+psycopg", "") + "/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the server --------------------------------------------------------------------------------


class Server:
    def __init__(self, url: str, data_dir: Path, port: int, log: Path, command: str = "") -> None:
        self.port, self.log = port, log
        self.command = shlex.split(command) if command else [str(BIN), "serve"]
        self.base = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "BASELINER_DATABASE_URL": url,
            "BASELINER_DATA_DIR": str(data_dir),
            "BASELINER_SECRET_KEY": SECRET,
            "BASELINER_PUBLIC_URL": self.base,
            "BASELINER_SCHEDULER": "true",
            "BASELINER_SCORING_WORKER": "false",
            # One JSON object per access line, with the app's own duration_ms (webapp/logs.py).
            "BASELINER_LOG_FORMAT": "json",
        }
        self.env.pop("BASELINER_CONFIG", None)
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command, "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer within {timeout:g} s")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process (all its threads) so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- the sessions ------------------------------------------------------------------------------


@dataclass
class Results:
    latency: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in EXPECTED})
    errors: dict[str, dict[str, int]] = field(default_factory=lambda: {k: {} for k in EXPECTED})
    lag: list[float] = field(default_factory=list)  # planned send time to actual send
    # kind, sent (Unix time), seconds, outcome
    raw: list[tuple[str, float, float, str]] = field(default_factory=list)

    def error(self, kind: str, what: str) -> None:
        self.errors[kind][what] = self.errors[kind].get(what, 0) + 1


@dataclass
class Plan:
    seconds: float
    scale: float
    status_every: float
    checkpoint_every: float
    score_wait: float

    def rates(self, n: int) -> dict[str, float]:
        score = n / self.checkpoint_every * self.scale
        polls_per_score = -(-int(self.score_wait) // WAIT_MAX_S)  # ceil; 0: no long poll
        return {
            KINDS[0]: n / PING_S * self.scale,
            KINDS[1]: n / POLL_S * self.scale,
            KINDS[2]: n / self.status_every * self.scale,
            KINDS[3]: score,
            WAIT: score * polls_per_score,
        }


class Load:
    def __init__(self, base: str, seeded: Seeded, plan: Plan, seed: int = 1) -> None:
        self.base, self.seeded, self.plan = base, seeded, plan
        self.results = Results()
        self.rng = random.Random(seed)
        self.pending: set[asyncio.Task] = set()
        # One TLS context for all clients (never used on http://; building one per client
        # would cost the load generator ~20 ms of CPU each).
        self.tls = ssl.create_default_context()

    def client(self, **kw) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, verify=self.tls, timeout=TIMEOUT_S, **kw)

    async def timed(self, kind: str, planned: float, call, *, held: float = 0.0) -> dict | None:
        """Send at ``planned`` (loop time), record the latency (for a long poll: beyond the
        ``held`` seconds it is meant to be held) or the error; the JSON answer or None."""
        loop = asyncio.get_running_loop()
        delay = planned - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        began, wall = time.perf_counter(), time.time()
        self.results.lag.append(max(0.0, loop.time() - planned))
        try:
            response = await call()
            await response.aread()
        except httpx.TimeoutException:
            self.results.error(kind, "timeout")
            self.results.raw.append((kind, wall, time.perf_counter() - began, "timeout"))
            return None
        except httpx.TransportError as exc:
            self.results.error(kind, type(exc).__name__)
            self.results.raw.append((kind, wall, time.perf_counter() - began, "transport"))
            return None
        elapsed = time.perf_counter() - began
        self.results.raw.append((kind, wall, elapsed - held, str(response.status_code)))
        if response.status_code != EXPECTED[kind]:
            self.results.error(kind, f"HTTP {response.status_code}")
            return None
        self.results.latency[kind].append(max(0.0, elapsed - held))
        try:
            return response.json()
        except ValueError:
            self.results.error(kind, "not JSON")
            return None

    def spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def periodic(self, kind: str, period: float, end: float, start: float, call) -> None:
        period /= self.plan.scale
        at = start + self.rng.uniform(0, period)
        while at < end:
            self.spawn(self.timed(kind, at, call))
            await asyncio.sleep(max(0.0, at - asyncio.get_running_loop().time()))
            at += period

    async def random_times(self, mean: float, end: float, start: float, act) -> None:
        mean /= self.plan.scale
        at = start + self.rng.expovariate(1 / mean)
        while at < end:
            await asyncio.sleep(max(0.0, at - asyncio.get_running_loop().time()))
            self.spawn(act(at))
            at += self.rng.expovariate(1 / mean)

    async def score(self, i: int, task: httpx.AsyncClient, planned: float, end: float) -> None:
        """``task score``: the expert changed a file; submit; then long-poll as the command does."""
        home = self.seeded.homes[i]
        (home / "solution" / "solution.py").write_text(f"# run {i} at {planned}\n")
        answer = await self.timed(
            KINDS[3], planned, lambda: task.post("/api/v1/task/checkpoints", json={})
        )
        if answer is None:
            return
        loop = asyncio.get_running_loop()
        stop = loop.time() + self.plan.score_wait / self.plan.scale
        while (left := min(stop, end) - loop.time()) >= 1:
            wait = min(WAIT_MAX_S, int(left))
            url = f"/api/v1/task/checkpoints/{answer['seq']}?wait={wait}"
            got = await self.timed(
                WAIT, loop.time(), lambda u=url, w=wait: task.get(u, timeout=w + 15), held=wait
            )
            if got is None or got.get("status") not in ("queued", "scoring"):
                return

    async def session(self, i: int, start: float, end: float) -> None:
        token, cookie, run_id = (
            self.seeded.tokens[i],
            self.seeded.cookies[i],
            self.seeded.run_ids[i],
        )
        bearer = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        # The extension and the page: each a client of its own that keeps its connection
        # (uvicorn closes it after 5 s idle, so most requests open a new one, as in production);
        # the task command (urllib) opens a connection per call.
        extension = self.client(headers={**bearer, "User-Agent": "baseliner-activity/1"})
        browser = self.client(cookies={"baseliner_session": cookie})
        task = self.client(
            headers={**bearer, "User-Agent": "baseliner-task/1", "Connection": "close"}
        )
        try:
            await asyncio.gather(
                self.periodic(
                    KINDS[0], PING_S, end, start,
                    lambda: extension.post("/api/v1/task/activity", json={"kind": "edit"}),
                ),
                self.periodic(KINDS[1], POLL_S, end, start,
                              lambda: browser.get(f"/runs/{run_id}/clock")),
                self.random_times(
                    self.plan.status_every, end, start,
                    lambda at: self.timed(KINDS[2], at, lambda: task.get("/api/v1/task/status")),
                ),
                self.random_times(
                    self.plan.checkpoint_every, end, start,
                    lambda at: self.score(i, task, at, end),
                ),
            )  # fmt: skip
            while self.pending:
                await asyncio.gather(*list(self.pending), return_exceptions=True)
        finally:
            for c in (extension, browser, task):
                await c.aclose()

    async def warm_up(self) -> None:
        """One of each request from session 0 (not counted), each checked: the token and the
        session cookie are accepted, and imports and caches are warm."""
        async with self.client() as c:
            h = {"Authorization": f"Bearer {self.seeded.tokens[0]}"}
            cookies = {"baseliner_session": self.seeded.cookies[0]}
            for answer in (
                await c.post("/api/v1/task/activity", json={"kind": "edit"}, headers=h),
                await c.get(f"/runs/{self.seeded.run_ids[0]}/clock", cookies=cookies),
                await c.get("/api/v1/task/status", headers=h),
            ):
                if answer.status_code != 200 or "working_s" not in answer.json():
                    raise RuntimeError(f"{answer.request.url} refused: {answer.status_code}")

    async def run(self) -> float:
        await self.warm_up()
        loop = asyncio.get_running_loop()
        start = loop.time() + 3.0  # the clients are made first
        end = start + self.plan.seconds
        n = len(self.seeded.run_ids)
        await asyncio.gather(*(self.session(i, start, end) for i in range(n)))
        return loop.time() - start


def app_durations(log: Path) -> dict[str, list[float]]:
    """The app's own time per request (ms, until the response started; the access lines'
    duration_ms), by kind: what the server spent, without the client's and the kernel's part."""
    routes = (
        (KINDS[0], "POST", re.compile(r"/api/v1/task/activity$")),
        (KINDS[1], "GET", re.compile(r"/runs/\d+/clock$")),
        (KINDS[2], "GET", re.compile(r"/api/v1/task/status$")),
        (KINDS[3], "POST", re.compile(r"/api/v1/task/checkpoints$")),
    )
    found: dict[str, list[float]] = {k: [] for k in KINDS}
    for line in log.read_text(errors="replace").splitlines():
        if '"uvicorn.access"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        for kind, method, path in routes:
            if entry.get("method") == method and path.match(entry.get("path", "")):
                if "duration_ms" in entry:
                    found[kind].append(entry["duration_ms"])
                break
    return found


# -- the report --------------------------------------------------------------------------------


def table(
    name: str,
    plan: Plan,
    n: int,
    results: Results,
    wall: float,
    cpu: float,
    app: dict[str, list[float]],
) -> list[str]:
    rates = plan.rates(n)
    lines = [
        f"## {name}: {n} sessions, {plan.seconds:g} s at {plan.scale:g} x the real rate"
        f" ({wall:.1f} s until the last answer)",
        f"{'request':<24} {'target/s':>8} {'done/s':>7} {'n':>6} {'p50 ms':>7} {'p95 ms':>7}"
        f" {'p99 ms':>7} {'max ms':>8} {'errors':>6}   {'app p50':>7} {'app p99':>7}",
    ]
    app_all: list[float] = []
    everything: list[float] = []
    errors = 0
    for kind in (*KINDS, WAIT):
        values = [v * 1000 for v in results.latency[kind]]
        failed = sum(results.errors[kind].values())
        label = kind if kind != WAIT else f"{kind} *"
        if kind != WAIT:
            everything += values
            errors += failed
        if values:
            figures = (
                f"{percentile(values, 0.5):>7.1f} {percentile(values, 0.95):>7.1f}"
                f" {percentile(values, 0.99):>7.1f} {max(values):>8.1f}"
            )
        else:
            figures = f"{'-':>7} {'-':>7} {'-':>7} {'-':>8}"
        own = app.get(kind, [])
        app_all += own
        mine = f"   {percentile(own, 0.5):>7.1f} {percentile(own, 0.99):>7.1f}" if own else ""
        lines.append(
            f"{label:<24} {rates[kind]:>8.2f} {len(values) / plan.seconds:>7.2f}"
            f" {len(values):>6} {figures} {failed:>6}{mine}"
        )
    target = sum(v for k, v in rates.items() if k != WAIT)
    lines.append(
        f"{'all (long polls apart)':<24} {target:>8.2f} {len(everything) / plan.seconds:>7.2f}"
        f" {len(everything):>6} {percentile(everything, 0.5):>7.1f}"
        f" {percentile(everything, 0.95):>7.1f} {percentile(everything, 0.99):>7.1f}"
        f" {max(everything):>8.1f} {errors:>6}"
        + (
            f"   {percentile(app_all, 0.5):>7.1f} {percentile(app_all, 0.99):>7.1f}"
            if app_all
            else ""
        )
    )
    lines.append(
        "* the long poll's figures are the time beyond the wait it asked for (it is held by"
        " design; the scorer is off). app: the server's own time until the response started"
        " (its access log's duration_ms)"
    )
    for kind in (*KINDS, WAIT):
        if results.errors[kind]:
            lines.append(f"errors, {kind}: {results.errors[kind]}")
    lag = [v * 1000 for v in results.lag]
    lines.append(
        f"server CPU: {cpu:.1f} s in {wall:.1f} s ({cpu / wall * 100:.0f} % of one core);"
        f" load generator send lag p99 {percentile(lag, 0.99):.1f} ms, max {max(lag):.1f} ms"
    )
    return lines


def one(args, kind: str, plan: Plan) -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    pg_name = f"bench_load_{os.getpid()}"
    server = None
    try:
        if kind == "sqlite":
            url = f"sqlite:///{work / 'data' / 'baseliner.db'}"
        else:
            url = postgres_create(args.pg_url, pg_name)
        began = time.monotonic()
        seeded = seed(url, work, args.sessions, args.history_hours, args.folder_kb)
        print(f"[{kind}] seeded {args.sessions} runs in {time.monotonic() - began:.1f} s",
              file=sys.stderr, flush=True)  # fmt: skip
        server = Server(url, work / "data", free_port(), work / "server.log", args.serve)
        server.start()
        print(f"[{kind}] server pid {server.process.pid} on {server.base}; running"
              f" {plan.seconds:g} s", file=sys.stderr, flush=True)  # fmt: skip
        spy = None
        if args.profile:
            # Sampled for the measured window, without stopping the server (--nonblocking).
            spy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                 str(server.process.pid), "--threads", "--nonblocking", "--rate", "50",
                 "--format", "raw", "--duration", str(int(plan.seconds)),
                 "--output", f"{args.profile}-{kind}.txt"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        cpu0 = server.cpu_seconds()
        load = Load(server.base, seeded, plan)
        wall = asyncio.run(load.run())
        cpu = server.cpu_seconds() - cpu0
        if spy is not None:
            spy.wait(60)
        server.stop()
        log = server.log.read_text(errors="replace")
        app = app_durations(server.log)
        lines = table(kind, plan, args.sessions, load.results, wall, cpu, app)
        if args.raw:
            with open(f"{args.raw}-{kind}.csv", "w") as out:
                out.write("kind,sent_unix_s,latency_ms,outcome\n")
                for k, sent, seconds, outcome in load.results.raw:
                    out.write(f"{k},{sent:.4f},{seconds * 1000:.2f},{outcome}\n")
        tracebacks = log.count("Traceback")
        if tracebacks:
            lines.append(f"server log: {tracebacks} tracebacks ({server.log})")
        return lines
    finally:
        if server is not None:
            server.stop()
        if kind == "postgres":
            postgres_drop(args.pg_url, pg_name)
        if args.keep:
            print(f"[{kind}] kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=120, help="measured duration")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--rate-scale", type=float, default=1.0, help="1: the real rate; k: every interval / k"
    )
    parser.add_argument("--status-every", type=float, default=300, help="mean s between")
    parser.add_argument("--checkpoint-every", type=float, default=300, help="mean s between")
    parser.add_argument(
        "--score-wait", type=float, default=30, help="s a `task score` long-polls (scorer off)"
    )
    parser.add_argument("--history-hours", type=float, default=2.0, help="age of the runs")
    parser.add_argument("--folder-kb", type=int, default=16, help="size of each task folder")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--serve",
        default="",
        help="the command that serves, --port P appended (default: baseliner serve); to try a"
        " change",
    )
    parser.add_argument("--raw", default="", help="every request to PREFIX-<db>.csv")
    parser.add_argument(
        "--profile", default="", help="py-spy samples of the server to PREFIX-<db>.txt (raw)"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the local host's snapshots run as root")
    plan = Plan(args.seconds, args.rate_scale, args.status_every, args.checkpoint_every,
                args.score_wait)  # fmt: skip
    n = args.sessions
    rates = plan.rates(n)
    load_avg = os.getloadavg()
    head = [
        f"# load: {time.strftime('%F %H:%M')}; {os.cpu_count()} cores, {_cpu()};"
        f" {platform.platform()}; Python {platform.python_version()};"
        f" load average at start {load_avg[0]:.2f}",
        f"# target at {plan.scale:g} x the real rate:"
        f" pings {n}/{PING_S:g} = {rates[KINDS[0]]:.2f}/s"
        f" + clock polls {n}/{POLL_S:g} = {rates[KINDS[1]]:.2f}/s"
        f" + task status {n}/{args.status_every:g} = {rates[KINDS[2]]:.2f}/s"
        f" + task score {n}/{args.checkpoint_every:g} = {rates[KINDS[3]]:.2f}/s"
        f" (each with long polls held up to {args.score_wait / plan.scale:g} s:"
        f" {rates[WAIT]:.2f}/s)"
        f" = {sum(rates.values()):.2f} requests/s",
        "# one `baseliner serve` process, scheduler on, scoring worker off (checkpoints queue);"
        f" runs {args.history_hours:g} h old, task folders ~{args.folder_kb} kB",
    ]
    print("\n".join(head), flush=True)
    for kind in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        print("\n".join(one(args, kind, plan)), flush=True)


if __name__ == "__main__":
    main()
