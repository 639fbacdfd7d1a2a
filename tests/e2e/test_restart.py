"""Kill the platform process while a workspace is live and its clock paused; restart it; the same
IDE URL works again and the pause is still there, to the second.

The portal runs as a real process (``baseliner serve``), as in production. An expert starts a
workspace through it and has VS Code open in Chromium; the portal is killed with SIGKILL (no
shutdown code runs) and started again on the same port. The same browser session (same cookie:
the session secret is the same) opens the same /ide/<run>/ address, the WebSocket works, and the
workspace was never restarted: code-server is the same process as before.
"""

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page
from sqlmodel import Session, select
from websockets.sync.client import connect

from baselines import applications, assignments
from baselines.applications import Application
from baselines.assignments import AiTools
from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from fleet import workspaces
from fleet.connections import Connections
from fleet.testing_sshd import free_port
from tests.conftest import csrf_token, login
from tests.e2e.conftest import SCREENSHOTS, TIMEOUT_MS
from tests.families import write_warmup
from tests.hosts import ready_host
from tests.naming import PREFIX
from tests.portal import Portal
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


@pytest.fixture
def environments_dir(tmp_path) -> Path:
    return write_warmup(
        tmp_path / "envs", {"notes.md": "# Notes\n\nStill here after the restart.\n"}
    )


@pytest.fixture
def portal(database_url, engine, tmp_path, environments_dir) -> Iterator[Portal]:
    env = {
        **os.environ,
        "BASELINER_DATABASE_URL": database_url,
        "BASELINER_DATA_DIR": str(tmp_path / "data"),
        "BASELINER_ENVIRONMENT_DIRS": str(environments_dir),
        "BASELINER_SECRET_KEY": "restart-test-secret-key",
        "BASELINER_SCHEDULER": "false",
    }
    env.pop("BASELINER_CONFIG", None)
    portal = Portal(free_port(), env, tmp_path / "portal.log")
    try:
        yield portal
    finally:
        portal.stop()


@pytest.fixture
def expert_with_assignment(engine, make_user) -> tuple[User, int]:
    """The local host, ready, and an approved expert with an assignment, made as the
    coordinator's pages would make them."""
    expert = make_user(Role.expert, name="Rei Start")
    coordinator = make_user(Role.coordinator)
    ready_host(engine)
    with Session(engine) as s:
        actor = s.get(User, coordinator.id)
        application = s.exec(select(Application).where(Application.user_id == expert.id)).one()
        applications.approve(s, application, actor, utcnow())
        assignment = assignments.create(
            s,
            expert=s.get(User, expert.id),
            environment="warmup/main",
            time_limit_s=3600,
            ai_tools=AiTools.none,
            actor=actor,
            now=utcnow(),
        )
        s.commit()
        return expert, assignment.id


def _run(engine, run_id: int) -> Run:
    with Session(engine) as s:
        return s.get(Run, run_id)


def _status(client: httpx.Client, run_id: int) -> tuple[str, str]:
    """The run's status as its page shows it, and the page's words about it."""
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    status = re.search(r'id="run-status">(\w+)<', page.text).group(1)
    card = page.text.split('<section class="card" id="run-card">', 1)[1].split("<dl>", 1)[0]
    return status, re.sub(r"<[^>]+>|\s+", " ", card).strip()


def _wait_status(client: httpx.Client, run_id: int, wanted: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (status := _status(client, run_id))[0] != wanted:
        assert status[0] in ("provisioning", "active", "stopping"), f"run {run_id}: {status}"
        assert time.monotonic() < deadline, f"run {run_id} still {status} after {timeout:g} s"
        time.sleep(0.2)


def _workbench(client: httpx.Client, run_id: int) -> None:
    first = client.get(f"/ide/{run_id}/")
    assert first.status_code == 302, first.text[:300]
    page = client.get(f"/ide/{run_id}/" + first.headers["location"].removeprefix("./"))
    assert page.status_code == 200 and "workbench" in page.text


def _websocket_opens(portal: Portal, client: httpx.Client, run_id: int) -> None:
    query = f"reconnectionToken={uuid.uuid4()}&reconnection=false&skipWebSocketFrames=false"
    cookie = f"baseliner_session={client.cookies['baseliner_session']}"
    url = f"ws://127.0.0.1:{portal.port}/ide/{run_id}/?{query}"
    with connect(url, origin=portal.base, additional_headers={"Cookie": cookie}) as ws:
        assert ws.response.status_code == 101


def _code_server(user: str) -> int | None:
    """The workspace's code-server: the oldest code-server process of its unix user (its own
    children, the VS Code server, extension and terminal hosts, come later)."""
    found = subprocess.run(
        ["pgrep", "-o", "-u", user, "-f", "code-server"], capture_output=True, text=True
    ).stdout.strip()
    return int(found) if found else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _open_workbench(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(".monaco-workbench", timeout=45_000)
    # The explorer lists the files only once the workbench's WebSocket to code-server works.
    page.locator(".explorer-folders-view").get_by_text("notes.md").wait_for(timeout=30_000)


def _open_file(page: Page, name: str, content: str) -> None:
    """Open a file from the explorer; its text comes over the workbench's WebSocket."""
    page.locator(".explorer-folders-view").get_by_text(name).dblclick(timeout=30_000)
    editor = page.locator(".monaco-editor .view-lines").first
    editor.get_by_text(content).wait_for(timeout=30_000)


def test_the_same_ide_url_works_after_the_portal_is_killed_and_restarted(
    request, portal: Portal, expert_with_assignment, engine, browser: Browser
) -> None:
    expert, assignment_id = expert_with_assignment
    shots = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    portal.start()
    client = httpx.Client(base_url=portal.base, timeout=30)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    run_id = None
    try:
        # The expert signs in and presses Start; the run page shows the workspace come up.
        login(client, expert)
        started = client.post(
            f"/assignments/{assignment_id}/start",
            data={"csrf_token": csrf_token(client, "/dashboard")},
        )
        assert started.status_code == 303, started.text[:500]
        run_id = int(started.headers["location"].rsplit("/", 1)[1])
        _wait_status(client, run_id, "active")
        _workbench(client, run_id)
        before = _run(engine, run_id)
        user = before.unix_user
        # runtime_state holds the pid of the launcher (runuser), whose descendant code-server is.
        launcher = before.runtime_state["pid"]
        code_server = _code_server(user)
        assert _alive(launcher) and code_server is not None

        # VS Code in the browser, with the same session cookie.
        context.add_cookies(
            [
                {
                    "name": "baseliner_session",
                    "value": client.cookies["baseliner_session"],
                    "url": portal.base,
                }
            ]
        )
        ide = context.new_page()
        ide_url = f"{portal.base}/ide/{run_id}/"
        _open_workbench(ide, ide_url)
        ide.screenshot(path=str(shots / "01-workbench-before-restart.png"))

        # The expert pauses the clock for a break; the portal dies in the middle of it.
        paused = client.post(
            f"/runs/{run_id}/pause", data={"csrf_token": csrf_token(client, f"/runs/{run_id}")}
        )
        assert paused.status_code == 303
        clock_before = client.get(f"/runs/{run_id}/clock").json()
        assert clock_before["paused_by"] == ["manual"]

        # The portal dies. The workspace does not notice beyond losing its one client.
        portal.kill()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{portal.base}/healthz", timeout=2)
        assert _alive(launcher) and _code_server(user) == code_server

        portal.start()

        # The pause outlived the process: the clock is stopped at the same second.
        clock_after = client.get(f"/runs/{run_id}/clock").json()
        assert clock_after["paused_by"] == ["manual"]
        assert clock_after["working_s"] == clock_before["working_s"]
        resumed = client.post(
            f"/runs/{run_id}/resume", data={"csrf_token": csrf_token(client, f"/runs/{run_id}")}
        )
        assert resumed.status_code == 303
        assert client.get(f"/runs/{run_id}/clock").json()["clock"] == "running"

        # The same cookie opens the same address again, over HTTP and WebSocket.
        _workbench(client, run_id)
        _websocket_opens(portal, client, run_id)
        # The tab that stayed open reconnects by itself: a file opens from the workspace.
        _open_file(ide, "notes.md", "Still here after the restart.")
        ide.screenshot(path=str(shots / "02-same-tab-after-restart.png"))
        # And a fresh load of the address works too.
        _open_workbench(ide, ide_url)
        _open_file(ide, "notes.md", "Still here after the restart.")
        ide.screenshot(path=str(shots / "03-reloaded-after-restart.png"))

        # Nothing about the workspace changed: same code-server, same run row.
        after = _run(engine, run_id)
        assert after.status == RunStatus.active
        assert after.runtime_state == before.runtime_state
        assert (after.port, after.started_at) == (before.port, before.started_at)
        assert _alive(launcher) and _code_server(user) == code_server

        # The expert stops it through the restarted portal.
        stop = client.post(
            f"/runs/{run_id}/stop",
            data={"csrf_token": csrf_token(client, f"/runs/{run_id}"), "confirm": "yes"},
        )
        assert stop.status_code == 303
        _wait_status(client, run_id, "finished")
        assert _code_server(user) is None and not Path(f"/home/{user}").exists()
        assert client.get(f"/ide/{run_id}/").status_code == 410
    finally:
        context.close()
        client.close()
        portal.stop()
        if run_id is not None and _run(engine, run_id).status != RunStatus.finished:
            # The test failed midway: remove the workspace here so nothing is left behind.
            with Session(engine) as s:
                run = s.get(Run, run_id)
                run.status = RunStatus.stopping
                s.add(run)
                s.commit()
            connections = Connections(PREFIX)
            workspaces.stop(
                engine,
                connections,
                run_id,
                archive_dir=Path(portal.env["BASELINER_DATA_DIR"]) / "archives",
                now=utcnow,
            )
            connections.close()
