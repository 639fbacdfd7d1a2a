"""Staff and a run's IDE: refused on the portal's own origin (the embedded default), allowed
where each run's IDE has a subdomain of its own (webapp.ide.origin says why).

The run's IDE is a real server on a loopback port that counts what reaches it, so "refused"
also means nothing was proxied: not a request, not a WebSocket handshake.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import WebSocketDenialResponse

from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from fleet import hosts
from fleet.hosts import HostCreate, HostStatus
from tests.conftest import login
from tests.ide.servers import serve
from timetracking.utc import utcnow
from webapp.app import create_app
from webapp.ide.origin import STAFF_REFUSED, shares_portal_origin, staff_may_look_in
from webapp.settings import Settings

SUBDOMAINS = "https://run-{run}.ide.baseliner.example.org/"
BROWSER = {"accept": "text/html"}


@dataclass
class Upstream:
    """What reached the stand-in for the run's code-server (its health check aside)."""

    port: int = 0
    seen: list[str] = field(default_factory=list)


def _upstream_app(upstream: Upstream) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "alive"}

    @app.api_route("/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
    async def anything(request: Request, rest: str) -> JSONResponse:
        upstream.seen.append(f"{request.method} /{rest}")
        return JSONResponse({"ide": f"/{rest}"})

    @app.websocket("/{rest:path}")
    async def socket(websocket: WebSocket, rest: str) -> None:
        upstream.seen.append(f"WS /{rest}")
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    return app


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    found = Upstream()
    with serve(_upstream_app(found)) as base:
        found.port = int(base.rsplit(":", 1)[1])
        yield found


@pytest.fixture(autouse=True)
def _nothing_seen_yet(upstream: Upstream) -> None:
    upstream.seen.clear()


def _run(engine: Engine, expert: User, port: int, status=RunStatus.active) -> int:
    with Session(engine) as s:
        host = hosts.by_name(s, "local") or hosts.add(
            s, HostCreate(name="local", driver="local"), "", None, utcnow()
        )
        host.status, host.status_reason = HostStatus.ready, "ok"
        s.add(host)
        s.flush()
        run = Run(
            expert_id=expert.id,
            environment="demo/main",
            host_id=host.id,
            port=port,
            status=status,
            created_at=utcnow(),
            started_at=None if status == RunStatus.provisioning else utcnow(),
        )
        s.add(run)
        s.commit()
        return run.id


@contextmanager
def _signed_in(app, user: User) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        login(client, user)
        yield client


def _denied(client: TestClient, url: str) -> WebSocketDenialResponse:
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect(url):
        pass
    return denied.value


# --- on the portal's origin (the default) -------------------------------------------------------


@pytest.mark.parametrize("role", [Role.coordinator, Role.admin])
def test_staff_get_the_explanation_and_nothing_is_proxied(
    app, engine, make_user, upstream: Upstream, role: Role
) -> None:
    assert shares_portal_origin(app.state.settings)
    staff = make_user(role)
    run_id = _run(engine, make_user(Role.expert), upstream.port)
    with _signed_in(app, staff) as client:
        page = client.get(f"/ide/{run_id}/", headers=BROWSER)
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        for words in (
            "The IDE is the expert's alone here",
            "could act with the session",
            "BASELINER_IDE_URL=https://run-{run}.ide.baseliner.example.org/",
            "BASELINER_COOKIE_DOMAIN",
            "deploy/Caddyfile",
            "deploy/README.md",
            f'href="/runs/{run_id}"',
            "snapshot, diff and scorer output",
            staff.name,  # signed in as themselves, with their own menu
        ):
            assert words in page.text, words
        assert "workbench" not in page.text

        # The IDE's own requests, every method, and the bare address: JSON, the same reason.
        for method in ("GET", "POST", "PUT", "DELETE"):
            answer = client.request(method, f"/ide/{run_id}/static/app.js")
            assert answer.status_code == 403, method
            assert answer.json() == {"detail": STAFF_REFUSED}
        assert client.get(f"/ide/{run_id}").status_code == 403

        denied = _denied(client, f"/ide/{run_id}/socket?reconnection=false")
        assert denied.status_code == 403
        assert denied.json() == {"detail": STAFF_REFUSED}
    assert upstream.seen == []


@pytest.mark.parametrize("status", [RunStatus.provisioning, RunStatus.finished])
def test_staff_are_refused_whatever_the_runs_state(
    app, engine, make_user, upstream: Upstream, status: RunStatus
) -> None:
    """Not told to wait for a workspace they could never open."""
    run_id = _run(engine, make_user(Role.expert), upstream.port, status=status)
    with _signed_in(app, make_user(Role.coordinator)) as client:
        answer = client.get(f"/ide/{run_id}/")
        assert (answer.status_code, answer.json()) == (403, {"detail": STAFF_REFUSED})
        assert client.get("/ide/999999/").status_code == 404  # no such run is still 404
    assert upstream.seen == []


def test_the_expert_still_opens_their_own_ide(app, engine, make_user, upstream: Upstream) -> None:
    expert = make_user(Role.expert)
    run_id = _run(engine, expert, upstream.port)
    with _signed_in(app, expert) as client:
        answer = client.get(f"/ide/{run_id}/static/app.js", headers=BROWSER)
        assert (answer.status_code, answer.json()) == (200, {"ide": "/static/app.js"})
        with client.websocket_connect(f"/ide/{run_id}/socket") as ws:
            ws.send_text("ping")
            assert ws.receive_text() == "ping"
        page = client.get(f"/runs/{run_id}").text
        assert f'id="open-ide" href="/ide/{run_id}/"' in page
        assert 'id="ide-staff-note"' not in page
    assert upstream.seen == ["GET /static/app.js", "WS /socket"]


def test_staff_pages_say_so_instead_of_linking_the_ide(
    app, engine, make_user, upstream: Upstream
) -> None:
    run_id = _run(engine, make_user(Role.expert), upstream.port)
    with _signed_in(app, make_user(Role.coordinator)) as client:
        page = client.get(f"/runs/{run_id}")
        assert page.status_code == 200
        assert 'id="open-ide"' not in page.text and f"/ide/{run_id}/" not in page.text
        note = page.text.split('id="ide-staff-note"', 1)[1].split("</div>", 1)[0]
        for words in ("BASELINER_IDE_URL", "run-{run}.ide", "deploy/Caddyfile", "diff", "notes"):
            assert words in note, words
        live = client.get("/coordinator/runs").text
        assert "Look in" not in live and f"/ide/{run_id}/" not in live
        assert "IDE: expert only" in live


# --- IDEs on per-run subdomains ------------------------------------------------------------------


@pytest.fixture
def subdomain_app(settings: Settings, engine: Engine):
    settings.ide_url = SUBDOMAINS
    return create_app(settings, migrate=False)


@pytest.mark.parametrize("role", [Role.coordinator, Role.admin])
def test_with_per_run_subdomains_staff_look_in(
    subdomain_app, engine, make_user, upstream: Upstream, role: Role
) -> None:
    assert staff_may_look_in(subdomain_app.state.settings)
    run_id = _run(engine, make_user(Role.expert), upstream.port)
    address = SUBDOMAINS.format(run=run_id)
    with _signed_in(subdomain_app, make_user(role)) as client:
        page = client.get(f"/runs/{run_id}").text
        assert f'id="open-ide" href="{address}"' in page
        assert 'id="ide-staff-note"' not in page
        assert (
            f'href="{address}" target="_blank" rel="noopener">Look in'
            in client.get("/coordinator/runs").text
        )
        # The front proxy asks /ide-auth for run-<id>.ide...: yes, with the run's upstream.
        host = {"X-Forwarded-Host": f"run-{run_id}.ide.baseliner.example.org"}
        answer = client.get("/ide-auth", headers=host)
        assert answer.status_code == 200
        assert answer.headers["X-Baseliner-Upstream"] == f"127.0.0.1:{upstream.port}"
        # The portal's own /ide/ path is closed to everyone here.
        assert client.get(f"/ide/{run_id}/").status_code == 404


# --- which addresses share the portal's origin ----------------------------------------------------


@pytest.mark.parametrize(
    ("ide_url", "shared"),
    [
        ("/ide/{run}/", True),
        ("http://127.0.0.1:8000/ide/{run}/", True),
        ("https://127.0.0.1:8000/ide/{run}/", False),  # another scheme is another origin
        ("http://127.0.0.1:9000/ide/{run}/", False),
        (SUBDOMAINS, False),
    ],
)
def test_which_ide_addresses_share_the_portals_origin(ide_url: str, shared: bool) -> None:
    settings = Settings(ide_url=ide_url, public_url="http://127.0.0.1:8000")
    assert shares_portal_origin(settings) is shared
    assert staff_may_look_in(settings) is not shared
