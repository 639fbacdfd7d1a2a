"""What the portal's model gateway adds to a model call: the same chat completion sent straight
to rust_scaffolding's stand-in and through the gateway (``/api/v1/task/model/v1``, the run's
token, its budget check, the ledger row), in one run on this machine.

The portal is a real ``uvicorn`` server in this process (SQLite in a temporary folder, scheduler
and scoring worker off), with one expert and one active run of ``rust_scaffolding/main``; the
gateway starts the environment's stand-in as it does when no model is configured. The direct
side is a second stand-in from the same script. Both stand-ins answer at once (no latency set),
so the figures are the gateway's own cost: sequential latency (p50, p95) and throughput with 8
requests in flight (the gateway's default cap per run). A real model's seconds per answer dwarf
both; the question is whether the gateway is ever the bottleneck.

    .venv/bin/python bench/model_gateway.py [N]   (default 200 requests per side)
"""

import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import uvicorn
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ itself, whose analytics.py shadows the package

from baselines import applications, run_tokens  # noqa: E402
from baselines.applications import ApplicationCreate  # noqa: E402
from baselines.runs import Run, RunStatus  # noqa: E402
from environments.catalogue import BUILTIN_DIR  # noqa: E402
from timetracking.utc import utcnow  # noqa: E402
from webapp import db  # noqa: E402
from webapp.app import create_app  # noqa: E402
from webapp.settings import Settings  # noqa: E402

ASK = {"model": "any", "messages": [{"role": "user", "content": "Solve Rain Gauge Totals"}]}
IN_FLIGHT = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(settings: Settings) -> str:
    """One expert with an active rust_scaffolding run; returns the run's token."""
    engine = db.make_engine(settings.db_url)
    now = utcnow()
    with Session(engine) as s:
        application = applications.submit(
            s,
            ApplicationCreate(
                name="Bench Expert",
                email="bench@example.org",
                password="correct horse battery",
                background="Benchmarks the gateway.",
                availability="now",
                consent_time_tracking=True,
                consent_snapshots=True,
            ),
            now,
        )
        run = Run(
            expert_id=application.user_id,
            environment="rust_scaffolding/main",
            status=RunStatus.active,
            created_at=now - timedelta(minutes=1),
            started_at=now - timedelta(minutes=1),
            time_limit_s=8 * 3600,
        )
        s.add(run)
        s.flush()
        token = run_tokens.issue(s, run.id, now)
        s.commit()
    engine.dispose()
    return token


def serve(settings: Settings) -> tuple[uvicorn.Server, str]:
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit("the portal did not answer /healthz")


def standin() -> tuple[subprocess.Popen, str]:
    script = BUILTIN_DIR / "rust_scaffolding" / "standin.py"
    process = subprocess.Popen(
        [sys.executable, str(script), "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    said = json.loads(process.stdout.readline())
    return process, said["base_url"]


def sequential(url: str, headers: dict[str, str], n: int) -> list[float]:
    times = []
    with httpx.Client(timeout=30) as client:
        client.post(url, json=ASK, headers=headers).raise_for_status()  # warm
        for _ in range(n):
            began = time.perf_counter()
            client.post(url, json=ASK, headers=headers).raise_for_status()
            times.append(time.perf_counter() - began)
    return times


def concurrent(url: str, headers: dict[str, str], n: int) -> float:
    """Requests per second with IN_FLIGHT at once."""
    local = threading.local()

    def one(_: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30)
        local.client.post(url, json=ASK, headers=headers).raise_for_status()

    began = time.perf_counter()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        list(pool.map(one, range(n)))
    return n / (time.perf_counter() - began)


def row(name: str, times: list[float], rate: float) -> str:
    p50 = statistics.median(times) * 1000
    p95 = statistics.quantiles(times, n=20)[-1] * 1000
    return f"| {name} | {len(times)} | {p50:.1f} | {p95:.1f} | {rate:.0f} |"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=f"sqlite:///{tmp}/bench.db",
            secret_key="bench-secret-key-not-for-production",
            scheduler=False,
            scoring_worker=False,
        )
        db.upgrade(settings.db_url)
        token = seed(settings)
        server, base = serve(settings)
        direct, direct_url = standin()
        try:
            gateway = f"{base}/api/v1/task/model/v1/chat/completions"
            auth = {"Authorization": f"Bearer {token}"}
            straight = f"{direct_url}/chat/completions"
            figures = [
                (
                    "straight to the stand-in",
                    sequential(straight, {}, n),
                    concurrent(straight, {}, n),
                ),
                ("through the gateway", sequential(gateway, auth, n), concurrent(gateway, auth, n)),
            ]
        finally:
            direct.terminate()
            server.should_exit = True
            time.sleep(1)
    print("| path | requests | p50 ms | p95 ms | req/s with 8 in flight |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, times, rate in figures:
        print(row(name, times, rate))


if __name__ == "__main__":
    main()
