"""Where ``make demo`` and ``baseliner serve`` listen: ``make demo PORT=… HOST=…``, the
BASELINER_PORT and BASELINER_HOST variables, and the options, each checked by the port the
server actually answers on. The public URL follows the address unless it was set."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.naming import sub_prefix
from webapp.cli import listening
from webapp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "baseliner"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "BASELINER_DATA_DIR": str(tmp_path / "var"),
        "BASELINER_DATABASE_URL": "",
        "BASELINER_WORKSPACE_PREFIX": sub_prefix("y"),
        "BASELINER_SCHEDULER": "false",
        **extra,
    }
    for name in ("BASELINER_CONFIG", "BASELINER_PUBLIC_URL", "BASELINER_PORT", "BASELINER_HOST"):
        if name not in extra:
            env.pop(name, None)
    return env


def _serves(command: list[str], env: dict[str, str], port: int, tmp_path: Path) -> str:
    """Start ``command`` (in a process group of its own), wait until /healthz answers on
    ``port``, stop it; returns what it printed."""
    log = tmp_path / f"out-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"{command} exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return log.read_text(errors="replace")
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_make_demo_port_and_host(tmp_path):
    port = _free_port()
    printed = _serves(
        ["make", "demo", f"PORT={port}", "HOST=127.0.0.1"], _env(tmp_path), port, tmp_path
    )
    assert f"--port {port} --host 127.0.0.1" in printed  # make's own echo of the command
    assert f"Baseliner demo at http://127.0.0.1:{port}/" in printed
    assert re.search(r"^\s+analyst\s+analyst@demo\.baseliner\s+demo-\S+$", printed, re.M)


def test_baseliner_port_variable_through_make_demo(tmp_path):
    """The issue's own command: ``BASELINER_PORT=8123 make demo`` (on a free port)."""
    port = _free_port()
    env = _env(tmp_path, BASELINER_PORT=str(port), BASELINER_HOST="127.0.0.1")
    printed = _serves(["make", "demo"], env, port, tmp_path)
    assert f"Baseliner demo at http://127.0.0.1:{port}/" in printed


def test_serve_option_wins_over_the_variable(tmp_path):
    taken, port = _free_port(), _free_port()
    env = _env(tmp_path, BASELINER_PORT=str(taken))
    _serves([str(BIN), "serve", "--port", str(port)], env, port, tmp_path)


def test_a_bad_port_is_a_message(tmp_path):
    for env, args in (
        (_env(tmp_path, BASELINER_PORT="eighty"), ["serve"]),
        (_env(tmp_path, BASELINER_PORT="70000"), ["demo", "--no-serve"]),
        (_env(tmp_path), ["serve", "--port", "0"]),
    ):
        done = subprocess.run(
            [str(BIN), *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert re.search(r"BASELINER_PORT|--port", done.stderr), done.stderr


def test_the_public_url_follows_the_address_unless_set(monkeypatch):
    monkeypatch.delenv("BASELINER_PUBLIC_URL", raising=False)
    monkeypatch.delenv("BASELINER_CONFIG", raising=False)
    monkeypatch.setenv("BASELINER_PORT", "8123")
    settings = listening(Settings(), None, None)
    assert (settings.host, settings.port) == ("127.0.0.1", 8123)
    assert settings.public_url == "http://127.0.0.1:8123"
    assert listening(Settings(), "0.0.0.0", 9000).public_url == "http://127.0.0.1:9000"
    assert listening(Settings(), "::1", 9000).public_url == "http://[::1]:9000"
    monkeypatch.setenv("BASELINER_PUBLIC_URL", "https://baseliner.example.org")
    kept = listening(Settings(), "0.0.0.0", 9000)
    assert (kept.public_url, kept.host, kept.port) == (
        "https://baseliner.example.org",
        "0.0.0.0",
        9000,
    )
