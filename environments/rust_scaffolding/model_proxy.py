"""The model proxy of rust_scaffolding: the only way the expert's code reaches the operator's model.

The operator's endpoint (an OpenAI-compatible base URL, a model name, a key) must stay out of
the workspace, and a run may spend only its token budget. So the expert's scaffold talks to this
proxy on the host, which:

- forwards ``POST /v1/chat/completions`` to ``<upstream>/chat/completions`` with
  ``Authorization: Bearer <key>``, the key read once from the environment variable the operator
  names (``--key-env``, default ``BASELINER_MODEL_API_KEY``; unset or empty: no Authorization
  is sent, as the stand-in needs none). The key is never logged, never written to disk, and
  scrubbed from anything the upstream sends back. The client's own Authorization is dropped.
- serves one model: the request's ``model`` is REPLACED by the operator's (so one scaffold runs
  unchanged under any model; the answer's ``model`` and ``GET /v1/models`` name the real one).
- enforces the run's budget of total tokens: a request made when ``used >= budget`` is refused
  with HTTP 429, ``x-should-retry: false`` and
  ``{"error": {"message": "The token budget of N tokens for this run is spent (used M).",
  "type": "budget_exceeded", "code": "budget_exceeded"}}`` (openai raises RateLimitError).
  Otherwise ``max_tokens`` (or ``max_completion_tokens``, whichever the request names) is capped
  so that the prompt (estimated at 4 characters a token) and n answers fit in what is neither
  spent nor reserved by requests in flight, and the request reserves that worst case until it
  ends; when nothing is left but requests are in flight, it waits for them instead of
  overshooting. A request that names neither field gets ``max_tokens`` only when the cap is
  below ``fill_max_tokens_below`` (upstreams refuse values above the model's own limit) and
  reserves that much. So the budget is overshot only by the prompt estimate's error, by the
  last request when even its prompt does not fit, or by an uncapped answer longer than
  ``fill_max_tokens_below``. After an answer its ``usage.total_tokens`` (or an estimate at 4
  characters a token if the upstream sent none) is
  added to the run's count and to the current label's.
- persists the count in a JSON state file it owns (mode 0600, replaced atomically), so a
  restarted proxy keeps it. A state file of another model or an unreadable one stops the start:
  a count is never silently reset.
- counts usage per label (a checkpoint): the header ``X-Baseliner-Label`` of a request, else the
  proxy's current label, set by ``POST /label {"label": "..."}`` or ``set_label()`` (default
  ``"default"``). Labels are for accounting only; the budget is the run's.
- turns upstream failures into clear OpenAI-style JSON errors: unreachable -> 502
  ``upstream_unreachable``; no answer within ``timeout_s`` -> 504 ``upstream_timeout``; 429 ->
  429 ``upstream_rate_limited`` (Retry-After passed on); 5xx -> 502 ``upstream_error``; 401/403
  -> 502 ``upstream_auth`` (the operator's key); 404 -> 502 ``upstream_not_found``; other 4xx ->
  the same status, ``invalid_request_error``, with the upstream's message.
- refuses ``stream: true`` (400: usage could not be counted), bodies over 8 MiB (413), bad JSON
  (400); at most ``max_in_flight`` requests go upstream at once, others wait their turn.

Endpoints: ``POST /v1/chat/completions`` (also ``/chat/completions``), ``GET /v1/models``,
``GET /usage`` -> ``{"used", "budget", "remaining", "by_label", "label", "model", "requests",
"refused"}``, ``POST /label``. With ``client_token_env`` naming a set variable, every request
must carry ``Authorization: Bearer <that token>`` (401 otherwise).

Run: ``BASELINER_MODEL_API_KEY=... python model_proxy.py --upstream https://host/v1 --model M
--budget-tokens 2000000 --state /var/lib/run/proxy.json [--port 0]`` prints one JSON line
``{"base_url": "http://127.0.0.1:PORT/v1", ...}`` and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # familykit, through the link

# The rules shared with the portal's model gateway (environments/_shared/familykit).
from familykit.chat_rules import (
    MAX_BODY,
    Refusal,
    budget_error,
    completion,
    error_body,
    parse_chat,
    safe_url,
    upstream_refusal,
    usage_of,
)
from familykit.chat_rules import cap as cap_request

log = logging.getLogger("baseliner.model_proxy")

KEY_ENV = "BASELINER_MODEL_API_KEY"
DEFAULT_LABEL = "default"
LABEL_RE = re.compile(r"[A-Za-z0-9._:@/+-]{1,80}")


class StateError(ValueError):
    """The state file cannot be trusted: the proxy does not start rather than reset a count."""


class Ledger:
    """The run's token count, per label, kept in a JSON file only this proxy writes."""

    def __init__(self, path: Path, model: str, budget: int) -> None:
        self.path = Path(path)
        self.model = model
        self.budget = budget
        self.used = 0
        self.by_label: dict[str, int] = {}
        self.requests = 0
        self.refused = 0
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateError(f"cannot read the proxy state {self.path}: {exc}") from exc
        try:
            data = json.loads(text)
            used = int(data["used"])
            by_label = {str(k): int(v) for k, v in dict(data.get("by_label", {})).items()}
            requests, refused = int(data.get("requests", 0)), int(data.get("refused", 0))
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"the proxy state {self.path} is not readable: {exc}") from exc
        if data.get("model") not in (None, self.model):
            raise StateError(
                f"the proxy state {self.path} counts tokens of model {data['model']!r}, "
                f"not {self.model!r}: a run keeps one model"
            )
        self.used, self.by_label, self.requests, self.refused = used, by_label, requests, refused

    def save(self) -> None:
        data = {
            "version": 1,
            "model": self.model,
            "budget": self.budget,
            "used": self.used,
            "by_label": self.by_label,
            "requests": self.requests,
            "refused": self.refused,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.replace(tmp, self.path)


ProxyError = Refusal  # the name this module's callers know
_safe_url = safe_url


class ModelProxy:
    """The proxy server. ``start()`` serves in a thread; ``base_url`` is what the expert's
    ``openai`` client takes; ``usage()`` and ``set_label()`` for the scorer in-process."""

    def __init__(
        self,
        upstream: str,
        model: str,
        budget_tokens: int,
        state_path: Path | str,
        *,
        key_env: str = KEY_ENV,
        client_token_env: str | None = None,
        label: str = DEFAULT_LABEL,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        max_in_flight: int = 64,
        fill_max_tokens_below: int = 16384,
        max_tokens_field: str = "max_tokens",
    ) -> None:
        if not upstream.startswith(("http://", "https://")):
            raise ValueError("upstream is an http(s) base URL, e.g. https://api.example.com/v1")
        if not model:
            raise ValueError("model is required")
        if budget_tokens < 0:
            raise ValueError("budget_tokens is a non-negative number of tokens")
        self._check_label(label)
        self.upstream = upstream.rstrip("/")
        self.model = model
        self.budget = int(budget_tokens)
        self.label = label
        self.host, self.port = host, port
        self.timeout_s = timeout_s
        self.fill_max_tokens_below = fill_max_tokens_below
        self.max_tokens_field = max_tokens_field
        self.key_env = key_env
        self._key = os.environ.get(key_env) or None
        self._client_token = os.environ.get(client_token_env) if client_token_env else None
        self.ledger = Ledger(Path(state_path), model, self.budget)
        self._reserved = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # signalled when a reservation ends
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s)),
            limits=httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=16),
        )
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ModelProxy:
        server = _Server((self.host, self.port), _Handler)
        server.proxy = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        log.info(
            "model proxy on %s: upstream %s, model %s, budget %d tokens (used %d), "
            "key from $%s (%s)",
            self.base_url,
            _safe_url(self.upstream),
            self.model,
            self.budget,
            self.ledger.used,
            self.key_env,
            "set" if self._key else "unset: no Authorization sent",
        )
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._http.close()

    def __enter__(self) -> ModelProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the proxy first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    # -- accounting ------------------------------------------------------------------------

    @staticmethod
    def _check_label(label: Any) -> str:
        if not isinstance(label, str) or not LABEL_RE.fullmatch(label):
            raise ValueError("a label is 1-80 characters of letters, digits and ._:@/+-")
        return label

    def set_label(self, label: str) -> None:
        """Usage from now on counts under ``label`` (a checkpoint), unless a request names one."""
        self._check_label(label)
        with self._lock:
            self.label = label

    def usage(self) -> dict[str, Any]:
        with self._lock:
            ledger = self.ledger
            return {
                "used": ledger.used,
                "budget": self.budget,
                "remaining": max(0, self.budget - ledger.used),
                "by_label": dict(ledger.by_label),
                "label": self.label,
                "model": self.model,
                "requests": ledger.requests,
                "refused": ledger.refused,
            }

    def scrub(self, data: bytes) -> bytes:
        """Whatever the upstream sends back, without the key in it."""
        if self._key and self._key.encode() in data:
            return data.replace(self._key.encode(), b"[redacted]")
        return data

    def _scrub_text(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text

    # -- a chat completion -----------------------------------------------------------------

    def chat(self, raw: bytes, label_header: str | None) -> tuple[int, bytes, dict[str, str]]:
        """Checks, caps and forwards one request; counts its usage. Raises ProxyError."""
        request = parse_chat(raw)
        body, n = request.body, request.n
        if label_header is not None:
            try:
                label = self._check_label(label_header.strip())
            except ValueError as exc:
                raise ProxyError(
                    400, error_body(f"X-Baseliner-Label: {exc}", "invalid_request_error")
                ) from exc
        else:
            label = None
        prompt_estimate = request.prompt_estimate

        label, reservation = self._reserve(request, label)
        released = False

        def release(spent: int | None = None) -> int:
            """Gives the reservation back and counts what was spent, in one step, so that a
            waiting request never sees neither (it would overshoot) or both."""
            nonlocal released
            with self._cond:
                self._reserved -= reservation
                released = True
                if spent is not None:
                    self.ledger.used += spent
                    self.ledger.by_label[label] = self.ledger.by_label.get(label, 0) + spent
                    self.ledger.requests += 1
                    self.ledger.save()
                self._cond.notify_all()
                return self.ledger.used

        asked_model = body.get("model")
        body["model"] = self.model
        started = time.monotonic()
        try:
            response = self._forward(body)
            elapsed = time.monotonic() - started
            data = self.scrub(response.content)
            if response.status_code != 200:
                error = self._upstream_error(response.status_code, data, response.headers)
                log.warning(
                    "label %s: upstream answered %d after %.2fs: %s",
                    label,
                    response.status_code,
                    elapsed,
                    error.body["error"]["message"],
                )
                raise error
            answer = completion(data)
            prompt_tokens, completion_tokens, estimated = usage_of(answer, prompt_estimate)
            if estimated:
                log.warning("the upstream's answer has no usage; counted an estimate")
            spent = prompt_tokens + completion_tokens
            used = release(spent)
        finally:
            if not released:
                release()
        log.info(
            "label %s: %d tokens (n=%d, model asked %r) in %.2fs; used %d of %d",
            label,
            spent,
            n,
            asked_model,
            elapsed,
            used,
            self.budget,
        )
        headers = {
            "X-Baseliner-Tokens-Used": str(used),
            "X-Baseliner-Tokens-Budget": str(self.budget),
        }
        return 200, data, headers

    def _reserve(self, request: Any, label: str | None) -> tuple[str, int]:
        """Refuses a request once the budget is spent; otherwise caps its max tokens to what is
        neither spent nor reserved by requests in flight, and reserves its worst case. When
        nothing is left but requests are in flight, waits for them rather than overshoot."""
        deadline = time.monotonic() + 2 * self.timeout_s + 5
        n, prompt_estimate = request.n, request.prompt_estimate
        with self._cond:
            ledger = self.ledger
            while True:
                if ledger.used >= self.budget:
                    ledger.refused += 1
                    ledger.save()
                    raise ProxyError(
                        429, budget_error(self.budget, ledger.used), {"x-should-retry": "false"}
                    )
                free = self.budget - ledger.used - self._reserved - prompt_estimate
                if free >= n or self._reserved == 0:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProxyError(
                        429,
                        error_body(
                            "What remains of the token budget is held by requests in flight; "
                            "try again when they end.",
                            "requests",
                            "budget_reserved",
                        ),
                    )
                self._cond.wait(left)
            reservation = cap_request(
                request, free, self.fill_max_tokens_below, self.max_tokens_field
            )
            self._reserved += reservation
            return label or self.label, reservation

    def _forward(self, body: dict[str, Any]) -> httpx.Response:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        if not self._slots.acquire(timeout=self.timeout_s):
            raise ProxyError(
                429,
                error_body(
                    "Too many requests in flight at the proxy; try again.",
                    "requests",
                    "too_many_in_flight",
                ),
            )
        try:
            return self._http.post(self.upstream + "/chat/completions", json=body, headers=headers)
        except httpx.TimeoutException as exc:
            kind = "connect to" if isinstance(exc, httpx.ConnectTimeout) else "answer from"
            log.warning("upstream timeout (%s): no %s the model endpoint", type(exc).__name__, kind)
            raise ProxyError(
                504,
                error_body(
                    f"The model endpoint did not answer within {self.timeout_s:g} s "
                    f"(no {kind} it).",
                    "upstream_timeout",
                    "upstream_timeout",
                ),
            ) from exc
        except httpx.ConnectError as exc:
            reason = self._scrub_text(str(exc)) or type(exc).__name__
            log.warning("upstream unreachable: %s", reason)
            raise ProxyError(
                502,
                error_body(
                    f"The model endpoint could not be reached ({reason}).",
                    "upstream_unreachable",
                    "upstream_unreachable",
                ),
            ) from exc
        except httpx.HTTPError as exc:
            reason = self._scrub_text(str(exc)) or type(exc).__name__
            log.warning("upstream failed: %s: %s", type(exc).__name__, reason)
            raise ProxyError(
                502,
                error_body(
                    "The model endpoint failed without an answer "
                    f"({type(exc).__name__}: {reason}).",
                    "upstream_error",
                    "upstream_error",
                ),
            ) from exc
        finally:
            self._slots.release()

    def _upstream_error(self, status: int, data: bytes, headers: httpx.Headers) -> ProxyError:
        return upstream_refusal(status, data, headers.get("retry-after"))


class _Server(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "baseliner-model-proxy"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    @property
    def proxy(self) -> ModelProxy:
        return self.server.proxy  # type: ignore[attr-defined]

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def _authorised(self) -> bool:
        token = self.proxy._client_token
        if not token:
            return True
        given = self.headers.get("Authorization") or ""
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
        self._send_json(
            401,
            error_body(
                "A valid client token is required (Authorization: Bearer ...).",
                "invalid_request_error",
                "invalid_api_key",
            ),
        )
        return False

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._send_json(
            405, error_body(f"Method {self.command} is not allowed here.", "invalid_request_error")
        )

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed  # 405, not the base's 501

    def do_GET(self) -> None:
        if not self._authorised():
            return
        path = self._path()
        if path in ("/v1/models", "/models"):
            model = {
                "id": self.proxy.model,
                "object": "model",
                "created": 0,
                "owned_by": "operator",
            }
            self._send_json(200, {"object": "list", "data": [model]})
        elif path == "/usage":
            self._send_json(200, self.proxy.usage())
        else:
            self._send_json(
                404, error_body(f"Unknown path {path!r}.", "invalid_request_error", "not_found")
            )

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            status = 413 if length > MAX_BODY else 400
            self._send_json(
                status,
                error_body(
                    f"The body must be at most {MAX_BODY} bytes with a Content-Length.",
                    "invalid_request_error",
                ),
            )
            return
        raw = self.rfile.read(length) if length else b""
        if not self._authorised():
            return
        path = self._path()
        proxy = self.proxy
        if path == "/label":
            try:
                label = json.loads(raw.decode() or "null")["label"]
                proxy.set_label(label)
            except (ValueError, KeyError, TypeError) as exc:
                self._send_json(
                    400,
                    error_body(
                        f'POST /label takes {{"label": "..."}}: {exc}', "invalid_request_error"
                    ),
                )
                return
            self._send_json(200, proxy.usage())
            return
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(
                404, error_body(f"Unknown path {path!r}.", "invalid_request_error", "not_found")
            )
            return
        try:
            status, data, headers = proxy.chat(raw, self.headers.get("X-Baseliner-Label"))
        except ProxyError as exc:
            self._send_json(exc.status, exc.body, exc.headers)
            return
        except Exception:  # a bug of ours must not look like the upstream's or the expert's fault
            log.exception("model proxy failed on a request")
            self._send_json(
                500,
                error_body(
                    "The model proxy failed; the operator was told.", "proxy_error", "proxy_error"
                ),
            )
            return
        self._send(status, data, headers)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up; its tokens are counted anyway


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The model proxy of rust_scaffolding.")
    parser.add_argument(
        "--upstream", required=True, help="the operator's base URL, e.g. https://host/v1"
    )
    parser.add_argument("--model", required=True, help="the one model served")
    parser.add_argument(
        "--budget-tokens", required=True, type=int, help="the run's budget of total tokens"
    )
    parser.add_argument("--state", required=True, type=Path, help="the proxy's state file (0600)")
    parser.add_argument(
        "--key-env", default=KEY_ENV, help="the variable holding the upstream's key"
    )
    parser.add_argument(
        "--client-token-env", default=None, help="a variable holding a token clients must send"
    )
    parser.add_argument("--label", default=DEFAULT_LABEL)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port is chosen")
    parser.add_argument(
        "--timeout-s", type=float, default=120.0, help="limit for the upstream's answer"
    )
    parser.add_argument("--max-in-flight", type=int, default=64)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.Formatter.converter = time.gmtime  # UTC in logs
    try:
        proxy = ModelProxy(
            args.upstream,
            args.model,
            args.budget_tokens,
            args.state,
            key_env=args.key_env,
            client_token_env=args.client_token_env,
            label=args.label,
            host=args.host,
            port=args.port,
            timeout_s=args.timeout_s,
            max_in_flight=args.max_in_flight,
        )
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    proxy.start()
    print(json.dumps({"base_url": proxy.base_url, **proxy.usage()}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
