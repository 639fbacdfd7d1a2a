"""``GET /metrics``: the numbers follow what really happens (runs, the checkpoint queue and its
results, hosts, leases, IDE traffic), every app process on the database answers the same shared
numbers, and the scrape token keeps everyone else out.

The state is made with the domain's own functions (checkpoints submitted, claimed, scored and
put back for retry; health-check results stored), and the exposition is read with
prometheus_client's own parser, as Prometheus would read it.
"""

import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest
from fastapi import FastAPI, WebSocket
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.websockets import WebSocketDisconnect
from websockets.sync.client import connect

from baselines import checkpoints
from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from fleet import health, hosts
from fleet.health import Health
from fleet.hosts import Host, HostCreate
from tests.conftest import fixed_now, login
from tests.ide.servers import serve, wait_for
from webapp.app import create_app
from webapp.ide.proxy import OpenTraffic
from webapp.metrics import registry

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
TOKEN = "scrape-token-for-tests"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of the exposition, by (sample name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: httpx.Client, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def per_status(samples: Samples, name: str) -> dict[str, float]:
    return {dict(labels)["status"]: v for (n, labels), v in samples.items() if n == name}


def live_runs(samples: Samples) -> dict[str, float]:
    return per_status(samples, "baseliner_runs")


def queue(samples: Samples) -> dict[str, float]:
    return per_status(samples, "baseliner_checkpoint_queue")


def histogram(samples: Samples, name: str) -> tuple[dict[str, float], float, float]:
    """(bucket counts by ``le``, count, sum)."""
    buckets = {dict(labels)["le"]: v for (n, labels), v in samples.items() if n == f"{name}_bucket"}
    return buckets, value(samples, f"{name}_count"), value(samples, f"{name}_sum")


def shared(samples: Samples) -> Samples:
    """What is read from the database (the same in every process)."""
    own = ("baseliner_info", "baseliner_ide_", "baseliner_lease_held")
    return {
        key: v
        for key, v in samples.items()
        if key[0].startswith("baseliner_") and not key[0].startswith(own)
    }


# --- the world ---------------------------------------------------------------------------------


def add_host(engine: Engine, name: str, found: Health, at: datetime) -> int:
    """A host registered, then health-checked with the result ``found`` (as the scheduler's
    check stores it)."""
    with Session(engine) as s:
        host = hosts.add(s, HostCreate(name=name, driver="local"), "", None, at)
        health.apply(s, host, found, at)
        s.commit()
        return host.id


def check_host(engine: Engine, host_id: int, found: Health, at: datetime) -> None:
    with Session(engine) as s:
        health.apply(s, s.get(Host, host_id), found, at)
        s.commit()


def add_run(engine: Engine, expert: User, status: RunStatus, port: int = 0, host_id=None) -> int:
    with Session(engine) as s:
        run = Run(
            expert_id=expert.id,
            environment="warmup/main",
            status=status,
            host_id=host_id,
            port=port or None,
            created_at=NOW - timedelta(hours=2),
            started_at=NOW - timedelta(hours=2),
        )
        s.add(run)
        s.commit()
        return run.id


def submit(engine: Engine, run_id: int, at: datetime) -> int:
    with Session(engine) as s:
        row = checkpoints.submit(
            s,
            run_id,
            now=at,
            working_s=60.0,
            snapshot_sha256="0" * 64,
            snapshot_bytes=10,
            source="cli",
        )
        return row.id


def claim(engine: Engine, at: datetime) -> int:
    with Session(engine) as s:
        row = checkpoints.claim(s, at)
        assert row is not None
        return row.id


def score(engine: Engine, checkpoint_id: int, valid: bool, seconds: float, at: datetime) -> None:
    with Session(engine) as s:
        row = s.get(Checkpoint, checkpoint_id)
        checkpoints.record_result(
            s,
            row,
            status=CheckpointStatus.scored if valid else CheckpointStatus.invalid,
            score=0.5 if valid else None,
            normalized=None,
            message={},
            details={},
            output="",
            seconds=seconds,
            comparable=True,
            now=at,
        )
        s.commit()


def retry(engine: Engine, checkpoint_id: int, at: datetime) -> None:
    with Session(engine) as s:
        assert checkpoints.retry_later(s, s.get(Checkpoint, checkpoint_id), "host down", at)
        s.commit()


# --- the tests ---------------------------------------------------------------------------------


def test_numbers_follow_runs_checkpoints_and_hosts(app, client, engine, make_user) -> None:
    fixed_now(app, NOW)
    login(client, make_user(Role.admin))
    empty = scrape(client)
    assert value(empty, "baseliner_database_up") == 1
    assert live_runs(empty) == {"provisioning": 0, "pending": 0, "active": 0, "stopping": 0}
    assert queue(empty) == {"queued": 0, "waiting_for_retry": 0, "scoring": 0}
    assert value(empty, "baseliner_checkpoint_queue_oldest_seconds") == 0
    assert per_status(empty, "baseliner_hosts") == {"ready": 0, "draining": 0, "down": 0}

    ok, unreachable = Health(True, "ok"), Health(False, "ssh: connection refused")
    gpu1 = add_host(engine, "gpu-01", ok, NOW - timedelta(seconds=30))
    add_host(engine, "gpu-02", unreachable, NOW - timedelta(seconds=30))
    expert = make_user(Role.expert)
    first = add_run(engine, expert, RunStatus.active)  # the lower id: claimed first
    second = add_run(engine, expert, RunStatus.active)
    add_run(engine, expert, RunStatus.provisioning)
    add_run(engine, expert, RunStatus.stopping)
    add_run(engine, expert, RunStatus.finished)  # not live: not counted

    # The first run's checkpoint scores in 42 s, 100 s after it was submitted; the second run's
    # first one is invalid after 7 s (10 s after submission), its second waits to retry (its
    # host did not answer), its third queues behind it; the first run's next one is scoring.
    a1 = submit(engine, first, NOW - timedelta(hours=1))
    b1 = submit(engine, second, NOW - timedelta(hours=1))
    b2 = submit(engine, second, NOW - timedelta(seconds=600))
    submit(engine, second, NOW - timedelta(seconds=300))
    assert claim(engine, NOW - timedelta(minutes=59)) == a1
    score(engine, a1, True, 42.0, NOW - timedelta(hours=1) + timedelta(seconds=100))
    assert claim(engine, NOW - timedelta(minutes=59)) == b1
    score(engine, b1, False, 7.0, NOW - timedelta(hours=1) + timedelta(seconds=10))
    assert claim(engine, NOW) == b2
    retry(engine, b2, NOW)
    a2 = submit(engine, first, NOW - timedelta(seconds=60))
    assert claim(engine, NOW) == a2

    seen = scrape(client)
    assert live_runs(seen) == {"provisioning": 1, "pending": 0, "active": 2, "stopping": 1}
    assert queue(seen) == {"queued": 1, "waiting_for_retry": 1, "scoring": 1}
    assert value(seen, "baseliner_checkpoint_queue_oldest_seconds") == 600
    finished = per_status(seen, "baseliner_checkpoints_finished_total")
    assert finished == {"scored": 1, "invalid": 1, "error": 0}
    buckets, count, total = histogram(seen, "baseliner_checkpoint_scoring_seconds")
    assert (count, total) == (2, 49.0)
    assert (buckets["5.0"], buckets["15.0"], buckets["60.0"], buckets["+Inf"]) == (0, 1, 2, 2)
    buckets, count, total = histogram(seen, "baseliner_checkpoint_wait_seconds")
    assert count == 2 and total == pytest.approx(110.0, abs=0.01)
    assert (buckets["5.0"], buckets["15.0"], buckets["60.0"], buckets["120.0"]) == (0, 1, 1, 2)
    assert per_status(seen, "baseliner_hosts") == {"ready": 1, "draining": 0, "down": 1}
    assert value(seen, "baseliner_host_up", host="gpu-01") == 1
    assert value(seen, "baseliner_host_up", host="gpu-02") == 0
    assert value(seen, "baseliner_host_last_seen_age_seconds", host="gpu-01") == 30
    assert value(seen, "baseliner_host_last_seen_age_seconds", host="gpu-02") == float("inf")

    # Later: the scoring one is scored, and gpu-01 stops answering.
    later = NOW + timedelta(minutes=5)
    fixed_now(app, later)
    score(engine, a2, True, 3.0, later)
    check_host(engine, gpu1, unreachable, later)
    after = scrape(client)
    assert queue(after) == {"queued": 2, "waiting_for_retry": 0, "scoring": 0}  # retry is due
    assert per_status(after, "baseliner_checkpoints_finished_total")["scored"] == 2
    assert histogram(after, "baseliner_checkpoint_scoring_seconds")[1:] == (3, 52.0)
    assert value(after, "baseliner_host_up", host="gpu-01") == 0
    assert per_status(after, "baseliner_hosts") == {"ready": 0, "draining": 0, "down": 2}
    assert value(after, "baseliner_host_last_seen_age_seconds", host="gpu-01") == 330


def test_every_process_answers_the_same_shared_numbers(app, client, settings, engine, make_user):
    """Two apps on one database, as two serve processes behind the proxy: the numbers read
    from the database agree; the lease gauge is each process's own."""
    fixed_now(app, NOW)
    expert = make_user(Role.expert)
    run = add_run(engine, expert, RunStatus.active)
    submit(engine, run, NOW - timedelta(seconds=90))
    add_host(engine, "gpu-01", Health(True, "ok"), NOW - timedelta(seconds=5))
    other = create_app(settings, migrate=False)
    fixed_now(other, NOW)
    admin = make_user(Role.admin)
    with TestClient(other, follow_redirects=False) as second:
        login(client, admin)
        login(second, admin)
        assert app.state.scoring.lease.try_once()  # this one becomes the scoring process
        assert not other.state.scoring.lease.try_once()
        try:
            here, there = scrape(client), scrape(second)
        finally:
            app.state.scoring.lease.close()
    assert shared(here) == shared(there)
    assert queue(here)["queued"] == 1 and live_runs(here)["active"] == 1
    process = dict(next(k for k in here if k[0] == "baseliner_info")[1])["process"]
    assert value(here, "baseliner_lease_held", lease="scoring", process=process) == 1
    assert value(there, "baseliner_lease_held", lease="scoring", process=process) == 0
    assert value(here, "baseliner_lease_held", lease="scheduler", process=process) == 0
    assert value(here, "process_start_time_seconds") > 0  # the standard process collector


def test_a_scrape_without_the_database_still_answers(tmp_path) -> None:
    """The database away (here: a SQLite file in a folder that does not exist): the process's
    own numbers still come, and baseliner_database_up says what is missing."""
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'baseliner.db'}")
    traffic = OpenTraffic(websockets=3)
    samples = parse(generate_latest(registry(engine, traffic, {}, lambda: NOW)).decode())
    assert value(samples, "baseliner_database_up") == 0
    assert not any(name.startswith("baseliner_runs") for name, _ in samples)
    process = dict(next(k for k in samples if k[0] == "baseliner_info")[1])["process"]
    assert value(samples, "baseliner_ide_websockets_open", process=process) == 3
    engine.dispose()


@pytest.fixture
def token_settings(settings):
    settings.metrics_token = SecretStr(TOKEN)
    return settings


def test_a_set_token_is_required(token_settings, engine, make_user) -> None:
    app = create_app(token_settings, migrate=False)
    with TestClient(app, follow_redirects=False) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            refused = client.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/json"
            assert refused.headers["www-authenticate"] == "Bearer"
            assert "Bearer" in refused.json()["detail"]
        login(client, make_user(Role.admin))  # a session is no token
        assert client.get("/metrics").status_code == 401
        samples = scrape(client, Authorization=f"Bearer {TOKEN}")
    assert value(samples, "baseliner_database_up") == 1
    assert "/metrics" not in app.openapi()["paths"]


# --- IDE traffic through a real server ---------------------------------------------------------


def _slow_upstream(gate: threading.Event) -> FastAPI:
    """Stands in for code-server: a body that stops halfway until ``gate`` opens, and an
    echoing WebSocket."""
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "alive"}

    @app.get("/slow")
    async def slow() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first\n"
            await anyio.to_thread.run_sync(gate.wait, 30)
            yield b"last\n"

        return StreamingResponse(body(), media_type="text/plain")

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            pass

    return app


def test_open_ide_sockets_and_streams_are_counted(token_settings, engine, make_user) -> None:
    gate = threading.Event()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with (
        serve(_slow_upstream(gate)) as upstream,
        serve(create_app(token_settings, migrate=False)) as base,
    ):
        with Session(engine) as s:
            host = hosts.add(s, HostCreate(name="local", driver="local"), "", None, NOW)
            s.commit()
            host_id = host.id
        expert = make_user(Role.expert)
        run = add_run(engine, expert, RunStatus.active, int(upstream.rsplit(":", 1)[1]), host_id)
        browser = httpx.Client(base_url=base)
        login(browser, expert)
        scraper = httpx.Client(base_url=base, headers=auth)

        def open_now() -> tuple[float, float]:
            samples = scrape(scraper)
            process = dict(next(k for k in samples if k[0] == "baseliner_info")[1])["process"]
            return (
                value(samples, "baseliner_ide_websockets_open", process=process),
                value(samples, "baseliner_ide_http_streams_open", process=process),
            )

        assert open_now() == (0, 0)
        cookie = f"baseliner_session={browser.cookies['baseliner_session']}"
        ws_url = base.replace("http://", "ws://") + f"/ide/{run}/ws"
        with connect(ws_url, additional_headers={"Cookie": cookie}) as socket:
            socket.send("hello")
            assert socket.recv(timeout=10) == "hello"
            assert open_now() == (1, 0)
            with connect(ws_url, additional_headers={"Cookie": cookie}) as another:
                another.send("again")
                assert another.recv(timeout=10) == "again"
                assert open_now() == (2, 0)
        assert wait_for(lambda: open_now() == (0, 0))

        with browser.stream("GET", f"/ide/{run}/slow") as response:
            chunks = response.iter_bytes()
            assert next(chunks).startswith(b"first")
            assert open_now() == (0, 1)
            gate.set()
            assert b"".join(chunks).endswith(b"last\n")
        assert wait_for(lambda: open_now() == (0, 0))
        browser.close()
        scraper.close()
