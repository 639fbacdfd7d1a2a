"""Fixtures for the IDE proxy: real code-server, an echo upstream, and the proxy app, all served
on loopback ports (see ``servers.py``)."""

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleet import codeserver
from tests.ide.servers import Echo, ProxyApp, echo_app, free_port, proxy_app, serve, wait_for

WORKBENCH_SETTINGS = {
    "chat.disableAIFeatures": True,
    "workbench.startupEditor": "none",
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "workbench.tips.enabled": False,
    # The DOM renderer, so the test can read the prompt (canvas and WebGL draw it as pixels).
    "terminal.integrated.gpuAcceleration": "off",
}


@pytest.fixture(scope="session")
def code_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """Real code-server (as this user, root here) serving a fresh folder; yields (port, folder)."""
    if not codeserver.code_server_bin().exists():
        pytest.skip(f"code-server is not installed at {codeserver.code_server_bin()}")
    root = tmp_path_factory.mktemp("code-server")
    folder = root / "work"
    folder.mkdir()
    # Quiet the workbench so the test's keys reach the terminal, not a chat or welcome page.
    settings = root / "data" / "User" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps(WORKBENCH_SETTINGS))
    port = free_port()
    line = codeserver.command(
        port=port,
        folder=str(folder),
        user_data_dir=str(root / "data"),
        extensions_dir=str(root / "extensions"),
    )
    log = (root / "code-server.log").open("wb")
    proc = subprocess.Popen(
        ["bash", "-c", line], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )

    def alive() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        if not wait_for(lambda: proc.poll() is not None or alive(), timeout=30):
            pytest.fail("code-server did not answer /healthz within 30 s")
        if proc.poll() is not None:
            pytest.fail(f"code-server exited: {(root / 'code-server.log').read_text()[-2000:]}")
        yield port, folder
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def echo() -> Iterator[tuple[str, Echo]]:
    seen = Echo()
    with serve(echo_app(seen)) as base:
        yield base, seen


@pytest.fixture(scope="session")
def proxy(echo: tuple[str, Echo]) -> Iterator[ProxyApp]:
    """The proxy app; run "echo" goes to the echo upstream, run "down" to a closed port."""
    state = ProxyApp()
    state.upstreams["echo"] = int(echo[0].rsplit(":", 1)[1])
    state.upstreams["down"] = free_port()
    # No proxy_headers: the proxy sees the test client's own address, whatever it claims.
    with serve(proxy_app(state), proxy_headers=False) as base:
        state.base = base
        yield state


@pytest.fixture(scope="session")
def ide(proxy: ProxyApp, code_server: tuple[int, Path]) -> tuple[str, Path]:
    """The proxy with run "1" pointing at code-server; yields (IDE base URL, folder)."""
    port, folder = code_server
    proxy.upstreams["1"] = port
    return f"{proxy.base}/ide/1", folder
