"""The Driver contract, checked against this machine and against a real sshd on loopback."""

import hashlib
import http.server
import os
import socket
import subprocess
import tarfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fleet.drivers.base import (
    CommandFailed,
    CommandTimeout,
    Driver,
    HostKeyMismatch,
    HostUnreachable,
)
from fleet.drivers.ssh import SSHDriver, fetch_host_key, fingerprint, parse_key_line
from fleet.testing_sshd import LoopbackSSHD, free_port
from tests.fleet.conftest import echo_round_trip, make_ssh_driver

MB = 1 << 20


# -- run -----------------------------------------------------------------------------------


def test_run_returns_output_and_exit_status(driver: Driver) -> None:
    result = driver.run("echo out; echo err >&2; printf 'é'")
    assert (result.exit_status, result.stdout, result.stderr) == (0, "out\né", "err\n")
    assert result.command == "echo out; echo err >&2; printf 'é'"


def test_run_quotes_the_command_once(driver: Driver) -> None:
    result = driver.run("""x='a "b" $c'; echo "$x" | tr a A; echo $((6 * 7))""")
    assert result.stdout == 'A "b" $c\n42\n'


def test_check_false_returns_the_failure(driver: Driver) -> None:
    result = driver.run("echo nope >&2; exit 3", check=False)
    assert (result.exit_status, result.stderr) == (3, "nope\n")


def test_failure_raises_with_the_message(driver: Driver) -> None:
    with pytest.raises(CommandFailed) as info:
        driver.run("echo partial; echo 'disk is full' >&2; exit 4")
    assert info.value.result.exit_status == 4
    assert info.value.result.stdout == "partial\n"
    assert "exited with 4" in str(info.value) and "disk is full" in str(info.value)


def _running(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True)
    return found.stdout.splitlines()


def test_timeout_kills_the_command_and_its_children(driver: Driver) -> None:
    # sleep takes fractional seconds: the odd value is the marker pgrep looks for
    marker = f"sleep 30.{os.getpid()}{time.monotonic_ns() % 100000}"
    start = time.monotonic()
    with pytest.raises(CommandTimeout) as info:
        driver.run(f"{marker} & {marker}; echo never", timeout=1)
    assert time.monotonic() - start < 3
    assert info.value.timeout == 1 and "within 1 s" in str(info.value)
    deadline = time.monotonic() + 2
    while _running(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _running(marker) == []


def test_background_daemon_with_redirected_output_survives(driver: Driver) -> None:
    """Starting a service (code-server) is `nohup … >log 2>&1 &`: run returns, it keeps going."""
    marker = f"sleep 20.{os.getpid()}{time.monotonic_ns() % 100000}"
    driver.run(f"nohup {marker} >/dev/null 2>&1 &", timeout=5)
    try:
        assert _running(marker)
    finally:
        subprocess.run(["pkill", "-f", marker])


def test_stdin_input(driver: Driver) -> None:
    assert driver.run("cat", input=b"hello\nworld\n").stdout == "hello\nworld\n"
    payload = os.urandom(3 * MB)
    digest = driver.run("sha256sum", input=payload).stdout.split()[0]
    assert digest == hashlib.sha256(payload).hexdigest()


def test_input_the_command_ignores_does_not_hang(driver: Driver) -> None:
    assert driver.run("exit 0", input=b"x" * (5 * MB), timeout=10).exit_status == 0


def test_large_output_on_both_streams(driver: Driver) -> None:
    # stderr first: a driver that read only stdout until EOF would deadlock here
    result = driver.run("head -c 5000000 /dev/zero | tr '\\0' e >&2; head -c 5000000 /dev/zero")
    assert len(result.stderr) == 5_000_000 and set(result.stderr) == {"e"}
    assert len(result.stdout) == 5_000_000


def test_concurrent_runs_share_the_driver(driver: Driver) -> None:
    """More at once than OpenSSH's default MaxSessions (10): the ssh driver queues the rest."""
    with ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(lambda i: driver.run(f"sleep 0.3; echo {i}").stdout, range(16)))
    assert outs == [f"{i}\n" for i in range(16)]


# -- files ---------------------------------------------------------------------------------


def _make_tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "secret").write_bytes(os.urandom(1000))
    (root / "secret").chmod(0o600)
    (root / "sub" / "deeper" / "data.bin").write_bytes(os.urandom(300_000))
    (root / "sub" / "deeper" / "data.bin").chmod(0o640)
    (root / "sub" / "name with spaces.txt").write_text("spaces\n")
    (root / "link").symlink_to("run.sh")


def _snapshot(root: Path) -> dict[str, tuple[int, bytes | str | None]]:
    snap: dict[str, tuple[int, bytes | str | None]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            snap[rel] = (0, os.readlink(path))
        elif path.is_dir():
            snap[rel] = (path.stat().st_mode & 0o7777, None)
        else:
            snap[rel] = (path.stat().st_mode & 0o7777, path.read_bytes())
    return snap


def test_run_to_file_streams_a_tar(driver: Driver, tmp_path: Path) -> None:
    source = tmp_path / "task"
    source.mkdir()
    _make_tree(source)
    archive = tmp_path / "task.tar"
    size = driver.run_to_file(f"tar -c -C '{source}' .", archive, timeout=30)
    assert size == archive.stat().st_size > 300_000
    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        # Debian's Python 3.11.2 predates extraction filters; this tar is our own anyway.
        tar.extractall(unpacked, **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))
    assert _snapshot(unpacked) == _snapshot(source)


def test_run_to_file_failure_leaves_no_file(driver: Driver, tmp_path: Path) -> None:
    archive = tmp_path / "out.tar"
    with pytest.raises(CommandFailed) as info:
        driver.run_to_file("echo some; echo 'no such folder' >&2; exit 2", archive)
    assert "no such folder" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_put_tree_copies_nested_files_with_modes(driver: Driver, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    _make_tree(source)
    destination = tmp_path / "host" / "new" / "task"
    driver.put_tree(source, str(destination))
    assert _snapshot(destination) == _snapshot(source)
    # again, over the top: files are replaced, other files are left alone
    (destination / "extra").write_text("mine")
    (source / "secret").write_bytes(b"changed")
    driver.put_tree(source, str(destination))
    assert (destination / "secret").read_bytes() == b"changed"
    assert (destination / "extra").read_text() == "mine"


def test_put_tree_of_a_large_file(driver: Driver, tmp_path: Path) -> None:
    source = tmp_path / "big"
    source.mkdir()
    blob = os.urandom(48 * MB)
    (source / "blob").write_bytes(blob)
    driver.put_tree(source, str(tmp_path / "copy"), timeout=60)
    assert (tmp_path / "copy" / "blob").read_bytes() == blob


def test_put_tree_of_a_missing_folder_says_so(driver: Driver, tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        driver.put_tree(tmp_path / "absent", str(tmp_path / "dest"))
    assert not (tmp_path / "dest").exists()


def test_put_tree_failure_on_the_host_raises(driver: Driver, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should go")
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "f").write_text("x")
    with pytest.raises(CommandFailed, match="exited with"):
        driver.put_tree(tmp_path / "source", str(tmp_path / "blocker" / "dest"))


# -- endpoint ------------------------------------------------------------------------------


def test_endpoint_carries_concurrent_connections_intact(driver: Driver, echo_port: int) -> None:
    address = driver.endpoint(echo_port)
    assert address[0] == "127.0.0.1"
    assert driver.endpoint(echo_port) == address  # reused per remote port
    payloads = [os.urandom(MB) for _ in range(12)]
    with ThreadPoolExecutor(len(payloads)) as pool:
        echoed = list(pool.map(lambda p: echo_round_trip(address, p), payloads))
    assert [hashlib.sha256(e).digest() for e in echoed] == [
        hashlib.sha256(p).digest() for p in payloads
    ]


def test_endpoint_reaches_an_http_server(driver: Driver, tmp_path: Path) -> None:
    (tmp_path / "healthz").write_text('{"status": "alive"}')

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = driver.endpoint(server.server_address[1])
        for _ in range(3):  # keep-alive off: a fresh forwarded connection each time
            with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=10) as response:
                assert response.read() == b'{"status": "alive"}'
    finally:
        server.shutdown()
        server.server_close()


# -- ssh only ------------------------------------------------------------------------------


def test_wrong_pinned_key_is_refused_before_anything_runs(
    sshd: LoopbackSSHD, tmp_path: Path
) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")])
    impostor = (tmp_path / "k.pub").read_text()
    driver = make_ssh_driver(sshd, host_key=impostor)
    marker = tmp_path / "ran"
    with pytest.raises(HostKeyMismatch) as info:
        driver.run(f"touch '{marker}'")
    message = str(info.value)
    assert fingerprint(impostor) in message
    assert fingerprint(sshd.host_key_line) in message
    assert f"{sshd.address}:{sshd.port}" in message
    assert isinstance(info.value, HostUnreachable)
    assert not marker.exists()
    driver.close()


def test_pinned_key_of_another_type_is_refused(sshd: LoopbackSSHD, tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(tmp_path / "k")])
    driver = make_ssh_driver(sshd, host_key=(tmp_path / "k.pub").read_text())
    with pytest.raises(HostKeyMismatch, match="ecdsa"):
        driver.connect()
    driver.close()


def test_fetch_host_key_matches_ssh_keygen(sshd: LoopbackSSHD) -> None:
    line = fetch_host_key(sshd.address, sshd.port, timeout=5)
    assert line == sshd.host_key_line
    keygen = subprocess.run(
        ["ssh-keygen", "-lf", str(sshd.host_pub_path)], capture_output=True, text=True, check=True
    )
    assert fingerprint(line) == keygen.stdout.split()[1]


def test_bad_key_line_is_a_clear_error(sshd: LoopbackSSHD) -> None:
    with pytest.raises(ValueError, match="not an OpenSSH public key line"):
        parse_key_line("ssh-ed25519")
    with pytest.raises(ValueError, match="not an OpenSSH public key line"):
        make_ssh_driver(sshd, host_key="ssh-ed25519 not-base64!")


def test_refused_port_is_unreachable_quickly(sshd: LoopbackSSHD) -> None:
    port = free_port()
    driver = SSHDriver("127.0.0.1", port, "root", sshd.key_path, sshd.host_key_line)
    start = time.monotonic()
    with pytest.raises(HostUnreachable, match=f"127.0.0.1:{port}: connection refused"):
        driver.run("true")
    assert time.monotonic() - start < 2
    with pytest.raises(HostUnreachable, match="connection refused"):
        fetch_host_key("127.0.0.1", port, timeout=2)


def test_silent_port_times_out(sshd: LoopbackSSHD) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never says a word
        port = silent.getsockname()[1]
        driver = SSHDriver(
            "127.0.0.1", port, "root", sshd.key_path, sshd.host_key_line, connect_timeout=1.0
        )
        start = time.monotonic()
        with pytest.raises(HostUnreachable, match=f"127.0.0.1:{port}: no SSH handshake within 1 s"):
            driver.connect()
        with pytest.raises(HostUnreachable, match=f"127.0.0.1:{port}: no SSH handshake"):
            fetch_host_key("127.0.0.1", port, timeout=1)
        assert time.monotonic() - start < 5


def test_unknown_user_key_fails_authentication(sshd: LoopbackSSHD, tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")])
    driver = SSHDriver(sshd.address, sshd.port, "root", tmp_path / "k", sshd.host_key_line)
    with pytest.raises(HostUnreachable, match="authentication as root"):
        driver.connect()
    missing = SSHDriver(sshd.address, sshd.port, "root", tmp_path / "nope", sshd.host_key_line)
    with pytest.raises(HostUnreachable, match="private key"):
        missing.connect()


def test_run_reconnects_after_the_connection_dies(ssh_driver: SSHDriver) -> None:
    old = ssh_driver._client.get_transport()
    old.close()
    assert ssh_driver.run("echo back").stdout == "back\n"
    assert ssh_driver._client.get_transport() is not old


def test_forwarder_survives_a_reconnect(ssh_driver: SSHDriver, echo_port: int) -> None:
    address = ssh_driver.endpoint(echo_port)
    assert echo_round_trip(address, b"before") == b"before"
    ssh_driver._client.get_transport().close()
    assert echo_round_trip(address, b"after") == b"after"
    assert ssh_driver.endpoint(echo_port) == address


def test_connection_lost_mid_command_is_unreachable(ssh_driver: SSHDriver) -> None:
    transport = ssh_driver._client.get_transport()
    threading.Timer(0.5, transport.close).start()
    with pytest.raises(HostUnreachable, match="dropped"):
        ssh_driver.run("sleep 3", timeout=10)


def test_forward_to_a_closed_port_closes_the_local_connection(ssh_driver: SSHDriver) -> None:
    address = ssh_driver.endpoint(free_port())
    with socket.create_connection(address, timeout=10) as sock:
        assert sock.recv(10) == b""


def test_close_stops_forwarders(ssh_driver: SSHDriver, echo_port: int) -> None:
    address = ssh_driver.endpoint(echo_port)
    ssh_driver.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=2)
    with pytest.raises(HostUnreachable, match="closed"):
        ssh_driver.run("true")
