"""A stand-in for the portal's ``/api/v1/task`` API, for testing the ``task`` command.

The real API (webapp/routes/task_api.py) is written in parallel with the command; this server
implements the contract both sides code against (see fleet/task_command/client.py): a Bearer
run token, JSON bodies, errors as ``{"detail": …}``, a long-polled checkpoint. Its state is a
few plain attributes a test sets, and it records every request it answered.
"""

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from timetracking import pause_reasons

API = "/api/v1/task"
PAUSED_DETAIL = "The clock is paused; `task resume` first."


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    authorization: str
    body: Any


@dataclass
class FakePortal:
    token: str = "blr_test-token"
    working_s: float = 3723.0  # the server's working time: 1:02:03
    time_limit_s: float | None = 8 * 3600
    clock: str = "running"
    paused_by: list[str] = field(default_factory=list)
    warning_minutes: int | None = None
    idle_excluded_s: float = 0.0
    ended: bool = False
    ended_after_submit: bool = False  # a submitted run answers 410 to everything after
    # What the next checkpoint becomes once scored (the fields of a scored checkpoint).
    outcome: dict[str, Any] = field(
        default_factory=lambda: {
            "status": "scored",
            "score": 1.234567,
            "score_normalized": 0.712,
            "valid": True,
            "message": {"speedup": "2.1x"},
        }
    )
    visible: bool = True
    polls_before_done: int = 0  # how many polls answer "scoring" first (at once: no waiting)
    fail_polls: int = 0  # how many polls answer 502 first
    broken: bool = False  # every request answers 500
    instructions: str = "Make the prefix sum fast.\n"
    model: bool = True  # the environment lends a model (GET /model)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FakePortal":
        portal = self

        class Handler(_Handler):
            pass

        Handler.portal = portal
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def requests(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    # -- the API ----------------------------------------------------------------------------

    def answer(self, seen: Seen) -> tuple[int, Any]:
        if self.broken:
            return 500, {"detail": "database is down"}
        if seen.authorization != f"Bearer {self.token}":
            return 401, {"detail": "Unknown or expired run token."}
        if self.ended:
            return 410, {"detail": "The run ended at the time limit."}
        route = (seen.method, seen.path)
        if route == ("POST", "/checkpoints"):
            return self._submit(final=False)
        if seen.method == "GET" and seen.path.startswith("/checkpoints/"):
            return self._poll(int(seen.path.rsplit("/", 1)[1]))
        if route == ("POST", "/submit"):
            if seen.body != {"confirm": True}:
                return 422, {"detail": [{"msg": "confirm must be true"}]}
            return self._submit(final=True)
        if route == ("GET", "/status"):
            return 200, {
                "run_id": 7,
                "environment": "triton_cumsum/main",
                "status": "active",
                "clock": self.clock,
                "paused_by": self.paused_by,
                # As the portal words them (timetracking.pause_reasons), for `task status`.
                "paused_because": pause_reasons.words(self.paused_by),
                "working_s": self.working_s,
                "time_limit_s": self.time_limit_s,
                "time_left_s": None
                if self.time_limit_s is None
                else self.time_limit_s - self.working_s,
                "warning_minutes": self.warning_minutes,
                "idle_excluded_s": self.idle_excluded_s,
                "recent": [self._public(c) for c in self.checkpoints[-3:]],
            }
        if route == ("GET", "/log"):
            return 200, {
                "checkpoints": [self._public(c) for c in self.checkpoints],
                "notes": self.notes,
            }
        if route == ("POST", "/notes"):
            note = {
                "id": len(self.notes) + 1,
                "created_at": "2025-05-01T14:03:07.123456+00:00",
                "working_s": self.working_s,
                "text": seen.body["text"],
            }
            self.notes.append(note)
            return 201, {k: note[k] for k in ("id", "created_at", "working_s")}
        if route == ("POST", "/pause"):
            self.clock, self.paused_by = "paused", ["manual"]
            return 200, {"clock": self.clock, "working_s": self.working_s}
        if route == ("POST", "/resume"):
            self.paused_by = [r for r in self.paused_by if r != "manual"]
            self.clock = "paused" if self.paused_by else "running"
            return 200, {"clock": self.clock, "working_s": self.working_s}
        if route == ("GET", "/instructions"):
            return 200, {"text": self.instructions}
        if route == ("GET", "/model"):
            if not self.model:
                return 404, {"detail": "The environment lends no model to its runs."}
            return 200, {
                "model": "baseliner-standin",
                "budget_tokens": 2_000_000,
                "used_tokens": 1234,
                "remaining_tokens": 2_000_000 - 1234,
                "path": "/api/v1/task/model/v1",
            }
        return 404, {"detail": "Not Found"}

    def _submit(self, final: bool) -> tuple[int, Any]:
        if self.clock == "paused" and "manual" in self.paused_by and not final:
            return 409, {"detail": PAUSED_DETAIL}
        row = {
            "seq": len(self.checkpoints) + 1,
            "status": "queued",
            "submitted_at": "2025-05-01T14:03:07+00:00",
            "working_s": self.working_s,
            "score": None,
            "score_normalized": None,
            "valid": None,
            "message": None,
            "scored_at": None,
            "polls": 0,
        }
        self.checkpoints.append(row)
        if final and self.ended_after_submit:
            self.ended = True
        return 202, {k: row[k] for k in ("seq", "status", "submitted_at", "working_s")}

    def _poll(self, seq: int) -> tuple[int, Any]:
        if not 1 <= seq <= len(self.checkpoints):
            return 404, {"detail": f"No checkpoint {seq}."}
        if self.fail_polls:
            self.fail_polls -= 1
            return 502, {"detail": "Bad gateway"}
        row = self.checkpoints[seq - 1]
        if row["status"] in ("queued", "scoring"):
            row["polls"] += 1
            if row["polls"] > self.polls_before_done:
                row.update(self.outcome, scored_at="2025-05-01T14:04:00+00:00")
            else:
                row["status"] = "scoring"
        return 200, self._public(row)

    def _public(self, row: dict[str, Any]) -> dict[str, Any]:
        public = {k: v for k, v in row.items() if k != "polls"}
        public["visible"] = self.visible
        if not self.visible:
            public.update(score=None, score_normalized=None)
        return public


class _Handler(BaseHTTPRequestHandler):
    portal: FakePortal

    def _handle(self, method: str) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not parsed.path.startswith(API):
            status, body = 404, {"detail": "Not Found"}
        else:
            seen = Seen(
                method=method,
                path=parsed.path[len(API) :],
                query=dict(urllib.parse.parse_qsl(parsed.query)),
                authorization=self.headers.get("Authorization", ""),
                body=json.loads(raw) if raw else None,
            )
            self.portal.seen.append(seen)
            status, body = self.portal.answer(seen)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, *args) -> None:
        pass
