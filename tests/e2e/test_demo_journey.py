"""The README's first command, as a newcomer meets it: ``baseliner demo`` (what ``make demo``
serves) prints the logins, and the demo expert's first ``task score`` in VS Code is a valid
score (CPU mode on this GPU-less machine), wherever the checkout lives.

The demo keeps its own SQLite database in its data dir whatever ``--db`` says, so this journey
runs in the SQLite pass only.
"""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser import sign_in
from tests.naming import sub_prefix

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")
BIN = Path(sys.executable).parent / "baseliner"
EXPERT = "expert@demo.baseliner"


@pytest.fixture
def demo(request, tmp_path) -> Iterator[tuple[str, str]]:
    """``baseliner demo`` on a free port with its own data dir: (its URL, the expert's password)."""
    if request.config.getoption("--db") != "sqlite":
        pytest.skip("the demo runs on its own SQLite database: once is enough")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BASELINER_DATA_DIR": str(tmp_path / "var"),
        "BASELINER_PUBLIC_URL": base,
        "BASELINER_DATABASE_URL": "",
        # Its run ids start at 1 in a database of its own: names of its own, swept with ours.
        "BASELINER_WORKSPACE_PREFIX": sub_prefix("z"),
    }
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN), "demo", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"baseliner demo exited: {log.read_text()[-2000:]}")
            printed = log.read_text(errors="replace")
            login = re.search(rf"^\s+expert\s+{re.escape(EXPERT)}\s+(\S+)$", printed, re.M)
            try:
                up = httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                up = False
            if login and up:
                break
            assert time.monotonic() < deadline, f"the demo did not come up: {printed[-2000:]}"
            time.sleep(0.2)
        yield base, login.group(1)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def live_server(demo) -> str:
    """The pages of this journey are the demo's."""
    return demo[0]


def test_the_demo_experts_first_task_score_is_valid(demo, page: Page, shot):
    _, password = demo
    sign_in(page, EXPERT, password)
    expect(page.get_by_role("button", name="Start")).to_be_visible()
    shot("expert-dashboard")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#run-status")).to_have_text("active", timeout=120_000)
    run_url = page.url

    with page.context.expect_page() as tab:
        page.locator("#open-ide").click()
    ide = tab.value
    ide.wait_for_selector(".monaco-workbench", timeout=45_000)
    expect(ide.locator(".explorer-folders-view")).to_contain_text("INSTRUCTIONS.md", timeout=30_000)
    ide.keyboard.press("Control+Backquote")
    ide.wait_for_selector(".xterm", timeout=20_000)
    ide.locator(".xterm").first.click()
    ide.keyboard.type("task score")
    ide.keyboard.press("Enter")
    terminal = ide.locator(".xterm-rows").first
    expect(terminal).to_contain_text("Checkpoint 1", timeout=30_000)
    # The starting solution scores: a number and "valid", not a scorer that could not run.
    expect(terminal).to_contain_text(re.compile(r"score -?[0-9.]+.*valid"), timeout=180_000)
    assert "could not be scored" not in terminal.inner_text()
    time.sleep(0.5)
    shot("vscode-task-score-valid", on=ide)

    page.bring_to_front()
    page.goto(run_url)
    first = page.locator("#checkpoints tbody tr").first
    expect(first).to_contain_text("scored")
    shot("portal-score-log")
    page.get_by_role("button", name="Stop workspace").click()
    page.get_by_role("button", name="Stop for good").click()  # the confirmation
    expect(page.locator("#run-status")).to_have_text("finished", timeout=60_000)
