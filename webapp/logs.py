"""How ``baseliner serve`` logs: plain text for people, or one JSON object a line for a log
shipper (``log_format``). Either way set-password links never reach the logs: every handler
redacts ``/reset/<token>``, whichever logger the line came from.
"""

import json
import logging
import logging.config
import re
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

_RESET_PATH = re.compile(r"/reset/[^\s?\"]+")
# Our packages' loggers: "baseliner.*" and the modules that log under their own __name__.
OURS = (
    "baseliner",
    "webapp",
    "baselines",
    "fleet",
    "timetracking",
    "payments",
    "analytics",
    "environments",
)
# When the request being answered began (uvicorn logs its access line as the response starts).
_STARTED: ContextVar[float | None] = ContextVar("baseliner_request_started", default=None)


def redact(text: str) -> str:
    return _RESET_PATH.sub("/reset/[redacted]", text)


class RedactSecrets(logging.Filter):
    """Rewrites ``/reset/<token>`` to ``/reset/[redacted]`` in every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the exception's
    traceback when there is one, and for uvicorn's access lines the request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.name == "uvicorn.access":
            line.update(_access_fields(record))
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = redact(record.exc_text)
        if record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, default=str)


def _access_fields(record: logging.LogRecord) -> dict[str, Any]:
    """uvicorn logs ``client - "METHOD path HTTP/version" status`` with those five as args."""
    if not (isinstance(record.args, tuple) and len(record.args) == 5):
        return {}
    client, method, path, version, status = record.args
    fields = {"method": method, "path": path, "status": status, "client": client}
    fields["http_version"] = version
    started = _STARTED.get()
    if started is not None:
        fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return fields


def timed(app: ASGIApp) -> ASGIApp:
    """Note when each request began, for the access line's ``duration_ms`` (the time until the
    response started: uvicorn writes the line then, from the request's own task)."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            _STARTED.set(time.perf_counter())
        await app(scope, receive, send)

    return asgi


def config(log_format: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for serve: uvicorn's loggers as uvicorn sets them up,
    ours at INFO, everything else (libraries, warnings) at WARNING, all redacted."""
    if log_format == "json":
        formatters: dict[str, Any] = {
            name: {"()": "webapp.logs.JsonFormatter"} for name in ("default", "access", "ours")
        }
    else:
        formatters = {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
            "ours": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s [%(name)s] %(message)s",
            },
        }

    def handler(formatter: str, stream: str) -> dict[str, Any]:
        return {
            "class": "logging.StreamHandler",
            "formatter": formatter,
            "stream": stream,
            "filters": ["redact"],
        }

    ours = {"handlers": ["ours"], "level": "INFO", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "webapp.logs.RedactSecrets"}},
        "formatters": formatters,
        "handlers": {
            "default": handler("default", "ext://sys.stderr"),
            "access": handler("access", "ext://sys.stdout"),
            "ours": handler("ours", "ext://sys.stderr"),
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            **{name: dict(ours) for name in OURS},
        },
        "root": {"handlers": ["ours"], "level": "WARNING"},
    }


def configure(log_format: str) -> dict[str, Any]:
    """Set logging up for serve, before the app is made (its migrations may log); the config,
    for uvicorn to leave alone."""
    settings = config(log_format)
    logging.config.dictConfig(settings)
    logging.captureWarnings(True)  # warnings.warn lines go through the same handlers
    return settings
