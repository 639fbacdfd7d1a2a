"""Who reaches a live workspace's IDE through the portal, over HTTP and WebSocket, end to end.

One real workspace (a unix user and code-server on this machine, the local driver) serves the
whole module, behind the real portal served by uvicorn on a loopback port; httpx and the
``websockets`` client play the browsers. Also here: a host whose SSH key changed is refused with
the reason, and workspaces started at the same moment never share a port or a GPU.

The module's tests share the workspace and its rows, so the tables are emptied once, when the
module ends, not after each test (this module's ``_empty_tables`` overrides the suite's).
"""

import os
import pwd
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from baselines import passwords
from baselines.runs import LIVE, Lease, Run, RunStatus
from baselines.users import Role, User
from fleet import health, hosts
from fleet.drivers import ssh
from fleet.hosts import Host, HostCreate, HostStatus
from tests.conftest import create_account, csrf_token, empty_tables, login
from tests.ide.servers import serve
from tests.naming import workspace
from timetracking.utc import utcnow
from webapp.app import create_app
from webapp.ide.origin import STAFF_REFUSED
from webapp.settings import Settings

pytestmark = [
    pytest.mark.host,
    pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users"),
]

ROLES = ("owner", "other", "coordinator", "admin", "finance", "analyst")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@dataclass
class Live:
    """The portal, the module's live run, and a signed-in httpx client per person."""

    base: str
    app: object
    engine: Engine
    run_id: int
    people: dict[str, User]
    started: list[int]  # every run the module started, to stop and check at the end
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    @property
    def jobs(self):
        return self.app.state.workspaces

    def run(self, run_id: int | None = None) -> Run:
        with Session(self.engine) as s:
            return s.get(Run, run_id or self.run_id)

    def ide(self, run_id: int | None = None) -> str:
        return f"/ide/{run_id or self.run_id}/"

    def socket(
        self, who: str | None, *, origin: str | None = None, headers: dict | None = None
    ) -> ClientConnection:
        """Open the IDE's WebSocket as code-server's own client does, as ``who`` (None:
        anonymous), from the portal's origin unless told otherwise."""
        query = f"reconnectionToken={uuid.uuid4()}&reconnection=false&skipWebSocketFrames=false"
        url = self.base.replace("http://", "ws://") + f"{self.ide()}?{query}"
        extra = dict(headers or {})
        if who is not None:
            extra["Cookie"] = f"baseliner_session={self.clients[who].cookies['baseliner_session']}"
        return connect(url, origin=origin or self.base, additional_headers=extra, open_timeout=10)


def _refused(live: Live, who: str | None, **kwargs) -> int:
    """The status the portal answered a WebSocket handshake with (it must not open)."""
    with pytest.raises(InvalidStatus) as refused:
        live.socket(who, **kwargs).close()
    return refused.value.response.status_code


def _workbench(client: httpx.Client, path: str) -> httpx.Response:
    """The IDE's page as a browser gets it: code-server first sends it to ``?folder=``."""
    first = client.get(path)
    assert first.status_code == 302, first.text[:300]
    assert first.headers["location"].startswith("./?folder=")
    page = client.get(path + first.headers["location"].removeprefix("./"))
    assert page.status_code == 200
    assert "workbench" in page.text
    return page


def _make(engine: Engine, role: Role, n: int) -> User:
    name = f"Expert {n}" if role == Role.expert else f"{role.value} {n}"
    return create_account(engine, role, f"{role.value}{n}@ide-access.example.org", name)


def _new_run(engine: Engine, expert: User) -> int:
    with Session(engine) as s:
        run = Run(expert_id=expert.id, environment="demo/main", created_at=utcnow())
        s.add(run)
        s.commit()
        return run.id


def _task_files(folder: Path) -> Path:
    (folder / "solution").mkdir(parents=True)
    (folder / "README.md").write_text("# the task\n")
    return folder


@pytest.fixture(autouse=True)
def _empty_tables() -> Iterator[None]:
    """Overrides the suite's per-test emptying: the module's rows live as long as its workspace
    (``live`` empties the tables when the module ends)."""
    yield


def _truncate(engine: Engine) -> None:
    empty_tables(engine)


@pytest.fixture(scope="module")
def live(engine: Engine, database_url: str, tmp_path_factory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("ide-access")
    started: list[int] = []  # every run the module started, checked gone at the end
    with pytest.MonkeyPatch.context() as patch:
        # Who may open what is the subject here, not hash strength: hash cheaply.
        cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
        patch.setattr(passwords, "_hasher", cheap)
        patch.setattr(passwords, "_DUMMY_HASH", cheap.hash("not-a-real-password"))
        settings = Settings(
            data_dir=root / "data",
            database_url=database_url,
            secret_key="test-secret-key-not-for-production",
            environment_dirs="",
            scheduler=False,
        )
        app = create_app(settings, migrate=False)
        try:
            # As `baseliner serve` configures uvicorn for VS Code's sockets.
            with serve(app, ws_max_size=1 << 30, ws_per_message_deflate=False) as base:
                people = {
                    "owner": _make(engine, Role.expert, 1),
                    "other": _make(engine, Role.expert, 2),
                    "coordinator": _make(engine, Role.coordinator, 3),
                    "admin": _make(engine, Role.admin, 4),
                    "finance": _make(engine, Role.finance, 5),
                    "analyst": _make(engine, Role.analyst, 6),
                }
                with Session(engine) as s:
                    host = hosts.add(
                        s, HostCreate(name="local", driver="local"), "", None, utcnow()
                    )
                    s.commit()
                    health.check(s, host, app.state.workspaces.connections, utcnow())
                    assert host.status == HostStatus.ready, host.status_reason
                run_id = _new_run(engine, people["owner"])
                live = Live(base, app, engine, run_id, people, started=[run_id])
                try:
                    app.state.workspaces.start(run_id, files=_task_files(root / "files"))
                    app.state.workspaces.wait(run_id, timeout=90)
                    assert live.run().status == RunStatus.active, live.run().status_reason
                    for who in ROLES:
                        live.clients[who] = httpx.Client(base_url=base, timeout=30)
                        login(live.clients[who], people[who])
                    yield live
                finally:
                    for client in live.clients.values():
                        client.close()
                    _stop_all(live)
                    started = live.started
        finally:
            _truncate(engine)
    for run_id in started:
        assert not _user_exists(workspace(run_id)), f"workspace user of run {run_id} left"


def _stop_all(live: Live) -> None:
    """Stop every run of the module still live, and wait for it."""
    for run_id in live.started:
        live.jobs.wait(run_id, timeout=90)
        if live.run(run_id).status in LIVE:
            live.jobs.stop(run_id, reason="test over")
            live.jobs.wait(run_id, timeout=90)


# --- the run's expert, and staff ---------------------------------------------------------------


def test_the_expert_gets_the_workbench_and_its_websocket(live: Live) -> None:
    client = live.clients["owner"]
    page = _workbench(client, live.ide())
    assert f"/home/{workspace(live.run_id)}" in str(page.url)
    with live.socket("owner") as ws:  # code-server accepted the upgrade (101)
        assert ws.response.status_code == 101
    # The bare address sends the browser on, under the prefix.
    bare = client.get(f"/ide/{live.run_id}")
    assert (bare.status_code, bare.headers["location"]) == (307, live.ide())


@pytest.mark.parametrize("who", ["coordinator", "admin"])
def test_coordinators_and_admins_are_refused_on_the_portals_origin(live: Live, who: str) -> None:
    """The module's portal serves IDEs on its own origin (the default ide_url), where the
    workspace's code could act with a coordinator's session: staff get the reason, and the
    real code-server gets no request (tests/webapp/test_ide_staff.py: through subdomains)."""
    client = live.clients[who]
    page = client.get(live.ide(), headers={"accept": "text/html"})
    assert page.status_code == 403
    assert "BASELINER_IDE_URL" in page.text and "workbench" not in page.text
    answer = client.get(live.ide())
    assert (answer.status_code, answer.json()) == (403, {"detail": STAFF_REFUSED})
    assert _refused(live, who) == 403


# --- everyone else -------------------------------------------------------------------------------


def test_another_expert_finds_no_such_workspace(live: Live) -> None:
    response = live.clients["other"].get(live.ide())
    assert response.status_code == 404
    assert response.json() == {"detail": "No such workspace."}
    page = live.clients["other"].get(live.ide(), headers={"accept": "text/html"})
    assert page.status_code == 404 and "No such workspace." in page.text
    assert _refused(live, "other") == 404


def test_anonymous_is_sent_to_sign_in_and_its_websocket_refused(live: Live) -> None:
    with httpx.Client(base_url=live.base) as anonymous:
        response = anonymous.get(live.ide())
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next=/runs/{live.run_id}"
        assert anonymous.post(live.ide()).status_code == 401  # the IDE's own requests
    assert _refused(live, None) == 401


@pytest.mark.parametrize("who", ["finance", "analyst"])
def test_finance_and_analysts_are_refused(live: Live, who: str) -> None:
    response = live.clients[who].get(live.ide())
    assert response.status_code == 403
    assert response.json() == {"detail": "Your role cannot open workspaces."}
    assert _refused(live, who) == 403


def test_a_forged_or_stale_cookie_is_anonymous(live: Live) -> None:
    cookie = live.clients["owner"].cookies["baseliner_session"]
    forged = cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")
    with httpx.Client(base_url=live.base, cookies={"baseliner_session": forged}) as client:
        assert client.get(live.ide()).status_code == 303
    with pytest.raises(InvalidStatus) as refused:
        connect(
            live.base.replace("http://", "ws://") + live.ide(),
            origin=live.base,
            additional_headers={"Cookie": f"baseliner_session={forged}"},
        ).close()
    assert refused.value.response.status_code == 401


# --- the origin check ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://127.0.0.1:1", "null"], ids=["site", "port", "null"]
)
def test_a_cross_site_websocket_is_refused(live: Live, origin: str) -> None:
    """A page on another site can make the browser send the expert's cookie on a WebSocket
    handshake; code-server's origin check (Origin against the Host the portal forwards)
    refuses it, and the portal passes that refusal on."""
    assert _refused(live, "owner", origin=origin) == 403


@pytest.mark.parametrize(
    "header",
    ["X-Forwarded-Host: evil.example", "Forwarded: host=evil.example"],
    ids=["x-forwarded-host", "forwarded"],
)
def test_the_host_the_origin_is_checked_against_cannot_be_forged(live: Live, header: str) -> None:
    """code-server trusts ``Forwarded`` and ``X-Forwarded-Host`` over ``Host``: a client that
    sends its own must not be able to make a foreign origin look like the portal's."""
    name, value = header.split(": ", 1)
    status = _refused(live, "owner", origin="https://evil.example", headers={name: value})
    assert status == 403


# --- hosts whose key changed ---------------------------------------------------------------------


def test_a_host_whose_key_changed_is_refused_with_the_reason(live: Live, sshd, tmp_path) -> None:
    key = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    wrong = " ".join(Path(f"{key}.pub").read_text().split()[:2])
    presented = subprocess.run(
        ["ssh-keygen", "-lf", str(sshd.host_pub_path)], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    pinned = ssh.fingerprint(wrong)
    assert presented != pinned
    data = HostCreate(
        name="rebuilt",
        driver="ssh",
        address=sshd.address,
        port=sshd.port,
        username=sshd.username,
        key_path=str(sshd.key_path),
    )
    connections = live.jobs.connections
    with Session(live.engine) as s:
        host = hosts.add(s, data, wrong, None, utcnow())
        s.commit()
        result = health.check(s, host, connections, utcnow())
        assert not result.reachable
        assert host.status == HostStatus.down
        for words in (presented, pinned, "is pinned", "presented host key"):
            assert words in host.status_reason, host.status_reason
        host_id = host.id

    # The key changes after the host was found ready (it was rebuilt between two checks): a
    # workspace placed on it fails, saying why, and leaves nothing behind.
    with Session(live.engine) as s:
        host = s.get(Host, host_id)
        host.status, host.status_reason = HostStatus.ready, "ok"
        host.gpus = [{"index": 0, "name": "H100", "memory_mb": 81559}]  # only it has a GPU
        s.add(host)
        s.commit()
    run_id = _new_run(live.engine, live.people["owner"])
    live.started.append(run_id)
    try:
        live.jobs.start(run_id, gpu_count=1)
        live.jobs.wait(run_id, timeout=60)
        run = live.run(run_id)
        assert run.status == RunStatus.failed
        assert run.host_id == host_id
        assert "could not start the workspace" in run.status_reason
        assert "host key" in run.status_reason and presented in run.status_reason
        with Session(live.engine) as s:
            assert s.exec(select(Lease).where(Lease.run_id == run_id)).all() == []
    finally:
        with Session(live.engine) as s:
            health.check(s, s.get(Host, host_id), connections, utcnow())  # down again
            assert s.get(Host, host_id).status == HostStatus.down


# --- workspaces started at the same moment -------------------------------------------------------


def _cuda_devices(user: str) -> set[str]:
    """CUDA_VISIBLE_DEVICES of every process of the workspace user."""
    pids = subprocess.run(["pgrep", "-u", user], capture_output=True, text=True).stdout.split()
    seen = set()
    for pid in pids:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue  # ended meanwhile
        for entry in environ:
            if entry.startswith(b"CUDA_VISIBLE_DEVICES="):
                seen.add(entry.split(b"=", 1)[1].decode())
    return seen


def test_concurrent_starts_get_their_own_port_and_gpu(live: Live, tmp_path) -> None:
    """Three workspaces started at once on this machine, whose host record claims four GPUs:
    each gets its own port and GPU, all three IDEs answer, and stopping them removes all."""
    with Session(live.engine) as s:
        host = hosts.by_name(s, "local")
        host.gpus = [{"index": i, "name": "H100", "memory_mb": 81559} for i in range(4)]
        s.add(host)
        s.commit()
    experts = [live.people["owner"], live.people["other"], live.people["owner"]]
    run_ids = [_new_run(live.engine, expert) for expert in experts]
    live.started.extend(run_ids)
    try:
        for n, run_id in enumerate(run_ids):
            live.jobs.start(run_id, files=_task_files(tmp_path / f"files-{n}"), gpu_count=1)
        for run_id in run_ids:
            live.jobs.wait(run_id, timeout=90)
        runs = [live.run(run_id) for run_id in run_ids]
        assert [r.status for r in runs] == [RunStatus.active] * 3, [r.status_reason for r in runs]
        ports = [r.port for r in runs]
        assert len(set(ports)) == 3 and live.run().port not in ports
        gpus = [tuple(r.gpu_indices) for r in runs]
        assert len(set(gpus)) == 3 and all(len(g) == 1 for g in gpus)
        for run in runs:
            answer = httpx.get(f"http://127.0.0.1:{run.port}/healthz", timeout=5).json()
            assert answer["status"] in ("alive", "expired")
            # The process sees only its own GPU.
            assert _cuda_devices(run.unix_user) == {str(run.gpu_indices[0])}
            # And the portal reaches each through its own address (run 3 is the owner's too).
            expert = "owner" if run.expert_id == live.people["owner"].id else "other"
            _workbench(live.clients[expert], live.ide(run.id))
    finally:
        for run_id in run_ids:
            live.jobs.stop(run_id, reason="test over")
        for run_id in run_ids:
            live.jobs.wait(run_id, timeout=90)
        with Session(live.engine) as s:
            host = hosts.by_name(s, "local")
            host.gpus = []
            s.add(host)
            s.commit()
    for run_id in run_ids:
        assert live.run(run_id).status == RunStatus.finished
        assert not _user_exists(workspace(run_id))


# --- after the run ends (last: it stops the module's workspace) ----------------------------------


def test_after_the_run_is_stopped_its_ide_is_gone(live: Live) -> None:
    client = live.clients["owner"]
    open_socket = live.socket("owner")
    token = csrf_token(client, f"/runs/{live.run_id}")
    stop = client.post(f"/runs/{live.run_id}/stop", data={"csrf_token": token, "confirm": "yes"})
    assert (stop.status_code, stop.headers["location"]) == (303, f"/runs/{live.run_id}")
    live.jobs.wait(live.run_id, timeout=90)
    run = live.run()
    assert run.status == RunStatus.finished, run.status_reason
    assert not _user_exists(workspace(live.run_id))

    # A socket that was open when the workspace stopped is closed, not left hanging (until
    # then code-server sends a keep-alive frame every few seconds).
    deadline = time.monotonic() + 15
    with pytest.raises(ConnectionClosed):
        while time.monotonic() < deadline:
            open_socket.recv(timeout=5)
    open_socket.close()

    response = client.get(live.ide())
    assert response.status_code == 410
    assert response.json() == {"detail": "This run's IDE is closed."}
    assert _refused(live, "owner") == 410
    assert _refused(live, "coordinator") == 403  # staff never reach the IDE here
