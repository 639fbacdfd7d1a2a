"""The README's first command, as a newcomer meets it: ``baseliner demo`` (what ``make demo``
serves) prints the logins, the demo expert's first ``task score`` in VS Code is a valid
score (CPU mode on this GPU-less machine), wherever the checkout lives, and the demo analyst's
first sight is human and agent curves from the labelled sample the demo seeds.

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
ANALYST = "analyst@demo.baseliner"


@pytest.fixture
def demo(request, tmp_path) -> Iterator[tuple[str, dict[str, str]]]:
    """``baseliner demo`` on a free port with its own data dir: (its URL, the password printed
    for each login's email)."""
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
            logins = dict(re.findall(r"^\s+\w+\s+(\S+@demo\.baseliner)\s+(\S+)$", printed, re.M))
            try:
                up = httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                up = False
            if EXPERT in logins and up:
                break
            assert time.monotonic() < deadline, f"the demo did not come up: {printed[-2000:]}"
            time.sleep(0.2)
        yield base, logins
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
    _, logins = demo
    sign_in(page, EXPERT, logins[EXPERT])
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


def _loaded(page: Page, selector: str) -> None:
    image = page.locator(selector)
    expect(image).to_be_visible()
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=image.element_handle())


def test_the_demo_analyst_sees_human_and_agent_curves_on_first_sight(demo, page: Page, shot):
    """``make demo``, sign in as the analyst: the page opens on a task with human and agent
    curves, every figure drawn, the sample labelled as such."""
    base, logins = demo
    sign_in(page, ANALYST, logins[ANALYST])
    page.goto(f"{base}/analyst")
    expect(page).to_have_url(re.compile(r"/analyst\?task=triton_cumsum/main$"))
    expect(page.locator("#sample-data")).to_contain_text("Sample data seeded by make demo")
    expect(page.locator("#sample-data")).to_contain_text("13 human runs")
    summary = page.locator("#summary-table")
    for agent in ("human", "sample-agent-a", "sample-agent-b"):
        expect(summary.locator("tr", has_text=agent).first).to_be_visible()
    counts = page.locator("#run-counts-table")
    # The demo expert's own week is a run that never scored: it counts, as 0, and says so.
    expect(counts.locator('tr[data-agent="human"]')).to_contain_text("5")
    expect(summary.locator("tr.chosen", has_text="human")).to_contain_text("1")
    for figure in ("curve", "best-of-k", "cost"):
        _loaded(page, f"#figure-{figure} img")
    shot("analyst-first-sight")
    folder = shot("analyst-figures").parent
    for figure in ("curve", "best-of-k", "cost"):
        src = page.locator(f"#figure-{figure} img").get_attribute("src")
        (folder / f"kernel-{figure}.png").write_bytes(page.request.get(src).body())
    svg = page.request.get(
        page.locator("#figure-cost").get_by_role("link", name="SVG").get_attribute("href")
    )
    assert "log scale" in svg.text()

    # A language-model task from the summary's links: its curves too.
    page.locator("#summary-table").get_by_role("link", name="fix_embedding/main").first.click()
    expect(page).to_have_url(re.compile(r"task=fix_embedding%2Fmain|task=fix_embedding/main"))
    _loaded(page, "#figure-curve img")
    expect(page.locator("#run-counts-table")).to_contain_text("sample-agent-b")
    shot("analyst-language-model-task")
    src = page.locator("#figure-curve img").get_attribute("src")
    (folder / "fix-embedding-curve.png").write_bytes(page.request.get(src).body())
