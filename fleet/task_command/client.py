"""How the command finds and talks to the portal: the URL and token the platform wrote into the
workspace, JSON over HTTP with urllib, and every failure turned into words an expert can act on."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

URL_ENV, TOKEN_ENV = "BASELINER_TASK_URL", "BASELINER_TASK_TOKEN"
API = "/api/v1/task"
TIMEOUT_S = 30.0

OK, REFUSED, USAGE = 0, 1, 2  # exit statuses: done; the portal said no; could not ask at all

TRY_AGAIN = "Your work is safe; try again in a minute, or tell your coordinator."


class TaskError(Exception):
    """A failure with the message to print and the exit status to leave with."""

    exit_status = USAGE


class NotConfigured(TaskError):
    pass


class Unreachable(TaskError):
    pass


class Refused(TaskError):
    """The portal answered with an error (4xx, 5xx); ``status`` is the HTTP status."""

    exit_status = REFUSED

    def __init__(self, message: str, status: int, detail: str = "") -> None:
        super().__init__(message)
        self.status, self.detail = status, detail


class RunEnded(Refused):
    """HTTP 410: the run is over; nothing more can be done from the workspace."""


class PortalFailed(Refused):
    """HTTP 5xx: not a refusal of the action; asking again later may work."""

    exit_status = USAGE


def _setting(env: Mapping[str, str], home: Path, name: str, variable: str) -> str:
    value = env.get(variable, "").strip()
    if value:
        return value
    path = home / ".baseliner" / name
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""
    except OSError as e:
        raise NotConfigured(f"Cannot read {path} ({e.strerror}). {_ASK}") from None


_ASK = "This workspace is not set up for `task`; tell your coordinator."


class Client:
    """The portal's task API, as this run's token sees it."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token
        # The portal is on this machine's loopback (a forwarded port): never through a proxy.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @classmethod
    def from_environment(
        cls, env: Mapping[str, str] | None = None, home: Path | None = None
    ) -> Client:
        """URL and token from ``BASELINER_TASK_URL`` / ``BASELINER_TASK_TOKEN``, else from
        ``~/.baseliner/url`` and ``~/.baseliner/token`` (what the platform writes)."""
        env = os.environ if env is None else env
        home = Path(env.get("HOME") or Path.home()) if home is None else home
        url = _setting(env, home, "url", URL_ENV)
        token = _setting(env, home, "token", TOKEN_ENV)
        if not url:
            raise NotConfigured(
                f"No portal address: {URL_ENV} is unset and {home}/.baseliner/url is missing."
                f" {_ASK}"
            )
        if not url.startswith(("http://", "https://")):
            raise NotConfigured(f"The portal address {url!r} is not an http:// URL. {_ASK}")
        if not token:
            raise NotConfigured(
                f"No run token: {TOKEN_ENV} is unset and {home}/.baseliner/token is missing. {_ASK}"
            )
        return cls(url, token)

    def get(self, path: str, *, timeout: float = TIMEOUT_S) -> Any:
        return self.request("GET", path, None, timeout)

    def post(self, path: str, body: Any = None, *, timeout: float = TIMEOUT_S) -> Any:
        return self.request("POST", path, {} if body is None else body, timeout)

    def request(self, method: str, path: str, body: Any, timeout: float) -> Any:
        """The decoded JSON answer; raises Unreachable, Refused or RunEnded."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + API + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", "baseliner-task/1")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            raise _refusal(e.code, _detail(e)) from None
        except (urllib.error.URLError, OSError) as e:
            raise Unreachable(
                f"Cannot reach the Baseliner portal at {self.url} ({_reason(e)}). {TRY_AGAIN}"
            ) from None
        try:
            return json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            raise Unreachable(
                f"The portal at {self.url} sent an answer that is not JSON. {TRY_AGAIN}"
            ) from None


def _detail(error: urllib.error.HTTPError) -> str:
    """The server's ``detail`` (a string, or FastAPI's list of validation errors)."""
    try:
        detail = json.loads(error.read().decode("utf-8")).get("detail", "")
    except (ValueError, AttributeError, OSError):
        return ""
    if isinstance(detail, list):
        return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return str(detail or "")


def _refusal(status: int, detail: str) -> Refused:
    if status == 401:
        return Refused(
            "The portal rejected this workspace's token (HTTP 401). Your work is safe; tell your"
            " coordinator so they can set the workspace up again.",
            status,
            detail,
        )
    if status == 410:
        said = f" ({detail})" if detail else ""
        return RunEnded(
            f"This run has ended{said}; `task` no longer acts on it. Your checkpoints and notes"
            " are saved: see the portal for your results.",
            status,
            detail,
        )
    if status >= 500:
        said = f": {detail}" if detail else ""
        return PortalFailed(f"The portal failed (HTTP {status}){said}. {TRY_AGAIN}", status, detail)
    if status == 404 and detail in ("", "Not Found"):  # the route itself: an older portal
        return Refused(
            "The portal does not offer this (HTTP 404); it may be older than this command."
            " Tell your coordinator.",
            status,
            detail,
        )
    return Refused(detail or f"The portal refused this (HTTP {status}).", status, detail)


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", error)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(reason, ConnectionResetError):
        return "connection reset"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__
