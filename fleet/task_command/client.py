"""How the command finds and talks to the portal: the URL and token the platform wrote into the
workspace, JSON over HTTP with urllib, and every failure turned into words an expert can act on."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

URL_ENV, TOKEN_ENV = "BASELINER_TASK_URL", "BASELINER_TASK_TOKEN"
FAILOVER_ENV = "BASELINER_TASK_FAILOVER_S"
API = "/api/v1/task"
TIMEOUT_S = 30.0
# A refused connection means no portal process holds this workspace's tunnel right now (one
# died and another is taking over, which takes seconds): ask again for this long.
FAILOVER_S = 60.0

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

    def __init__(
        self,
        url: str,
        token: str,
        reread_url: Callable[[], str] | None = None,
        failover_s: float = FAILOVER_S,
    ) -> None:
        """``reread_url`` gives the address as the platform last wrote it: a takeover by
        another portal process rewrites it while a refused call waits."""
        self.url = url.rstrip("/")
        self.token = token
        self._reread_url = reread_url
        self._failover_s = failover_s
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
        try:
            failover_s = float(env.get(FAILOVER_ENV, FAILOVER_S))
        except ValueError:
            failover_s = FAILOVER_S
        return cls(url, token, lambda: _setting(env, home, "url", URL_ENV), failover_s)

    def get(self, path: str, *, timeout: float = TIMEOUT_S) -> Any:
        return self.request("GET", path, None, timeout)

    def post(self, path: str, body: Any = None, *, timeout: float = TIMEOUT_S) -> Any:
        return self.request("POST", path, {} if body is None else body, timeout)

    def request(self, method: str, path: str, body: Any, timeout: float) -> Any:
        """The decoded JSON answer; raises Unreachable, Refused or RunEnded.

        A refused connection (nothing reached the portal, so asking again cannot do anything
        twice) is retried for ``failover_s``, with the address read again each time."""
        deadline = time.monotonic() + self._failover_s
        told = False
        while True:
            try:
                return self._request_once(method, path, body, timeout)
            except _ConnectionRefused as refused:
                if time.monotonic() >= deadline or self._reread_url is None:
                    raise refused.unreachable from None
                if not told:
                    print("The portal is not answering; trying again...", file=sys.stderr)
                    told = True
                time.sleep(2.0)
                self.url = (self._reread_url() or self.url).rstrip("/")

    def _request_once(self, method: str, path: str, body: Any, timeout: float) -> Any:
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
            unreachable = Unreachable(
                f"Cannot reach the Baseliner portal at {self.url} ({_reason(e)}). {TRY_AGAIN}"
            )
            if isinstance(getattr(e, "reason", e), ConnectionRefusedError):
                raise _ConnectionRefused(unreachable) from None
            raise unreachable from None
        try:
            return json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            raise Unreachable(
                f"The portal at {self.url} sent an answer that is not JSON. {TRY_AGAIN}"
            ) from None


class _ConnectionRefused(Exception):
    def __init__(self, unreachable: Unreachable) -> None:
        self.unreachable = unreachable


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
