"""The IDE port is the run's own: a port something already listens on is never leased, and the
IDE is served only once the server on the port proves it is this run's code-server (its key);
a stranger there fails the start with the reason, and the port is released."""

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlmodel import Session, select

from baselines.runs import Lease, Run, RunStatus
from baselines.users import Role
from fleet import allocation, ports, workspaces
from fleet.backends.common import ide_settings
from fleet.connections import Connections
from fleet.hosts import Host
from fleet.workspaces import NotOurs, wait_ready
from tests.hosts import ready_host
from tests.naming import PREFIX, workspace
from timetracking.utc import utcnow
from webapp.workspace_jobs import WorkspaceJobs

pytestmark = pytest.mark.host  # runs once: the database is incidental here

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


class _Open(BaseHTTPRequestHandler):
    """A service anyone may use that answers /healthz like code-server (another installation's
    code-server without auth, or any web app)."""

    def do_GET(self) -> None:
        body = json.dumps({"status": "alive", "lastHeartbeat": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _LoginWall(_Open):
    """Refuses everyone but /healthz with a redirect to its login page, like a code-server
    whose key is not ours: our key is not let in either."""

    def do_GET(self) -> None:
        if self.path == "/healthz":
            return super().do_GET()
        self.send_response(302)
        self.send_header("Location", "./login")
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def _serve(handler: type, port: int = 0) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _new_run(engine, make_user) -> int:
    expert = make_user(Role.expert)
    with Session(engine) as s:
        run = Run(expert_id=expert.id, environment="demo/main", created_at=utcnow())
        s.add(run)
        s.commit()
        return run.id


def _files(tmp_path: Path, run_id: int) -> Path:
    folder = tmp_path / f"files-{run_id}"
    folder.mkdir()
    (folder / "README.md").write_text("# the task\n")
    return folder


def _run(engine, run_id: int) -> Run:
    with Session(engine) as s:
        return s.get(Run, run_id)


def _next_port(engine, host: Host, driver) -> int:
    """The port the next run on ``host`` would be leased."""
    with Session(engine) as s:
        taken = allocation.leased(s, host, "port") | ports.listening(driver)
    return next(p for p in allocation.port_order(PREFIX) if p not in taken)


@pytest.fixture
def jobs(engine, tmp_path):
    jobs = WorkspaceJobs(engine, tmp_path / "data", PREFIX)
    yield jobs
    jobs.close()


def test_the_kernel_tables_are_read_as_listening_ports():
    tables = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
        "   0: 0100007F:4E20 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000\n"
        "   1: 0100007F:4E21 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000\n"
        "   0: 00000000000000000000000001000000:4E22 00000000000000000000000000000000:0000 0A\n"
    )
    assert ports.parse(tables) == {20000, 20002}  # 20001 is a connection, not a listener


def test_a_listening_socket_is_seen_through_the_driver(driver):
    """Whoever owns it, on IPv4 or IPv6 loopback, through the local and the SSH driver."""
    with socket.socket() as v4, socket.socket(socket.AF_INET6) as v6:
        v4.bind(("127.0.0.1", 0))
        v6.bind(("::1", 0))
        closed = v4.getsockname()[1]
        assert closed not in ports.listening(driver)  # bound, not listening: free to take
        v4.listen()
        v6.listen()
        seen = ports.listening(driver)
        assert v4.getsockname()[1] in seen and v6.getsockname()[1] in seen


def test_installations_try_ports_from_different_points():
    """Two installations starting at once do not both reach for the lowest port."""
    orders = {prefix: allocation.port_order(prefix) for prefix in ("bl", "bt1a2b", "demo")}
    for order in orders.values():
        assert sorted(order) == list(allocation.PORTS)
    assert len({order[0] for order in orders.values()}) == 3


def test_a_stranger_answering_healthz_is_not_the_ide():
    for handler, why in ((_Open, "answers without the run's key"), (_LoginWall, "does not admit")):
        with _serve(handler) as port, pytest.raises(NotOurs, match=why):
            wait_ready(("127.0.0.1", port), 5, key="the-runs-key")


def test_vs_code_forwards_no_ports_by_itself():
    for ai_tools in (True, False):
        settings = json.loads(ide_settings(ai_tools))
        assert settings["remote.autoForwardPorts"] is False
        assert settings["remote.restoreForwardedPorts"] is False
        assert settings["remote.forwardOnOpen"] is False
        assert settings["remote.otherPortsAttributes"] == {"onAutoForward": "ignore"}


@needs_root
def test_a_port_in_use_is_skipped_and_the_ide_is_ours(engine, make_user, jobs, tmp_path):
    """A foreign service answers /healthz on the very port the run would get: the run is leased
    the next one, and its own code-server proves itself there (settings: no auto-forward)."""
    host = ready_host(engine)
    connections = Connections(PREFIX)
    run_id = _new_run(engine, make_user)
    try:
        wanted = _next_port(engine, host, connections.driver(host))
        with _serve(_Open, wanted):
            jobs.start(run_id, files=_files(tmp_path, run_id))
            jobs.wait(run_id, timeout=90)
            run = _run(engine, run_id)
            assert run.status == RunStatus.active, run.status_reason
            assert run.port != wanted
            assert workspaces.alive(connections, run, host)
        settings = Path(f"/home/{workspace(run_id)}/.local/share/code-server/User/settings.json")
        assert json.loads(settings.read_text())["remote.autoForwardPorts"] is False
    finally:
        jobs.stop(run_id)
        jobs.wait(run_id, timeout=60)
        connections.close()


@needs_root
def test_another_runs_code_server_is_not_accepted(engine, make_user, jobs, tmp_path):
    """A real code-server of another run answers on the port: with this run's key it is not
    opened (re-attach says it is gone), while its own run still is."""
    host = ready_host(engine)
    connections = Connections(PREFIX)
    other_id = _new_run(engine, make_user)
    try:
        jobs.start(other_id, files=_files(tmp_path, other_id))
        jobs.wait(other_id, timeout=90)
        other = _run(engine, other_id)
        assert other.status == RunStatus.active, other.status_reason
        mine = other.model_copy(update={"id": 0, "ide_key": "not-the-other-key"})
        assert workspaces.alive(connections, other, host)
        assert not workspaces.alive(connections, mine, host)
        with pytest.raises(NotOurs, match="does not admit the run's key"):
            wait_ready(("127.0.0.1", other.port), 10, key=mine.ide_key)
    finally:
        jobs.stop(other_id)
        jobs.wait(other_id, timeout=60)
        connections.close()


@needs_root
def test_a_stranger_taking_the_port_after_the_lease_fails_the_start(
    engine, make_user, jobs, tmp_path
):
    """Another program binds the run's port between the lease and code-server's start (another
    installation's start racing ours): the start fails saying so, the user it made is removed,
    the port is released, and nothing was proxied."""
    ready_host(engine)
    run_id = _new_run(engine, make_user)
    bound: list[int] = []
    done = threading.Event()

    def race() -> None:
        deadline = time.monotonic() + 60
        while not done.is_set() and time.monotonic() < deadline:
            with Session(engine) as s:
                query = select(Lease.value).where(Lease.run_id == run_id, Lease.kind == "port")
                port = s.exec(query).first()
            if port is not None:
                with _serve(_Open, port):
                    bound.append(port)
                    done.wait(60)
                return
            time.sleep(0.005)

    rival = threading.Thread(target=race)
    rival.start()
    try:
        jobs.start(run_id, files=_files(tmp_path, run_id))
        jobs.wait(run_id, timeout=90)
    finally:
        done.set()
        rival.join()
    run = _run(engine, run_id)
    assert bound, "the rival never saw the lease"
    assert run.status == RunStatus.failed
    assert "Another program answers on the IDE's port" in run.status_reason
    assert "answers without the run's key" in run.status_reason
    assert "Start again: a port in use is skipped." in run.status_reason
    assert not Path(f"/home/{workspace(run_id)}").exists()
    with Session(engine) as s:
        assert s.exec(select(Lease).where(Lease.run_id == run_id)).all() == []
