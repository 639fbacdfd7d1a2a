"""Another program on the IDE's port is never shown to the expert.

A stranger (another installation's open service answering /healthz like code-server) takes the
port of the expert's run just after it is leased: the run page says the workspace could not start
because another program answers there. The stranger stays; the expert presses Start again: that
port is in use on the machine, so the run gets another, and VS Code opens with the expert's own
files. A web server started in its terminal is not offered for forwarding (auto-forward is off).
"""

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from baselines import applications, assignments
from baselines.applications import Application
from baselines.assignments import AiTools
from baselines.runs import Lease, Run
from baselines.users import Role, User
from fleet import ports
from fleet.drivers.local import LocalDriver
from tests.browser import sign_in
from tests.families import write_warmup
from tests.hosts import ready_host
from tests.naming import workspace
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


class _Stranger(BaseHTTPRequestHandler):
    """Answers everything, /healthz included, to anyone: "STRANGER'S SERVICE"."""

    def do_GET(self) -> None:
        if self.path == "/healthz":
            body = json.dumps({"status": "alive", "lastHeartbeat": 0}).encode()
        else:
            body = b"<h1>STRANGER'S SERVICE</h1>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def settings(settings, tmp_path):
    settings.environment_dirs = str(
        write_warmup(tmp_path / "envs", {"notes.md": "# Notes\n", "solve.py": "print('hi')\n"})
    )
    return settings


@pytest.fixture
def expert(engine, make_user) -> User:
    """An approved expert with warmup/main assigned, on the local host."""
    expert = make_user(Role.expert, name="Ida Expert")
    coordinator = make_user(Role.coordinator)
    ready_host(engine)
    with Session(engine) as s:
        actor = s.get(User, coordinator.id)
        application = s.exec(select(Application).where(Application.user_id == expert.id)).one()
        applications.approve(s, application, actor, utcnow())
        assignments.create(
            s,
            expert=s.get(User, expert.id),
            environment="warmup/main",
            time_limit_s=3600,
            ai_tools=AiTools.none,
            actor=actor,
            now=utcnow(),
        )
        s.commit()
    return expert


@pytest.fixture
def stranger(engine) -> Iterator[list[int]]:
    """Binds the first port leased to any run, the moment it is leased, and keeps it."""
    bound: list[int] = []
    done = threading.Event()

    def race() -> None:
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            with Session(engine) as s:
                port = s.exec(select(Lease.value).where(Lease.kind == "port")).first()
            if port is not None:
                server = ThreadingHTTPServer(("127.0.0.1", port), _Stranger)
                threading.Thread(target=server.serve_forever, daemon=True).start()
                bound.append(port)
                done.wait(300)
                server.shutdown()
                server.server_close()
                return
            time.sleep(0.005)

    rival = threading.Thread(target=race, daemon=True)
    rival.start()
    yield bound
    done.set()
    rival.join(10)


def _wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while port not in ports.listening(LocalDriver()):
        assert time.monotonic() < deadline, f"nothing listens on {port}"
        time.sleep(0.2)


def test_the_ide_port_is_the_runs_own(expert, engine, page, shot, stranger):
    sign_in(page, expert.email)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#run-status")).to_have_text("failed", timeout=60_000)
    reason = page.locator("#run-reason")  # in the expert's words; the details are the staff's
    expect(reason).to_contain_text("VS Code could not be reached on the machine")
    expect(reason).to_contain_text("a start that failed does not use up a run")
    expect(reason).not_to_contain_text("without the run's key")
    shot("stranger-on-the-port")
    assert stranger, "the stranger never took the leased port"
    first = int(re.search(r"/runs/(\d+)", page.url).group(1))
    assert not Path(f"/home/{workspace(first)}").exists()

    # The stranger keeps the port; a second Start gets another one and the expert's own IDE.
    page.get_by_role("link", name="← Dashboard").click()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#run-status")).to_have_text("active", timeout=60_000)
    run_id = int(re.search(r"/runs/(\d+)", page.url).group(1))
    with Session(engine) as s:
        run = s.get(Run, run_id)
    assert run_id != first and run.port != stranger[0]
    shot("run-active-on-another-port")
    with page.context.expect_page() as tab:
        page.locator("#open-ide").click()
    ide = tab.value
    ide.wait_for_selector(".monaco-workbench", timeout=45_000)
    expect(ide.locator(".explorer-folders-view")).to_contain_text("notes.md", timeout=30_000)
    expect(ide.get_by_text("STRANGER'S SERVICE")).to_have_count(0)

    # A web server in the terminal: VS Code does not offer to forward its port.
    ide.keyboard.press("Control+Backquote")
    ide.wait_for_selector(".xterm", timeout=20_000)
    ide.locator(".xterm").first.click()
    ide.keyboard.type("python3 -m http.server 28765 --bind 127.0.0.1")
    ide.keyboard.press("Enter")
    _wait_listening(28765)
    # VS Code looks for new listening ports every few seconds; with the defaults it forwards
    # this one within 15 s and the status bar counts it.
    forwarded = ide.locator("[id='status.forwardedPorts']").first
    expect(forwarded).to_have_attribute("aria-label", "No Ports Forwarded")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert forwarded.get_attribute("aria-label") == "No Ports Forwarded"
        time.sleep(0.5)
    expect(ide.locator(".notification-toast", has_text="28765")).to_have_count(0)
    ide.get_by_role("tab", name="Ports").click()
    shot("no-port-offered", on=ide)

    page.bring_to_front()
    page.get_by_role("button", name="Stop workspace").click()
    page.get_by_role("button", name="Stop for good").click()  # the confirmation
    expect(page.locator("#run-status")).to_have_text("finished", timeout=60_000)
