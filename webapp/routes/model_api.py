"""The model gateway: an OpenAI-compatible endpoint for the workspace, under /api/v1/task/model/v1.

An expert whose environment declares ``baseliner.model`` calls the model from the workspace's
terminal (``eval "$(task model env)"`` sets OPENAI_BASE_URL and OPENAI_API_KEY to this address
and the run's token). The run's token authenticates, as for the ``task`` command; one budget
holds for the whole run (the manifest's ``development_budget_tokens``), every request is a row
of the ledger (baselines.model_usage), and each checkpoint records what was used since the one
before it. Errors have OpenAI's shape so the ``openai`` client raises its usual exceptions. The
operator's key never leaves the portal: it is neither logged nor sent back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from baselines import checkpointing, model_usage
from baselines.errors import DomainError
from baselines.runs import OPEN
from environments._shared.familykit import chat_rules
from environments.manifest import ModelMeta
from timetracking import activity, clock, idle, pause_reasons
from timetracking.utc import utcnow
from webapp.model_gateway import ModelGateway
from webapp.routes.task_api import token_run

log = logging.getLogger("baseliner.model_gateway")
PREFIX = "/api/v1/task/model"
router = APIRouter(prefix=PREFIX, tags=["model"])


@dataclass
class Lent:
    """A run that may call the model now: its id, the environment's model block, the family."""

    run_id: int
    model: ModelMeta
    family_path: Any
    used: int


def _now(request: Request) -> datetime:
    return getattr(request.app.state, "clock", utcnow)()


def _refuse(status: int, message: str, type_: str, code: str) -> chat_rules.Refusal:
    return chat_rules.Refusal(status, chat_rules.error_body(message, type_, code))


def _lent(request: Request, now: datetime, *, live: bool = True) -> Lent:
    """The token's run, if its environment lends a model (and, with ``live``, the run is
    neither over nor paused); raises Refusal otherwise. An idle pause ends here, as a ``task``
    call ends it: calling the model is working."""
    with Session(request.app.state.engine) as session:
        try:
            run = token_run(request, session)
        except HTTPException as exc:
            # OpenAI's shape for its clients, the portal API's "detail" and challenge besides.
            body = chat_rules.error_body(
                str(exc.detail), "invalid_request_error", "invalid_api_key"
            )
            raise chat_rules.Refusal(
                401, {**body, "detail": str(exc.detail)}, {"WWW-Authenticate": "Bearer"}
            ) from exc

        def find() -> tuple[ModelMeta | None, Any]:
            task = checkpointing.run_task(session, request.app.state.settings, run)
            return task.meta.model, task.ref.family.path

        try:
            model, family_path = gateway(request).lent_by.get(run.environment, find)
        except DomainError as exc:
            raise _refuse(
                404, f"This run's task is not available: {exc}", "not_found", "no_model"
            ) from exc
        if model is None:
            raise _refuse(
                404,
                f"The environment {run.environment} lends no model to its runs"
                " (its manifest has no baseliner.model).",
                "not_found",
                "no_model",
            )
        if live:
            if run.status not in OPEN:
                raise _refuse(
                    409, f"This run has ended ({run.status}).", "invalid_request_error", "run_ended"
                )
            idle.end(session, run.id, now)
            paused_by = clock.read(session, run, now).paused_by
            if paused_by:
                session.rollback()
                words = "; ".join(pause_reasons.words(paused_by))
                raise _refuse(
                    409,
                    f"The run's clock is paused ({words}); resume it (task resume) to use the"
                    " model.",
                    "invalid_request_error",
                    "run_paused",
                )
            session.commit()
        used = model_usage.used(session, run.id)
        return Lent(run.id, model, family_path, used)


def _answer(exc: chat_rules.Refusal) -> JSONResponse:
    """OpenAI's error shape for the model's clients, and the portal API's ``detail`` beside it
    for scripts, as every other /api refusal has."""
    body = dict(exc.body)
    error = body.get("error")
    if "detail" not in body and isinstance(error, dict) and error.get("message"):
        body["detail"] = error["message"]
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def _record(request: Request, run_id: int, prompt: int, completion: int, status: str) -> None:
    with Session(request.app.state.engine) as session:
        model_usage.record(session, run_id, _now(request), prompt, completion, status)
        if status == model_usage.OK:
            activity.record(session, run_id, _now(request), "cli")
            session.commit()


def gateway(request: Request) -> ModelGateway:
    return request.app.state.model_gateway


@router.get("/v1/models")
async def models(request: Request) -> Response:
    """The one model this run may use."""
    try:
        lent = await run_in_threadpool(_lent, request, _now(request), live=False)
        upstream = await run_in_threadpool(
            gateway(request).upstream, lent.family_path, lent.model.standin
        )
    except chat_rules.Refusal as exc:
        return _answer(exc)
    model = {"id": upstream.model, "object": "model", "created": 0, "owned_by": "operator"}
    return JSONResponse({"object": "list", "data": [model]})


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    """One chat completion under the run's development budget."""
    raw = await request.body()
    if len(raw) > chat_rules.MAX_BODY:
        return _answer(
            _refuse(
                413,
                f"The body must be at most {chat_rules.MAX_BODY} bytes.",
                "invalid_request_error",
                "too_large",
            )
        )
    try:
        lent = await run_in_threadpool(_lent, request, _now(request))
        chat = chat_rules.parse_chat(raw, "the portal's model gateway")
    except chat_rules.Refusal as exc:
        return _answer(exc)
    the_gateway = gateway(request)
    budget = lent.model.development_budget_tokens
    try:
        reservation = the_gateway.in_flight.enter(
            lent.run_id, lent.used, budget, chat, the_gateway.FILL_BELOW
        )
    except chat_rules.Refusal as exc:
        code = str(exc.body["error"].get("code") or "refused")
        await run_in_threadpool(_record, request, lent.run_id, 0, 0, code)
        return _answer(exc)
    try:
        upstream = await run_in_threadpool(
            the_gateway.upstream, lent.family_path, lent.model.standin
        )
        asked = chat.body.get("model")
        chat.body["model"] = upstream.model
        response = await the_gateway.forward(upstream, chat.body)
        data = the_gateway.scrub(upstream, response.content)
        if response.status_code != 200:
            raise chat_rules.upstream_refusal(
                response.status_code, data, response.headers.get("retry-after")
            )
        answer = chat_rules.completion(data)
        prompt, completion, _ = chat_rules.usage_of(answer, chat.prompt_estimate)
        # Counted before the reservation ends, so no other request sees neither.
        await run_in_threadpool(_record, request, lent.run_id, prompt, completion, model_usage.OK)
    except chat_rules.Refusal as exc:
        code = str(exc.body["error"].get("code") or exc.body["error"].get("type"))
        log.warning("run %s: the model request failed (%d %s)", lent.run_id, exc.status, code)
        await run_in_threadpool(_record, request, lent.run_id, 0, 0, code)
        return _answer(exc)
    finally:
        the_gateway.in_flight.leave(lent.run_id, reservation)
    used = lent.used + prompt + completion
    log.info(
        "run %s: %d tokens of %s (model asked %r); about %d of %d used",
        lent.run_id,
        prompt + completion,
        upstream.model,
        asked,
        used,
        budget,
    )
    headers = {"X-Baseliner-Tokens-Used": str(used), "X-Baseliner-Tokens-Budget": str(budget)}
    return Response(data, media_type="application/json", headers=headers)


@router.get("")
async def model_info(request: Request) -> Response:
    """What ``task model`` prints: the model, the budget, what is used, where to reach it."""
    try:
        lent = await run_in_threadpool(_lent, request, _now(request), live=False)
    except chat_rules.Refusal as exc:
        return JSONResponse(
            {"detail": exc.body["error"]["message"]}, status_code=exc.status, headers=exc.headers
        )
    the_gateway = gateway(request)
    budget = lent.model.development_budget_tokens
    return JSONResponse(
        {
            "model": the_gateway.configured_model() or "the environment's stand-in",
            "budget_tokens": budget,
            "used_tokens": lent.used,
            "remaining_tokens": max(0, budget - lent.used),
            "path": PREFIX + "/v1",
        }
    )
