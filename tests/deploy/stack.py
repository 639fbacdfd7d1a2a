"""The production stack (deploy/local_stack.py) on a fresh PostgreSQL database, for tests that
talk to it through Caddy: HTTPS to loopback with the name a browser would ask for."""

import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlmodel import Session

from baselines.runs import Run, RunStatus
from deploy import local_stack
from fleet import hosts
from fleet.hosts import HostCreate
from fleet.testing_sshd import free_port
from tests.naming import sub_prefix
from timetracking.utc import utcnow

# A name under .test (RFC 6761): never a real site; tests reach it by SNI and Host on loopback,
# the browser through a resolver rule.
DOMAIN = "baseliner.test"


def echo_run(engine, expert_id: int, upstream: str, ide_key: str = "") -> Run:
    """An active run on a local host whose "code-server" is the echo server at ``upstream``."""
    with Session(engine) as s:
        host = hosts.add(s, HostCreate(name="local", driver="local"), "", None, utcnow())
        run = Run(
            expert_id=expert_id,
            host_id=host.id,
            port=int(upstream.rsplit(":", 1)[1]),
            status=RunStatus.active,
            created_at=utcnow(),
            ide_key=ide_key,
        )
        s.add(run)
        s.commit()
        s.refresh(run)
        s.expunge(run)
        return run


def client(port: int) -> httpx.Client:
    """HTTPS to Caddy on loopback (its own CA: not verified)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=context, timeout=20)


def get(
    port: int, name: str, path: str, cookie: str = "", extra: dict | None = None
) -> httpx.Response:
    """GET ``path`` from Caddy asking for ``name`` (SNI and Host), as a browser would."""
    headers = {"Host": f"{name}:{port}"} | ({"Cookie": cookie} if cookie else {}) | (extra or {})
    with client(port) as http:
        return http.get(path, headers=headers, extensions={"sni_hostname": name})


@pytest.fixture
def stack(database_url: str, tmp_path: Path) -> Iterator[tuple[list, str, int]]:
    """The stack on a fresh PostgreSQL database; yields its processes, URL and HTTPS port."""
    if database_url.startswith("sqlite"):
        pytest.skip("the production stack runs on PostgreSQL (the --db=postgres pass)")
    name = f"stack_{uuid.uuid4().hex[:10]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(database_url).set(database=name).render_as_string(False)
    https_port = free_port()
    processes = local_stack.plan(
        {
            "BASELINER_DOMAIN": DOMAIN,
            "CADDY_TLS": "internal",
            "POSTGRES_PASSWORD": "unused-here",
            "BASELINER_SECRET_KEY": "stack-test-secret",
            "ASK_PORT": str(free_port()),
            # A database of its own, so run ids of its own: names of its own too.
            "BASELINER_WORKSPACE_PREFIX": sub_prefix("y"),
        },
        database_url=url,
        data_dir=tmp_path / "data",
        http_port=free_port(),
        https_port=https_port,
        first_app_port=free_port(),
    )
    # Two apps need two ports; free_port() gave one, the next may be taken: pick again.
    for process, port in zip(
        [p for p in processes if p.name.startswith("app")], (free_port(), free_port()), strict=True
    ):
        old = process.argv[process.argv.index("--port") + 1]
        process.argv[process.argv.index("--port") + 1] = str(port)
        process.ready_url = process.ready_url.replace(f":{old}/", f":{port}/")
        process.env["BASELINER_TASK_API_URL"] = f"http://127.0.0.1:{port}"
    caddy = processes[-1]
    caddy.env["APP_UPSTREAMS"] = " ".join(
        p.ready_url.removeprefix("http://").removesuffix("/healthz")
        for p in processes
        if p.name.startswith("app")
    )
    try:
        local_stack.up(processes, tmp_path / "logs")
        _wait_for_caddy(https_port, tmp_path / "logs")
        yield processes, url, https_port
    finally:
        local_stack.down(processes)
        for log in sorted((tmp_path / "logs").glob("*.log")):
            lines = [line for line in log.read_text().splitlines() if "/healthz" not in line]
            print(f"--- {log.name}\n" + "\n".join(lines[-15:]))
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _wait_for_caddy(port: int, logs: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if get(port, DOMAIN, "/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    pytest.fail(f"Caddy did not answer: {(logs / 'caddy.log').read_text()[-3000:]}")
