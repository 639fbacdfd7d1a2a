"""The model gateway's state: where the model is, the stand-ins the portal started, and what each
run has in flight.

An environment that declares ``baseliner.model`` lends its runs a language model while they
develop. The operator's endpoint (``BASELINER_MODEL_BASE_URL``, ``BASELINER_MODEL``, key in
``BASELINER_MODEL_API_KEY``) is the one the family's scoring uses too; unset, the portal starts
the environment's stand-in script once (``python <standin> --host 127.0.0.1 --port 0``, which
prints one JSON line with its ``base_url`` and ``model``), reuses it, and stops it at shutdown.

The rules (what is refused, how ``max_tokens`` is capped, how upstream failures read) are
``environments/_shared/familykit/chat_rules.py``, shared with the family's scoring proxy. The
budget is a sum over the run's ledger rows (baselines.model_usage); what a run has in flight is
reserved here, in this process: with several portal processes each reserves its own share, so
the budget may be overshot by what is in flight at once in the others (at most the in-flight
cap times a request's answer).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from environments._shared.familykit import chat_rules
from webapp.settings import Settings

log = logging.getLogger("baseliner.model_gateway")
STANDIN_START_S = 20.0


@dataclass(frozen=True)
class Upstream:
    base_url: str
    model: str
    key: str  # "" for none; never logged nor shown

    @property
    def shown(self) -> str:
        return chat_rules.safe_url(self.base_url)


class StandinFailed(RuntimeError):
    """The environment's stand-in could not be started; the message says why."""


class Standins:
    """The stand-in servers the portal started, one per script, each a child process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Path, tuple[subprocess.Popen, Upstream]] = {}

    def get(self, script: Path) -> Upstream:
        script = script.resolve()
        with self._lock:
            known = self._running.get(script)
            if known is not None and known[0].poll() is None:
                return known[1]
            upstream = self._start(script)
            return upstream

    def _start(self, script: Path) -> Upstream:
        if not script.is_file():
            raise StandinFailed(f"the environment's stand-in {script.name} is missing")
        proc = subprocess.Popen(
            [sys.executable, str(script), "--host", "127.0.0.1", "--port", "0"],
            cwd=script.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(STANDIN_START_S)
        try:
            said = json.loads(line[0]) if line else None
            upstream = Upstream(str(said["base_url"]), str(said.get("model") or "standin"), "")
        except (ValueError, KeyError, TypeError):
            _stop(proc)
            raise StandinFailed(
                f"the environment's stand-in {script.name} did not start "
                f"(exit status {proc.poll()})"
            ) from None
        self._running[script] = (proc, upstream)
        log.info("started the stand-in model %s at %s (pid %d)", script, upstream.shown, proc.pid)
        return upstream

    def close(self) -> None:
        with self._lock:
            for proc, _ in self._running.values():
                _stop(proc)
            self._running.clear()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()


class InFlight:
    """Each run's requests in flight and the tokens they reserve, in this process."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._lock = threading.Lock()
        self._count: dict[int, int] = {}
        self._reserved: dict[int, int] = {}

    def reserved(self, run_id: int) -> int:
        with self._lock:
            return self._reserved.get(run_id, 0)

    def enter(
        self, run_id: int, used: int, budget: int, request: chat_rules.ChatRequest, fill_below: int
    ) -> int:
        """Admits one request of the run: refuses it (Refusal) when the run has ``cap`` in
        flight, its budget is spent or what is left is reserved; else caps its answer to what
        is left and reserves that. Returns the reservation, for ``leave``."""
        with self._lock:
            if self._count.get(run_id, 0) >= self.cap:
                raise chat_rules.too_many_in_flight(
                    f"the portal (this run has {self.cap} requests to the model in flight)"
                )
            if used >= budget:
                raise chat_rules.Refusal(
                    429,
                    chat_rules.budget_error(budget, used, "this run's development"),
                    {"x-should-retry": "false"},
                )
            reserved = self._reserved.get(run_id, 0)
            free = budget - used - reserved - request.prompt_estimate
            if free < request.n and reserved:
                raise chat_rules.Refusal(
                    429,
                    chat_rules.error_body(
                        "What remains of the run's token budget is held by requests in flight;"
                        " try again when they end.",
                        "requests",
                        "budget_reserved",
                    ),
                )
            reservation = chat_rules.cap(request, free, fill_below)
            self._count[run_id] = self._count.get(run_id, 0) + 1
            self._reserved[run_id] = reserved + reservation
            return reservation

    def leave(self, run_id: int, reservation: int) -> None:
        with self._lock:
            self._count[run_id] -= 1
            self._reserved[run_id] -= reservation
            if not self._count[run_id]:
                del self._count[run_id], self._reserved[run_id]


class Remembered:
    """What an environment lends (its manifest's model block and its family's folder), kept for
    a few seconds: finding it means reading every family's manifest (about 10 ms), which a
    run's requests would otherwise pay each time, holding the interpreter while they do. A
    changed manifest counts within ``TTL_S``."""

    TTL_S = 15.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[float, Any]] = {}

    def get(self, environment: str, find: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(environment)
        if kept is not None and kept[0] > now:
            return kept[1]
        value = find()  # raises for an environment that is gone: nothing kept
        with self._lock:
            self._kept[environment] = (now + self.TTL_S, value)
        return value


class ModelGateway:
    """What the gateway's routes share: the upstream, the stand-ins, the HTTP client."""

    FILL_BELOW = 16384

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lent_by = Remembered()
        self.standins = Standins()
        self.in_flight = InFlight(settings.model_max_in_flight)
        timeout = settings.model_timeout_s
        self.timeout_s = timeout
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)), trust_env=False
        )

    @property
    def configured(self) -> bool:
        return bool(self.settings.model_base_url)

    def configured_model(self) -> str | None:
        """The model's name as the run page shows it, without starting anything."""
        return self.settings.model or None if self.configured else None

    def upstream(self, family_path: Path, standin: str | None) -> Upstream:
        """The operator's endpoint, else the environment's stand-in (started on first use).
        Raises chat_rules.Refusal (502) when neither can serve."""
        settings = self.settings
        if settings.model_base_url:
            if not settings.model:
                raise chat_rules.Refusal(
                    502,
                    chat_rules.error_body(
                        "The operator set BASELINER_MODEL_BASE_URL but not BASELINER_MODEL;"
                        " ask them to name the model.",
                        "upstream_error",
                        "model_not_configured",
                    ),
                )
            key = settings.model_api_key.get_secret_value()
            return Upstream(settings.model_base_url.rstrip("/"), settings.model, key)
        if not standin:
            raise chat_rules.Refusal(
                502,
                chat_rules.error_body(
                    "No model is configured (BASELINER_MODEL_BASE_URL) and this environment"
                    " has no stand-in; ask the operator.",
                    "upstream_error",
                    "model_not_configured",
                ),
            )
        try:
            return self.standins.get(family_path / standin)
        except StandinFailed as exc:
            raise chat_rules.unreachable(str(exc)) from exc

    async def forward(self, upstream: Upstream, body: dict) -> httpx.Response:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if upstream.key:
            headers["Authorization"] = f"Bearer {upstream.key}"
        try:
            return await self.client.post(
                upstream.base_url + "/chat/completions", json=body, headers=headers
            )
        except httpx.TimeoutException as exc:
            kind = "connection to" if isinstance(exc, httpx.ConnectTimeout) else "answer from"
            log.warning("model upstream %s: no %s it in time", upstream.shown, kind)
            raise chat_rules.timed_out(self.timeout_s, kind) from exc
        except httpx.HTTPError as exc:
            reason = self.scrub_text(upstream, str(exc)) or type(exc).__name__
            log.warning("model upstream %s unreachable: %s", upstream.shown, reason)
            raise chat_rules.unreachable(f"{type(exc).__name__}: {reason}") from exc

    @staticmethod
    def scrub(upstream: Upstream, data: bytes) -> bytes:
        """Whatever the upstream sends back, without the key in it."""
        if upstream.key and upstream.key.encode() in data:
            return data.replace(upstream.key.encode(), b"[redacted]")
        return data

    @staticmethod
    def scrub_text(upstream: Upstream, text: str) -> str:
        return text.replace(upstream.key, "[redacted]") if upstream.key else text

    async def aclose(self) -> None:
        await self.client.aclose()
        self.standins.close()
