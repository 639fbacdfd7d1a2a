"""The rules of a budgeted chat-completions endpoint, shared by the two places that enforce them.

A family's scoring proxy (rust_scaffolding/model_proxy.py, in the family's own process on the
host) and the portal's model gateway (webapp/model_gateway, the expert's development budget)
must refuse the same requests with the same words, cap ``max_tokens`` the same way and read the
upstream's failures the same way. Both import this file: the family through its ``familykit``
link, the portal as ``environments._shared.familykit.chat_rules``. So it is standard library
only and holds no state: each caller keeps its own ledger (a JSON file, a database table).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MAX_BODY = 8 * 1024 * 1024
MAX_N = 128


def error_body(message: str, type_: str, code: str | None = None, **extra: Any) -> dict[str, Any]:
    """OpenAI's error shape, so the ``openai`` client raises its usual exceptions."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code, **extra}}


def budget_error(budget: int, used: int, what: str = "this run") -> dict[str, Any]:
    return error_body(
        f"The token budget of {budget} tokens for {what} is spent (used {used}).",
        "budget_exceeded",
        "budget_exceeded",
    )


class Refusal(Exception):
    """An answer other than the upstream's: status, OpenAI-style body, extra headers."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body["error"]["message"])
        self.status, self.body, self.headers = status, body, headers or {}


def _bad(message: str, code: str | None = None) -> Refusal:
    return Refusal(400, error_body(message, "invalid_request_error", code))


@dataclass
class ChatRequest:
    """A checked chat request: the body (changed in place by ``cap``) and what caps it."""

    body: dict[str, Any]
    n: int
    field: str | None  # max_completion_tokens or max_tokens, whichever the request names
    requested: int | None
    prompt_estimate: int  # tokens, at 4 characters a token


def parse_chat(raw: bytes, proxy_name: str = "this proxy") -> ChatRequest:
    """Checks a request body; raises Refusal (400) with the reason."""
    try:
        body = json.loads(raw.decode() or "null")
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad("The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' must be a non-empty list.")
    if body.get("stream"):
        raise _bad(
            f"Streaming is not supported by {proxy_name} (usage could not be counted); "
            "ask without 'stream'.",
            "stream_unsupported",
        )
    n = body.get("n")
    n = 1 if n is None else n
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
        raise _bad(f"'n' must be an integer from 1 to {MAX_N}.")
    field = next(
        (f for f in ("max_completion_tokens", "max_tokens") if body.get(f) is not None), None
    )
    requested = body.get(field) if field else None
    if requested is not None and (
        not isinstance(requested, int) or isinstance(requested, bool) or requested < 1
    ):
        raise _bad(f"'{field}' must be a positive integer.")
    return ChatRequest(body, n, field, requested, math.ceil(_chars(messages) / 4))


def cap(
    request: ChatRequest, free: int, fill_below: int, max_tokens_field: str = "max_tokens"
) -> int:
    """Caps the request's answer so that ``n`` answers fit in ``free`` tokens (what is neither
    spent, reserved nor the prompt's); returns the reservation (prompt and worst-case answers).
    A request that names no limit gets one only when it is below ``fill_below`` (upstreams
    refuse values above the model's own limit) and reserves ``fill_below`` otherwise."""
    allowed = max(1, free // request.n)
    if request.requested is not None:
        limit = min(request.requested, allowed)
        request.body[request.field] = limit  # type: ignore[index]
    elif allowed < fill_below:
        limit = allowed
        request.body[max_tokens_field] = limit
    else:
        limit = fill_below
    return request.prompt_estimate + request.n * limit


def _chars(messages: list[Any]) -> int:
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(str(p.get("text", ""))) for p in content if isinstance(p, dict))
    return total


def safe_url(url: str) -> str:
    """An upstream URL for logs and pages: no user, password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def usage_of(answer: dict[str, Any], prompt_estimate: int) -> tuple[int, int, bool]:
    """(prompt tokens, completion tokens, estimated?) of an answer: its ``usage``, or an
    estimate at 4 characters a token when the upstream sent none."""
    usage = answer.get("usage")
    if isinstance(usage, dict):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if all(
            isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in (prompt, completion)
        ):
            return int(prompt), int(completion), False  # type: ignore[arg-type]
        total = usage.get("total_tokens")
        if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
            return 0, total, False
    completion = 0
    for choice in answer.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        completion += math.ceil(len(content) / 4) if isinstance(content, str) else 0
    return prompt_estimate, completion, True


def completion(data: bytes) -> dict[str, Any]:
    """An upstream's 200 answer as a chat completion; Refusal 502 when it is not one."""
    try:
        answer = json.loads(data)
        if not isinstance(answer, dict) or not isinstance(answer.get("choices"), list):
            raise ValueError("no choices")
    except ValueError as exc:
        raise Refusal(
            502,
            error_body(
                "The model endpoint sent an answer that is not a chat completion.",
                "upstream_error",
                "upstream_error",
            ),
        ) from exc
    return answer


def upstream_message(data: bytes) -> tuple[str, str | None]:
    """The upstream's error message and code, short."""
    try:
        error = json.loads(data).get("error")
        if isinstance(error, dict):
            code = error.get("code")
            return str(error.get("message") or "")[:500], str(code) if code is not None else None
        if isinstance(error, str):
            return error[:500], None
    except (ValueError, AttributeError):
        pass
    return data.decode(errors="replace").strip()[:300], None


def upstream_refusal(status: int, data: bytes, retry_after: str | None = None) -> Refusal:
    """What the caller is told when the upstream answered ``status`` (not 200)."""
    message, code = upstream_message(data)
    said = f" {message}" if message else ""
    if status == 429:
        return Refusal(
            429,
            error_body(
                f"The model endpoint is rate limiting (HTTP 429):{said}",
                "upstream_rate_limited",
                "upstream_rate_limited",
                upstream_code=code,
            ),
            {"Retry-After": retry_after} if retry_after else {},
        )
    if status in (401, 403):
        return Refusal(
            502,
            error_body(
                f"The model endpoint refused the operator's credentials (HTTP {status}); "
                f"the operator must fix the key.{said}",
                "upstream_auth",
                "upstream_auth",
            ),
            {"x-should-retry": "false"},
        )
    if status == 404:
        return Refusal(
            502,
            error_body(
                f"The model endpoint does not know the model or path (HTTP 404).{said}",
                "upstream_not_found",
                "upstream_not_found",
            ),
            {"x-should-retry": "false"},
        )
    if 400 <= status < 500:
        return Refusal(
            status,
            error_body(
                f"The model endpoint refused the request (HTTP {status}):{said}",
                "invalid_request_error",
                code,
            ),
        )
    return Refusal(
        502,
        error_body(
            f"The model endpoint failed (HTTP {status}):{said}", "upstream_error", "upstream_error"
        ),
    )


def unreachable(reason: str) -> Refusal:
    return Refusal(
        502,
        error_body(
            f"The model endpoint could not be reached ({reason}).",
            "upstream_unreachable",
            "upstream_unreachable",
        ),
    )


def timed_out(timeout_s: float, kind: str) -> Refusal:
    return Refusal(
        504,
        error_body(
            f"The model endpoint did not answer within {timeout_s:g} s (no {kind} it).",
            "upstream_timeout",
            "upstream_timeout",
        ),
    )


def too_many_in_flight(where: str) -> Refusal:
    return Refusal(
        429,
        error_body(
            f"Too many requests in flight at {where}; try again when some end.",
            "requests",
            "too_many_in_flight",
        ),
    )
