"""``Driver.reverse_port``: a command on the host reaches a server on this machine through a
port on the host's loopback (how the in-workspace ``task`` command reaches the portal). The ssh
cases run against the real loopback sshd, so the forward is OpenSSH's ``tcpip-forward``."""

import contextlib
import dataclasses
import http.server
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fleet.drivers.base import Driver, HostError
from fleet.drivers.local import LocalDriver
from fleet.drivers.ssh import SSHDriver
from fleet.testing_sshd import SSHD, LoopbackSSHD, free_port, start_sshd
from tests.fleet.conftest import make_ssh_driver


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{self.server.name} saw {self.path}".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _serve(name: str, port: int = 0) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Hello)
    server.daemon_threads = True
    server.name = name  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@pytest.fixture
def portal() -> Iterator[http.server.ThreadingHTTPServer]:
    """A small HTTP server on this machine: what the host should reach."""
    server = _serve("portal")
    yield server
    server.shutdown()
    server.server_close()


def _target(server: http.server.ThreadingHTTPServer) -> tuple[str, int]:
    return ("127.0.0.1", server.server_address[1])


def _curl(driver: Driver, port: int, path: str = "/x") -> str:
    url = f"http://127.0.0.1:{port}{path}"
    return driver.run(f"curl -sS --max-time 10 {shlex.quote(url)}", timeout=20).stdout


def test_a_command_on_the_host_reaches_this_machine(
    ssh_driver: SSHDriver, portal: http.server.ThreadingHTTPServer
) -> None:
    port = ssh_driver.reverse_port(_target(portal))
    assert port != portal.server_address[1]  # a port of sshd's, not the server's own
    assert _curl(ssh_driver, port, "/api/v1/task/status") == "portal saw /api/v1/task/status"


def test_python_on_the_host_reaches_it_too(
    ssh_driver: SSHDriver, portal: http.server.ThreadingHTTPServer
) -> None:
    port = ssh_driver.reverse_port(_target(portal))
    script = (
        "import urllib.request;"
        f"print(urllib.request.urlopen('http://127.0.0.1:{port}/py', timeout=10).read().decode())"
    )
    assert ssh_driver.run(f"python3 -c {shlex.quote(script)}").stdout == "portal saw /py\n"


def test_one_forward_per_target_shared_by_every_caller(
    ssh_driver: SSHDriver, portal: http.server.ThreadingHTTPServer
) -> None:
    other = _serve("other")
    try:
        first = ssh_driver.reverse_port(_target(portal))
        assert ssh_driver.reverse_port(_target(portal)) == first
        second = ssh_driver.reverse_port(_target(other))
        assert second != first
        assert _curl(ssh_driver, first) == "portal saw /x"
        assert _curl(ssh_driver, second) == "other saw /x"
    finally:
        other.shutdown()
        other.server_close()


def test_both_directions_carry_bulk_data_and_half_close(
    ssh_driver: SSHDriver, echo_port: int
) -> None:
    port = ssh_driver.reverse_port(("127.0.0.1", echo_port))
    script = f"""
import hashlib, socket, threading
payload = bytes(range(256)) * 8192  # 2 MiB
s = socket.create_connection(("127.0.0.1", {port}), timeout=20)
def send():
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
got = bytearray()
while True:
    chunk = s.recv(1 << 16)
    if not chunk:
        break
    got.extend(chunk)
t.join()
print(len(got), hashlib.sha256(got).hexdigest() == hashlib.sha256(payload).hexdigest())
"""
    result = ssh_driver.run(f"python3 -c {shlex.quote(script)}", timeout=60)
    assert result.stdout == f"{256 * 8192} True\n"


def test_concurrent_connections(
    ssh_driver: SSHDriver, portal: http.server.ThreadingHTTPServer
) -> None:
    port = ssh_driver.reverse_port(_target(portal))
    with ThreadPoolExecutor(6) as pool:
        bodies = list(pool.map(lambda i: _curl(ssh_driver, port, f"/{i}"), range(12)))
    assert bodies == [f"portal saw /{i}" for i in range(12)]


def test_the_forward_comes_back_after_a_reconnect(
    ssh_driver: SSHDriver, portal: http.server.ThreadingHTTPServer
) -> None:
    before = ssh_driver.reverse_port(_target(portal))
    old = ssh_driver._client.get_transport()
    old.close()
    # Any call reconnects, and the reconnect asks for the forward again before it returns, for
    # the same port once the old sshd process has let go of it: the URL runs were given stays.
    assert ssh_driver.run("echo back").stdout == "back\n"
    assert ssh_driver._client.get_transport() is not old
    assert _curl(ssh_driver, before, "/same") == "portal saw /same"
    assert ssh_driver.reverse_port(_target(portal)) == before


def test_a_reconnect_whose_old_port_is_taken_gets_another(
    ssh_driver: SSHDriver, portal: http.server.ThreadingHTTPServer
) -> None:
    before = ssh_driver.reverse_port(_target(portal))
    ssh_driver._client.get_transport().close()
    squatter = socket.socket()
    deadline = time.monotonic() + 10
    while True:  # until the old sshd process lets go of the port, then take it first
        try:
            squatter.bind(("127.0.0.1", before))
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    squatter.listen()
    try:
        ssh_driver.run("true")
        after = ssh_driver.reverse_port(_target(portal))
        assert after != before
        assert _curl(ssh_driver, after) == "portal saw /x"
    finally:
        squatter.close()


def test_asking_after_the_connection_died_reconnects(
    ssh_driver: SSHDriver, portal: http.server.ThreadingHTTPServer
) -> None:
    ssh_driver.reverse_port(_target(portal))
    ssh_driver._client.get_transport().close()
    port = ssh_driver.reverse_port(_target(portal))
    assert _curl(ssh_driver, port) == "portal saw /x"


def test_a_target_that_is_down_closes_the_connection_and_recovers(ssh_driver: SSHDriver) -> None:
    target_port = free_port()
    port = ssh_driver.reverse_port(("127.0.0.1", target_port))
    failed = ssh_driver.run(f"curl -sS --max-time 10 http://127.0.0.1:{port}/", check=False)
    assert failed.exit_status != 0  # an empty reply: the channel was closed, nothing hangs
    server = _serve("late", target_port)
    try:
        assert _curl(ssh_driver, port, "/now") == "late saw /now"
    finally:
        server.shutdown()
        server.server_close()


def test_close_ends_the_forwards(
    ssh_driver: SSHDriver, portal: http.server.ThreadingHTTPServer, sshd: LoopbackSSHD
) -> None:
    port = ssh_driver.reverse_port(_target(portal))
    ssh_driver.close()
    checker = make_ssh_driver(sshd)
    try:
        result = checker.run(f"curl -sS --max-time 5 http://127.0.0.1:{port}/", check=False)
        assert result.exit_status != 0
    finally:
        checker.close()


def test_local_driver_gives_the_target_port() -> None:
    driver = LocalDriver()
    assert driver.reverse_port(("127.0.0.1", 8123)) == 8123


def test_a_host_that_refuses_remote_forwards_says_what_to_change(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """An sshd with ``AllowTcpForwarding local``: the portal's own tunnels work, these do not."""
    directory = tmp_path_factory.mktemp("sshd-local-only")
    server = start_sshd(directory)
    server.stop()
    config = directory / "sshd_config"
    config.write_text(
        config.read_text().replace("AllowTcpForwarding yes", "AllowTcpForwarding local")
    )
    server = _restart(server, config)
    driver = make_ssh_driver(server)
    try:
        with pytest.raises(HostError, match="AllowTcpForwarding yes") as info:
            driver.reverse_port(("127.0.0.1", 8000))
        assert "refused to forward a port on its loopback" in str(info.value)
        assert driver.run("echo still fine").stdout == "still fine\n"
    finally:
        driver.close()
        server.stop()


def _restart(server: LoopbackSSHD, config: Path) -> LoopbackSSHD:
    """The same sshd (port, keys) started again with ``config``."""
    with server.log_path.open("ab") as log:
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", server.port), timeout=1) as sock,
        ):
            if sock.recv(4).startswith(b"SSH-"):
                return dataclasses.replace(server, process=process)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"sshd did not come back: {server.log_path.read_text()}")
