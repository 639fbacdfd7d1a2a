"""``BASELINER_LOG_FORMAT=json``: the real ``baseliner serve`` writes every line, on stdout and
stderr, as one JSON object (uvicorn's access and server lines and our own loggers), and a
set-password token never reaches the log in either format."""

import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session

from baselines import password_resets
from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from fleet.testing_sshd import free_port
from tests.ide.servers import wait_for
from tests.portal import Portal
from timetracking.utc import utcnow
from webapp.logs import JsonFormatter

RESUMED = "resuming 1 checkpoint(s) a previous process left unscored"


def _reset_token(engine, user: User) -> str:
    with Session(engine) as s:
        token = password_resets.issue(s, s.get(User, user.id), None, timedelta(hours=1), utcnow())
        s.commit()
        return token


def _half_scored_checkpoint(engine, expert: User) -> None:
    """A checkpoint a dead process left 'scoring': the new process's scoring worker says (on
    the baseliner.scoring logger) that it puts it back in the queue."""
    with Session(engine) as s:
        run = Run(
            expert_id=expert.id,
            environment="gone/task",
            status=RunStatus.stopping,
            created_at=utcnow(),
            started_at=utcnow(),
        )
        s.add(run)
        s.flush()
        s.add(
            Checkpoint(
                run_id=run.id,
                seq=1,
                source="cli",
                submitted_at=utcnow() - timedelta(minutes=2),
                working_s=60.0,
                snapshot_sha256="0" * 64,
                status=CheckpointStatus.scoring,
                claimed_at=utcnow() - timedelta(minutes=1),
                attempts=1,
            )
        )
        s.commit()


@pytest.fixture
def start_portal(database_url, tmp_path):
    started: list[Portal] = []

    def start(log_format: str) -> Portal:
        port = free_port()
        env = {
            **os.environ,
            "BASELINER_DATABASE_URL": database_url,
            "BASELINER_DATA_DIR": str(tmp_path / "data"),
            "BASELINER_SECRET_KEY": "json-logs-secret-key",
            "BASELINER_SCHEDULER": "false",
            "BASELINER_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "BASELINER_LOG_FORMAT": log_format,
        }
        env.pop("BASELINER_CONFIG", None)
        portal = Portal(port, env, tmp_path / f"portal-{log_format}.log")
        started.append(portal)
        portal.start()
        return portal

    yield start
    for portal in started:
        portal.stop()


def test_serve_writes_every_line_as_json(start_portal, engine, make_user) -> None:
    token = _reset_token(engine, make_user(Role.finance))
    _half_scored_checkpoint(engine, make_user(Role.expert))
    portal = start_portal("json")
    assert httpx.get(f"{portal.base}/").status_code == 200
    assert httpx.get(f"{portal.base}/reset/{token}").status_code == 200
    assert wait_for(lambda: RESUMED in portal.log.read_text())
    portal.stop()  # its shutdown lines too

    text = portal.log.read_text()  # stdout and stderr, both
    assert token not in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    for line in lines:
        assert isinstance(line, dict)
        assert {"time", "level", "logger", "message"} <= line.keys()
        assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    page = next(line for line in access if line["path"] == "/")
    assert (page["method"], page["status"], page["http_version"]) == ("GET", 200, "1.1")
    assert page["client"].startswith("127.0.0.1:")
    assert page["duration_ms"] >= 0
    assert page["message"].endswith('"GET / HTTP/1.1" 200')
    reset = next(line for line in access if line["path"].startswith("/reset/"))
    assert (reset["path"], reset["status"]) == ("/reset/[redacted]", 200)
    assert "/reset/[redacted]" in reset["message"]
    server = [line["message"] for line in lines if line["logger"] == "uvicorn.error"]
    assert any(m.startswith("Started server process") for m in server)
    assert any(m.startswith("Finished server process") for m in server)
    ours = [line for line in lines if line["logger"] == "baseliner.scoring"]
    assert [(line["level"], line["message"]) for line in ours][:1] == [("INFO", RESUMED)]


def test_text_logs_stay_text_and_redacted(start_portal, engine, make_user) -> None:
    token = _reset_token(engine, make_user(Role.finance))
    portal = start_portal("text")
    assert httpx.get(f"{portal.base}/reset/{token}").status_code == 200
    portal.stop()
    text = portal.log.read_text()
    assert token not in text
    assert '"GET /reset/[redacted] HTTP/1.1" 200' in text
    assert "Started server process" in text and not text.lstrip().startswith("{")


def test_a_json_line_carries_the_exception_redacted() -> None:
    try:
        raise ValueError("the link /reset/Tok3n-secret failed")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "baseliner.test",
        logging.ERROR,
        __file__,
        1,
        "sending %s",
        ("/reset/Tok3n-secret",),
        exc_info,
    )
    record.created = datetime(2025, 3, 3, 12, 0, 0, 250_000, tzinfo=UTC).timestamp()
    text = JsonFormatter().format(record)
    assert "\n" not in text and "Tok3n-secret" not in text
    line = json.loads(text)
    assert line["time"] == "2025-03-03T12:00:00.250+00:00"
    assert (line["level"], line["logger"]) == ("ERROR", "baseliner.test")
    assert line["message"] == "sending /reset/[redacted]"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: the link /reset/[redacted] failed" in line["exception"]
