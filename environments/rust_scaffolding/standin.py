"""A stand-in language model for rust_scaffolding: OpenAI-compatible chat completions on loopback.

Tests and CPU-only demos need a model that costs nothing, answers at once and is reproducible.
This one knows the problems (their titles) and, for each, three Rust programs from the stand-in
table (problems/standin.json): ``correct`` (passes every test), ``wrong`` (compiles, fails a
test) and ``broken`` (does not compile). Each sample is one of the three, drawn from a seeded
hash, so a scaffold that samples several times and filters on the public examples beats one
that takes the first answer, as it would with a real model.

Which problem a request is about: the longest problem title that appears (case-insensitively)
in the last user message, else in the latest message where one appears (repair turns). No
title found -> a short answer with no code, as a model would give.

Which program a sample gets: ``u = sha256(seed, problem id, k, temperature)`` mapped to [0, 1)
against the rates (correct, wrong, broken), where k is the problem's sample counter (each
choice of each request for that problem adds one). At temperature 0 k is left out, so every
sample of a problem is the same program (greedy decoding); the default temperature is 1 as in
OpenAI's API. The same seed and the same sequence of requests give the same answers.

Usage is counted as a real endpoint would: ``prompt_tokens`` = ceil(characters of all messages
/ 4), ``completion_tokens`` = ceil(characters of each choice / 4) summed over the choices.
``max_tokens`` / ``max_completion_tokens`` cut an answer at 4 characters a token
(``finish_reason: "length"``).

Faults on request (constructor, ``set_faults()``, CLI flags, or per request the header
``X-Standin-Fault: 429|500|hang`` and ``X-Standin-Latency: <seconds>``):
    latency_s          every answer waits this long first
    rate_limit_every   every k-th chat request is answered 429 (OpenAI's rate_limit_exceeded)
    error_every        every k-th chat request is answered 500
    hang_every         every k-th chat request hangs ``hang_s`` (default 600 s, or until
                       stop()) before answering: the caller's timeout fires first
With ``api_key`` set, a request without ``Authorization: Bearer <api_key>`` gets 401 whose
message quotes the key it was given, as OpenAI's does (tests of the proxy's scrubbing use it).

Endpoints: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /standin/stats`` (totals).

Run: ``python standin.py --table standin.json --problems test.json dev.json --port 0 --seed 1``
(the table and problems default to this family's, as the portal starts it: ``python standin.py``)
prints one JSON line ``{"base_url": "http://127.0.0.1:PORT/v1", ...}`` then serves until killed.
Import: ``StandinModel(table, problems, seed=1).start()``; ``.base_url``; ``.stats()``; ``.stop()``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

OUTCOMES = ("correct", "wrong", "broken")
DEFAULT_RATES = (0.35, 0.45, 0.2)
DEFAULT_MODEL = "baseliner-standin"
MAX_N = 64
MAX_BODY = 8 * 1024 * 1024
UNKNOWN_PROBLEM_ANSWER = (
    "I could not tell which problem you mean. Please include the problem's title and statement."
)


@dataclass
class Faults:
    """Faults the stand-in plays on request (0 = off)."""

    latency_s: float = 0.0
    rate_limit_every: int = 0
    error_every: int = 0
    hang_every: int = 0
    hang_s: float = 600.0


@dataclass
class Stats:
    """Totals since start, for tests and demos."""

    requests: int = 0  # every chat request, faulted ones included
    answered: int = 0
    rate_limited: int = 0
    errors: int = 0
    hung: int = 0
    bad_requests: int = 0
    unknown_problem: int = 0
    samples: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    correct: int = 0
    wrong: int = 0
    broken: int = 0


def tokens(text: str) -> int:
    """Tokens of a text as the stand-in counts them: about four characters a token."""
    return math.ceil(len(text) / 4)


def _load_json(source: Path | str | Mapping[str, Any] | list[Any]) -> Any:
    if isinstance(source, (Mapping, list)):
        return source
    return json.loads(Path(source).read_text())


def load_titles(
    problem_sets: Iterable[Path | str | Mapping[str, Any] | list[Any]],
) -> dict[str, str]:
    """Problem id -> title from problem files (``{"problems": [...]}``), their dicts, or lists
    of ``{"id", "title"}`` dicts."""
    titles: dict[str, str] = {}
    for source in problem_sets:
        data = _load_json(source)
        problems = data["problems"] if isinstance(data, Mapping) else data
        for problem in problems:
            titles[str(problem["id"])] = str(problem["title"])
    return titles


def load_table(source: Path | str | Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The stand-in table: problem id -> {"correct", "wrong", "broken"} Rust sources. Accepts
    that mapping itself, or inside ``{"sources": ...}`` (problems/build.py writes this) or
    ``{"problems": ...}``, or a list of ``{"id", "correct", "wrong", "broken"}``."""
    data = _load_json(source)
    if isinstance(data, Mapping):
        for key in ("sources", "problems"):
            if isinstance(data.get(key), (Mapping, list)):
                data = data[key]
                break
    if isinstance(data, list):
        data = {item.get("id"): item for item in data if isinstance(item, Mapping)}
    table: dict[str, dict[str, str]] = {}
    for pid, sources in data.items():
        if not isinstance(sources, Mapping) or not all(
            isinstance(sources.get(o), str) for o in OUTCOMES
        ):
            continue  # "version" and other keys beside the problems
        table[str(pid)] = {o: sources[o] for o in OUTCOMES}
    if not table:
        raise ValueError("the stand-in table holds no problem with correct, wrong and broken")
    return table


def normalise_rates(rates: tuple[float, float, float]) -> tuple[float, float, float]:
    if len(rates) != 3 or any(r < 0 for r in rates) or sum(rates) <= 0:
        raise ValueError("rates are three non-negative numbers (correct, wrong, broken), not all 0")
    total = sum(rates)
    return (rates[0] / total, rates[1] / total, rates[2] / total)


def choose(
    seed: int, problem_id: str, k: int, temperature: float, rates: tuple[float, float, float]
) -> str:
    """The outcome of sample ``k`` of a problem: deterministic in its arguments."""
    temp = round(float(temperature), 3)
    key = f"{seed}|{problem_id}|{temp}" if temp == 0 else f"{seed}|{problem_id}|{k}|{temp}"
    u = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    correct, wrong, _ = normalise_rates(rates)
    if u < correct:
        return "correct"
    return "wrong" if u < correct + wrong else "broken"


def answer_text(source: str) -> str:
    return f"Here is a Rust solution.\n\n```rust\n{source.rstrip()}\n```\n"


class BadRequest(ValueError):
    """A request the stand-in refuses with 400, as OpenAI's API would."""


class StandinModel:
    """The stand-in server. ``start()`` serves on ``host:port`` (port 0: one is chosen) in a
    thread; ``base_url`` is what an OpenAI client takes."""

    def __init__(
        self,
        table: Path | str | Mapping[str, Any],
        problems: Iterable[Path | str | Mapping[str, Any] | list[Any]],
        *,
        seed: int = 0,
        rates: tuple[float, float, float] = DEFAULT_RATES,
        model: str = DEFAULT_MODEL,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        api_key: str | None = None,
    ) -> None:
        self.table = load_table(table)
        self.titles = load_titles(problems)
        # Longest title first, so "Sum of Pairs II" wins over "Sum of Pairs".
        self._by_title = sorted(
            ((t.casefold(), pid) for pid, t in self.titles.items() if t.strip()),
            key=lambda item: -len(item[0]),
        )
        self.seed = seed
        self.rates = normalise_rates(rates)
        self.model = model
        self.host, self.port = host, port
        self.faults = faults or Faults()
        self.api_key = api_key  # when set, requests must carry it, as a real endpoint's
        self._stats = Stats()
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> StandinModel:
        server = _Server((self.host, self.port), _Handler)
        server.standin = self  # type: ignore[attr-defined]
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hung requests
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StandinModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """What ``openai.OpenAI(base_url=...)`` takes."""
        return self.url + "/v1"

    # -- controls for tests ----------------------------------------------------------------

    def set_faults(self, **changes: Any) -> None:
        """Change faults while serving, e.g. ``set_faults(rate_limit_every=1)``."""
        with self._lock:
            for name, value in changes.items():
                if not hasattr(self.faults, name):
                    raise TypeError(f"no fault named {name!r}")
                setattr(self.faults, name, value)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return asdict(self._stats)

    # -- the model -------------------------------------------------------------------------

    def problem_of(self, texts: list[tuple[bool, str]]) -> str | None:
        """The problem of a conversation ((is_user, text) in order): the one named in the last
        user message; failing that, in the latest message naming one (a repair turn such as
        "it does not compile, fix it" follows the problem's own message)."""
        users = [text for is_user, text in texts if is_user]
        if users and (pid := self.find_problem(users[-1])):
            return pid
        for _, text in reversed(texts):
            if pid := self.find_problem(text):
                return pid
        return None

    def find_problem(self, text: str) -> str | None:
        folded = text.casefold()
        for title, pid in self._by_title:
            if title in folded:
                return pid
        return None

    def _fault_for(self, number: int, header: str | None) -> str | None:
        if header:
            return header.strip().lower()
        f = self.faults
        for name, every in (
            ("429", f.rate_limit_every),
            ("500", f.error_every),
            ("hang", f.hang_every),
        ):
            if every > 0 and number % every == 0:
                return name
        return None

    def complete(self, body: Any) -> dict[str, Any]:
        """The chat completion for a request body (raises BadRequest)."""
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty list.")
        if body.get("stream"):
            raise BadRequest("Streaming is not supported by the stand-in; ask without 'stream'.")
        n = body.get("n", 1)
        if n is None:
            n = 1
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
            raise BadRequest(f"'n' must be an integer from 1 to {MAX_N}.")
        temperature = body.get("temperature", 1.0)
        if temperature is None:
            temperature = 1.0
        if (
            not isinstance(temperature, (int, float))
            or isinstance(temperature, bool)
            or not 0 <= temperature <= 2
        ):
            raise BadRequest("'temperature' must be a number from 0 to 2.")
        limit = body.get("max_completion_tokens")
        limit = body.get("max_tokens") if limit is None else limit
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            raise BadRequest("'max_tokens' must be a positive integer.")
        prompt_chars = 0
        texts: list[tuple[bool, str]] = []
        for message in messages:
            if not isinstance(message, dict):
                raise BadRequest("Each message must be an object with 'role' and 'content'.")
            content = _text_of(message.get("content"))
            prompt_chars += len(content)
            texts.append((message.get("role") == "user", content))
        pid = self.problem_of(texts)
        choices = []
        with self._lock:
            if pid is None or pid not in self.table:
                self._stats.unknown_problem += 1
                outcomes = [None] * n
            else:
                start = self._counters.get(pid, 0)
                self._counters[pid] = start + n
                outcomes = [
                    choose(self.seed, pid, start + i, temperature, self.rates) for i in range(n)
                ]
        completion_tokens = 0
        for i, outcome in enumerate(outcomes):
            text = (
                UNKNOWN_PROBLEM_ANSWER if outcome is None else answer_text(self.table[pid][outcome])
            )
            finish = "stop"
            if limit is not None and tokens(text) > limit:
                text, finish = text[: limit * 4], "length"
            completion_tokens += tokens(text)
            choices.append(
                {
                    "index": i,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            )
        prompt_tokens = math.ceil(prompt_chars / 4)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        with self._lock:
            s = self._stats
            s.answered += 1
            s.samples += n
            s.prompt_tokens += prompt_tokens
            s.completion_tokens += completion_tokens
            s.total_tokens += prompt_tokens + completion_tokens
            for outcome in outcomes:
                if outcome is not None:
                    setattr(s, outcome, getattr(s, outcome) + 1)
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model") or self.model),
            "choices": choices,
            "usage": usage,
            "system_fingerprint": f"standin-seed-{self.seed}",
        }

    def models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "baseliner"}],
        }


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def error_body(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # a scaffold's burst of concurrent samples must not overflow it
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "baseliner-standin"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def standin(self) -> StandinModel:
        return self.server.standin  # type: ignore[attr-defined]

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._send(
            405, error_body(f"Method {self.command} is not allowed here.", "invalid_request_error")
        )

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed  # 405, not the base's 501

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/models":
            self._send(200, self.standin.models())
        elif path == "/standin/stats":
            self._send(200, self.standin.stats())
        else:
            self._send(
                404, error_body(f"Unknown path {path!r}.", "invalid_request_error", "not_found")
            )

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._send(
                413 if length > 0 else 400,
                error_body("Bad Content-Length.", "invalid_request_error"),
            )
            return
        raw = self.rfile.read(length) if length else b""
        standin = self.standin
        given = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        if standin.api_key is not None and given != standin.api_key:
            # Like OpenAI's, the message quotes the key it was given (the proxy must scrub it).
            message = f"Incorrect API key provided: {given or '(none)'}."
            self._send(401, error_body(message, "invalid_request_error", "invalid_api_key"))
            return
        if path != "/v1/chat/completions":
            self._send(
                404, error_body(f"Unknown path {path!r}.", "invalid_request_error", "not_found")
            )
            return
        with standin._lock:
            standin._stats.requests += 1
            number = standin._stats.requests
            fault = standin._fault_for(number, self.headers.get("X-Standin-Fault"))
            latency = standin.faults.latency_s
            hang_s = standin.faults.hang_s
        with contextlib.suppress(ValueError):
            latency = float(self.headers.get("X-Standin-Latency") or latency)
        if latency > 0:
            standin._stopping.wait(latency)
        if fault == "429":
            with standin._lock:
                standin._stats.rate_limited += 1
            self._send(
                429,
                error_body(
                    "Rate limit reached for requests (stand-in).", "requests", "rate_limit_exceeded"
                ),
                {"Retry-After": "0"},
            )
            return
        if fault == "500":
            with standin._lock:
                standin._stats.errors += 1
            self._send(500, error_body("The server had an error (stand-in).", "server_error"))
            return
        if fault == "hang":
            with standin._lock:
                standin._stats.hung += 1
            standin._stopping.wait(hang_s)
            if standin._stopping.is_set():
                self.close_connection = True
                return
        try:
            body = json.loads(raw.decode() or "null")
        except (UnicodeDecodeError, ValueError):
            body = None
            error: str | None = "The request body is not valid JSON."
        else:
            error = None
        try:
            if error:
                raise BadRequest(error)
            answer = standin.complete(body)
        except BadRequest as exc:
            with standin._lock:
                standin._stats.bad_requests += 1
            self._send(400, error_body(str(exc), "invalid_request_error"))
            return
        self._send(200, answer)

    def _send(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the caller gave up (its timeout); nothing to tell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = Path(__file__).resolve().parent / "problems"
    parser.add_argument(
        "--table", type=Path, default=here / "standin.json", help="default: problems/standin.json"
    )
    parser.add_argument(
        "--problems",
        nargs="+",
        type=Path,
        default=[here / "test.json", here / "dev.json"],
        help="default: problems/test.json problems/dev.json (what the portal starts it with)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port is chosen")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument(
        "--rates",
        default=",".join(str(r) for r in DEFAULT_RATES),
        help="correct,wrong,broken (default %(default)s)",
    )
    parser.add_argument("--latency-s", type=float, default=0.0)
    parser.add_argument("--rate-limit-every", type=int, default=0)
    parser.add_argument("--error-every", type=int, default=0)
    parser.add_argument("--hang-every", type=int, default=0)
    parser.add_argument("--hang-s", type=float, default=600.0)
    args = parser.parse_args(argv)
    try:
        rates = tuple(float(r) for r in args.rates.split(","))
        standin = StandinModel(
            args.table,
            args.problems,
            seed=args.seed,
            rates=rates,  # type: ignore[arg-type]
            model=args.model,
            host=args.host,
            port=args.port,
            faults=Faults(
                args.latency_s,
                args.rate_limit_every,
                args.error_every,
                args.hang_every,
                args.hang_s,
            ),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        parser.error(f"cannot load the stand-in: {exc}")
    standin.start()
    print(
        json.dumps(
            {"base_url": standin.base_url, "model": standin.model, "problems": len(standin.table)}
        ),
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
