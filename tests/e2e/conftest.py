"""Browser journeys: the app served by uvicorn on a free local port, driven by Debian's Chromium.

Fixtures:
- ``live_server``: the base URL (``http://127.0.0.1:<port>``) of the ``app`` fixture, served in a
  background thread for one test.
- ``browser``: one headless Chromium for the session (``/usr/bin/chromium``; never downloaded).
- ``new_page``: ``new_page()`` opens a page in a fresh browser context (own cookies), as a second
  person on another computer would; all are closed at the end of the test.
- ``page``: the test's first such page.
- ``shot``: ``shot("name")`` or ``shot("name", other_page)`` saves a full-page PNG to
  ``tests/e2e/screenshots/<test>/<NN>-<name>.png``; the folder is emptied when the test starts.

Every test under tests/e2e is marked ``e2e`` (deselect with ``-m "not e2e"``).
"""

import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect

E2E_DIR = Path(__file__).resolve().parent
SCREENSHOTS = E2E_DIR / "screenshots"
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def server_socket() -> Iterator[socket.socket]:
    """A listening socket on a free port, bound before the app exists so its URL is known."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield sock
    sock.close()


@pytest.fixture
def base_url(server_socket: socket.socket) -> str:
    host, port = server_socket.getsockname()
    return f"http://{host}:{port}"


@pytest.fixture
def settings(settings, base_url: str):
    """The suite's settings, with the public URL of this server (so set-password links work)."""
    settings.public_url = base_url
    return settings


@pytest.fixture
def live_server(app, server_socket: socket.socket, base_url: str) -> Iterator[str]:
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [server_socket]}, name="uvicorn", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while True:
        if not thread.is_alive():
            pytest.fail("uvicorn stopped before it answered /healthz")
        try:
            if server.started and httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail(f"{base_url}/healthz did not answer within 15 s")
        time.sleep(0.02)
    yield base_url
    server.should_exit = True
    thread.join(timeout=15)
    assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def new_page(browser: Browser, live_server: str) -> Iterator[Callable[[], Page]]:
    contexts: list[BrowserContext] = []
    page_errors: list[str] = []

    def make() -> Page:
        context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not page_errors, f"JavaScript errors on the pages: {page_errors}"


@pytest.fixture
def page(new_page: Callable[[], Page]) -> Page:
    return new_page()


@pytest.fixture
def shot(request: pytest.FixtureRequest, page: Page) -> Callable[..., Path]:
    folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    counter = iter(range(1, 100))

    def take(name: str, on: Page | None = None) -> Path:
        path = folder / f"{next(counter):02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        (on or page).screenshot(path=str(path), full_page=True)
        return path

    return take
