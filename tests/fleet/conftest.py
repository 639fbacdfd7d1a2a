"""Fixtures for the fleet tests: a real sshd on loopback, drivers for it and for this machine, and
a TCP echo server to reach through ``endpoint``."""

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from fleet.drivers.base import Driver
from fleet.drivers.local import LocalDriver
from fleet.drivers.ssh import SSHDriver
from fleet.testing_sshd import LoopbackSSHD


def make_ssh_driver(sshd: LoopbackSSHD, **kwargs) -> SSHDriver:
    options = {"connect_timeout": 5.0, "host_key": sshd.host_key_line, **kwargs}
    return SSHDriver(sshd.address, sshd.port, sshd.username, sshd.key_path, **options)


@pytest.fixture
def ssh_driver(sshd: LoopbackSSHD) -> Iterator[SSHDriver]:
    driver = make_ssh_driver(sshd)
    driver.connect()
    yield driver
    driver.close()


@pytest.fixture(params=["local", "ssh"])
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    """Each shared behaviour runs against both drivers (the ssh host is this machine too)."""
    if request.param == "ssh":
        yield request.getfixturevalue("ssh_driver")
        return
    local = LocalDriver()
    yield local
    local.close()


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(1 << 16):
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="session")
def echo_port() -> Iterator[int]:
    """A TCP echo server on a loopback port: what a driver's endpoint should reach."""
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def echo_round_trip(address: tuple[str, int], payload: bytes) -> bytes:
    """Send ``payload`` while reading the echo, then half-close and read to EOF."""
    with socket.create_connection(address, timeout=10) as sock:

        def send() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        received = bytearray()
        while chunk := sock.recv(1 << 16):
            received.extend(chunk)
        sender.join()
        return bytes(received)
