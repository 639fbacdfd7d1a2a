"""What the SSH forwarder costs: round trips and bulk throughput, direct vs through the tunnel.

Starts its own sshd on loopback (fleet.testing_sshd, the launcher the tests use), a TCP echo
server, a sink and a source, then measures

- the round-trip time of small messages on one connection (what typing in the browser IDE feels),
- bulk throughput each way (what opening a big file or a snapshot download feels),
- the latency of ``driver.run("true")`` (one session channel per command).

Run: ``.venv/bin/python bench/ssh_tunnel.py [--messages 1000] [--bulk-mb 200]``.
"""

import argparse
import datetime
import os
import platform
import socket
import socketserver
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fleet.drivers.ssh import SSHDriver
from fleet.testing_sshd import start_sshd

CHUNK = 1 << 16


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _serve(handle: Callable[[socket.socket], None]) -> int:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handle(self.request)

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def _echo(sock: socket.socket) -> None:
    while data := sock.recv(CHUNK):
        sock.sendall(data)


def _sink(sock: socket.socket) -> None:
    total = 0
    while data := sock.recv(CHUNK):
        total += len(data)
    sock.sendall(str(total).encode())


def _source(sock: socket.socket) -> None:
    size = int(sock.recv(64).decode())
    block = b"\xa5" * CHUNK
    while size > 0:
        sock.sendall(block[: min(size, CHUNK)])
        size -= CHUNK


def round_trips(address: tuple[str, int], count: int, size: int = 64) -> list[float]:
    message = b"m" * size
    times = []
    with socket.create_connection(address) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(message)
            got = 0
            while got < size:
                got += len(sock.recv(size - got))
            times.append(time.perf_counter() - start)
    return times


def upload(address: tuple[str, int], total: int) -> float:
    block = b"\x5a" * CHUNK
    start = time.perf_counter()
    with socket.create_connection(address) as sock:
        sent = 0
        while sent < total:
            sock.sendall(block)
            sent += len(block)
        sock.shutdown(socket.SHUT_WR)
        assert int(sock.recv(64)) == sent
    return sent / (time.perf_counter() - start)


def download(address: tuple[str, int], total: int) -> float:
    start = time.perf_counter()
    with socket.create_connection(address) as sock:
        sock.sendall(str(total).encode())
        got = 0
        while data := sock.recv(1 << 18):
            got += len(data)
    assert got == total
    return got / (time.perf_counter() - start)


def _ms(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--bulk-mb", type=int, default=200)
    parser.add_argument("--commands", type=int, default=50)
    args = parser.parse_args()
    bulk = args.bulk_mb << 20
    echo, sink, source = _serve(_echo), _serve(_sink), _serve(_source)
    with tempfile.TemporaryDirectory() as tmp:
        sshd = start_sshd(Path(tmp))
        driver = SSHDriver(
            sshd.address, sshd.port, sshd.username, sshd.key_path, sshd.host_key_line
        )
        try:
            driver.connect()
            machine = f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs)"
            print(f"# {datetime.date.today()}, {machine}, Python {platform.python_version()}")
            cipher = driver._client.get_transport().remote_cipher  # peek: what was negotiated
            print(
                f"# cipher {cipher}; rtt: {args.messages} messages of 64 B; bulk: {args.bulk_mb} MB"
            )
            print(f"{'path':<10} {'p50 ms':>8} {'p95 ms':>8} {'up MB/s':>8} {'down MB/s':>9}")
            for name, route in (
                ("direct", lambda p: ("127.0.0.1", p)),
                ("forwarder", driver.endpoint),
            ):
                rtt = round_trips(route(echo), args.messages)
                up = upload(route(sink), bulk) / 1e6
                down = download(route(source), bulk) / 1e6
                p50, p95 = _ms(rtt, 50), _ms(rtt, 95)
                print(f"{name:<10} {p50:>8.3f} {p95:>8.3f} {up:>8.0f} {down:>9.0f}")
            runs = []
            for _ in range(args.commands):
                start = time.perf_counter()
                driver.run("true")
                runs.append(time.perf_counter() - start)
            print(
                f"run('true') over ssh: p50 {_ms(runs, 50):.1f} ms, p95 {_ms(runs, 95):.1f} ms "
                f"({args.commands} commands; includes the host's login-shell startup)"
            )
        finally:
            driver.close()
            sshd.stop()


if __name__ == "__main__":
    main()
