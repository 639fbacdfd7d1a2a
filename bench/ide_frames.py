"""What the browser sends code-server on its own, and what it sends while someone works: every
client-to-server WebSocket frame the portal's proxy sees, parsed into VS Code's protocol
messages (13-byte header: type, id, ack, data length; see ``webapp.ide.frames``), per phase.

A real workspace on this machine (local driver, process runtime), the portal served by uvicorn,
the IDE opened in Debian's Chromium through ``/ide/<run>/``. Phases, in order: the workbench
settles (not counted); an idle open tab; typing in an editor; typing in a terminal; moving the
mouse and focusing the window; clicking in the editor; idle again with the editor and terminal
open; idle while a command prints in the terminal; idle while a background job appends to the
open file. Prints, per phase, messages per minute by type, the frames ``webapp.ide.frames``
counts as work, and the Regular messages by channel and method.

    .venv/bin/python bench/ide_frames.py [--idle-s 90] [--settle-s 20]

Needs root (workspaces create unix users). The run gets a high id (``<prefix>-run-<id>``) and a port
nothing listens on, so it never meets a test's workspace.
"""

import argparse
import itertools
import json
import logging
import os
import random
import socket
import string
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from playwright.sync_api import Page, sync_playwright
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from baselines import checkpointing  # noqa: E402
from baselines.runs import Run, RunStatus  # noqa: E402
from baselines.users import Role  # noqa: E402
from fleet import allocation  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, sign_in  # noqa: E402
from tests.conftest import create_account  # noqa: E402
from tests.families import write_warmup  # noqa: E402
from tests.hosts import ready_host  # noqa: E402
from timetracking.utc import utcnow  # noqa: E402
from webapp import db  # noqa: E402
from webapp.app import create_app  # noqa: E402
from webapp.ide import frames  # noqa: E402
from webapp.settings import Settings  # noqa: E402

TYPES = {
    0: "None",
    1: "Regular",
    2: "Control",
    3: "Ack",
    5: "Disconnect",
    6: "ReplayRequest",
    7: "Pause",
    8: "Resume",
    9: "KeepAlive",
    10: "LatencyMeasurementRequest",
    11: "LatencyMeasurementResponse",
}
CONNECTION_TYPES = {1: "management", 2: "exthost", 3: "tunnel"}
RPC_REPLIES = {5: "(ack)", 6: "(cancel)", 7: "(reply)", 8: "(reply)", 9: "(reply)", 10: "(error)"}
IPC_TYPES = {100: "call", 101: "cancel", 102: "listen", 103: "unlisten"}


@dataclass
class Message:
    at: float
    type: int  # the protocol's message type; -1 for a text frame
    label: str  # Regular: the channel and method, or what kind of reply


@dataclass
class SocketLog:
    """One browser socket: its frames and its messages, labelled."""

    number: int
    reader: frames.SocketReader = field(default_factory=frames.SocketReader)
    work: frames.WorkFrames = field(default_factory=frames.WorkFrames)
    frame_times: list[float] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    work_frames: list[float] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return CONNECTION_TYPES.get(self.reader.connection, "?")


def label(log: SocketLog, body: bytes) -> str:
    if log.reader.connection == frames.MANAGEMENT:
        call = frames.ipc_call(body)
        if call is None:
            return "(reply or other)"
        kind, channel, method = call
        return f"{IPC_TYPES.get(kind, kind)} {channel}.{method}"
    if log.reader.connection == frames.EXTENSION_HOST:
        method = frames.rpc_method(body)
        return method or RPC_REPLIES.get(body[0] if body else 0, f"(other {body[:1].hex()})")
    return "(before handshake)"


class Recorder:
    """Wraps the proxy's websocket method so every browser frame is logged before it goes on;
    Regular messages' first bytes go to ``dump`` (JSON lines) for a closer look."""

    def __init__(self, dump: Path) -> None:
        self.sockets: list[SocketLog] = []
        self._numbers = itertools.count(1)
        self._dump = dump.open("w")

    def install(self, proxy) -> None:
        original = proxy.websocket

        async def recording(websocket, upstream, prefix, on_client_frame=None):
            log = SocketLog(next(self._numbers))
            self.sockets.append(log)

            def seen(payload: bytes | str) -> None:
                self.frame(log, payload)
                if on_client_frame is not None:
                    on_client_frame(payload)

            await original(websocket, upstream, prefix, seen)

        proxy.websocket = recording

    def frame(self, log: SocketLog, payload: bytes | str) -> None:
        now = time.monotonic()
        log.frame_times.append(now)
        if log.work.is_work(payload):
            log.work_frames.append(now)
        if isinstance(payload, str):
            log.messages.append(Message(now, -1, "(text)"))
            return
        for kind, body in log.reader.messages(payload):
            text = label(log, body) if kind == frames.REGULAR else TYPES.get(kind, str(kind))
            log.messages.append(Message(now, kind, text))
            if kind == frames.REGULAR:
                record = {"t": round(now, 3), "socket": log.number, "label": text}
                record["body"] = body[:400].decode("latin-1")
                self._dump.write(json.dumps(record) + "\n")


def report(recorder: Recorder, phases: list[tuple[str, float, float]]) -> None:
    print("\n## Summary: messages per minute by type, all sockets\n")
    kinds = ["KeepAlive", "Ack", "Control", "Regular"]
    print("| phase | s | frames/min | " + " | ".join(kinds) + " | work frames/min |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in kinds) + " | --- |")
    for name, start, end in phases:
        minutes = (end - start) / 60
        messages = [m for log in recorder.sockets for m in log.messages if start <= m.at < end]
        by_type = Counter(TYPES.get(m.type, "other") for m in messages)
        count = sum(1 for log in recorder.sockets for at in log.frame_times if start <= at < end)
        work = sum(1 for log in recorder.sockets for at in log.work_frames if start <= at < end)
        rates = " | ".join(f"{by_type.get(k, 0) / minutes:.1f}" for k in kinds)
        print(
            f"| {name} | {end - start:.0f} | {count / minutes:.1f} | {rates}"
            f" | {work / minutes:.1f} |"
        )
    for name, start, end in phases:
        minutes = (end - start) / 60
        print(f"\n## {name}: Regular messages per minute\n")
        print("| socket | message | per min | first at (s) |")
        print("| --- | --- | --- | --- |")
        for log in recorder.sockets:
            regular = [m for m in log.messages if m.type == frames.REGULAR and start <= m.at < end]
            first: dict[str, float] = {}
            for m in regular:
                first.setdefault(m.label, m.at - start)
            for text, n in Counter(m.label for m in regular).most_common():
                rate = n / minutes
                print(f"| {log.number} {log.kind} | {text} | {rate:.1f} | {first[text]:.1f} |")


def free_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def serve(app, sock: socket.socket) -> uvicorn.Server:
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if server.started and httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the portal did not start")


def unused_port() -> int:
    """A port in the upper half of the workspace range that nothing listens on: the port lease
    lives in this bench's own database, so it must not pick one a test's workspace holds."""
    while True:
        port = random.randint(25_000, 29_999)
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port


def start_run(app, engine, expert_id: int) -> int:
    run_id = random.randint(70_000, 79_999)
    port = unused_port()
    allocation.PORTS = range(port, port + 1)
    with Session(engine) as s:
        run = Run(id=run_id, expert_id=expert_id, environment="warmup/main", created_at=utcnow())
        s.add(run)
        s.commit()
        task = checkpointing.run_task(s, app.state.settings, run)
    app.state.workspaces.start(run_id, task.launch)
    app.state.workspaces.wait(run_id, timeout=120)
    with Session(engine) as s:
        run = s.get(Run, run_id)
        assert run.status == RunStatus.active, run.status_reason
    return run_id


def stop_run(app, engine, run_id: int) -> None:
    with Session(engine) as s:
        run = s.get(Run, run_id)
        if run.status == RunStatus.active:
            app.state.workspaces.request_stop(s, run, "bench over")
    app.state.workspaces.wait(run_id, timeout=60)


def drive(ide: Page, args, phases: list[tuple[str, float, float]]) -> None:
    def phase(name: str, seconds: float, action=None) -> None:
        logging.warning("phase %s", name)
        start = time.monotonic()
        end = start + seconds
        while time.monotonic() < end:
            if action is None:
                time.sleep(min(1.0, end - time.monotonic()))
            else:
                action()
        phases.append((name, start, time.monotonic()))

    ide.wait_for_selector(".monaco-workbench", timeout=60_000)
    ide.locator(".explorer-folders-view").get_by_text("notes.md").wait_for(timeout=30_000)
    time.sleep(args.settle_s)
    phase("a. idle open tab (workbench loaded)", args.idle_s)

    ide.get_by_role("treeitem", name="notes.md").dblclick()
    ide.locator(".monaco-editor .view-lines").first.wait_for()
    ide.locator(".monaco-editor .view-lines").first.click()
    ide.keyboard.press("Control+End")
    time.sleep(3)
    words = iter(itertools.cycle(["tried ", "tiles ", "of ", "64 ", "and ", "128\n"]))
    phase(
        "b. typing in the editor (~4 keys/s)", 45, lambda: ide.keyboard.type(next(words), delay=250)
    )
    ide.keyboard.press("Control+S")

    ide.keyboard.press("Control+Backquote")
    ide.wait_for_selector(".xterm", timeout=20_000)
    ide.locator(".xterm").first.click()
    time.sleep(5)
    commands = iter(itertools.cycle(["echo step", "ls -la", "python3 -c 'print(1+1)'"]))

    def terminal() -> None:
        ide.keyboard.type(next(commands), delay=200)
        ide.keyboard.press("Enter")
        time.sleep(1)

    phase("c. typing in the terminal", 45, terminal)
    time.sleep(5)
    phase("c2. idle, editor and terminal open (right after)", 30)

    points = itertools.cycle([(200, 200), (900, 300), (600, 600), (300, 500), (1000, 700)])

    def mouse() -> None:
        x, y = next(points)
        ide.mouse.move(x, y, steps=20)
        ide.evaluate("window.dispatchEvent(new FocusEvent('focus')); window.focus()")
        time.sleep(0.5)

    phase("d. moving the mouse, focusing the window", 30, mouse)

    lines = ide.locator(".monaco-editor .view-line")
    clicks = itertools.cycle([0, 1, 0, 1])

    def click() -> None:
        lines.nth(next(clicks)).click()
        time.sleep(3)

    phase("d2. clicking in the editor every 3 s", 21, click)
    phase("e. idle, editor and terminal open", args.idle_s)

    ide.locator(".xterm").first.click()
    ide.keyboard.type("while true; do date; sleep 1; done")
    ide.keyboard.press("Enter")
    time.sleep(5)
    phase("f. idle, a command printing in the terminal every second", 60)
    ide.keyboard.press("Control+C")
    ide.keyboard.type("(for i in $(seq 80); do echo line $i >> notes.md; sleep 1; done) &")
    ide.keyboard.press("Enter")
    time.sleep(5)
    phase("g. idle, a background job appending to the open file", 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-s", type=float, default=90)
    parser.add_argument("--settle-s", type=float, default=20)
    args = parser.parse_args()
    logging.basicConfig(format="%(relativeCreated)8.0f ms %(name)s %(message)s")
    logging.getLogger("webapp.ide").setLevel(logging.INFO)
    if os.geteuid() != 0:
        sys.exit("run as root: workspaces create unix users")

    root = Path(tempfile.mkdtemp(prefix="bench-ide-frames-"))
    url = f"sqlite:///{root / 'bench.db'}"
    db.upgrade(url)
    sock = free_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(
        data_dir=root / "data",
        database_url=url,
        secret_key="bench-" + "".join(random.choices(string.ascii_letters, k=24)),
        environment_dirs=str(write_warmup(root / "envs", {"notes.md": "# Notes\n"})),
        scheduler=False,
        scoring_worker=False,
        public_url=base,
    )
    app = create_app(settings, migrate=False)
    engine = db.make_engine(url)
    recorder = Recorder(root / "regular.jsonl")
    recorder.install(app.state.ide_proxy)
    server = serve(app, sock)
    ready_host(engine)
    expert = create_account(engine, Role.expert, "bench@example.org", "Bench Expert")
    run_id = start_run(app, engine, expert.id)
    phases: list[tuple[str, float, float]] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800})
            page = context.new_page()
            sign_in(page, expert.email)
            page.goto(f"/ide/{run_id}/")
            try:
                drive(page, args, phases)
            except Exception as exc:  # report what was measured so far
                page.screenshot(path=str(root / "failed.png"))
                print(f"stopped early: {exc!r} (screenshot {root / 'failed.png'})")
            browser.close()
    finally:
        stop_run(app, engine, run_id)
        server.should_exit = True
    print(f"# IDE client frames, run {run_id}, {time.strftime('%Y-%m-%d %H:%M')}")
    print("sockets:", ", ".join(f"{s.number} {s.kind}" for s in recorder.sockets))
    print(f"Regular message bodies: {root / 'regular.jsonl'}")
    report(recorder, phases)


if __name__ == "__main__":
    main()
