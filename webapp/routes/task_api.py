"""The JSON API of the in-workspace `task` command, under /api/v1/task.

It authenticates with the run's own token (``blr_…``), so it can only ever act on that run;
every time in it is the server's. Each call counts as activity of the run (source ``cli``).
"""

import asyncio
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from baselines import checkpointing, checkpoints, run_pauses, run_tokens
from baselines.checkpoints import PENDING, Checkpoint
from baselines.errors import Conflict, DomainError, NotFound
from baselines.runs import OPEN, Run
from environments.family_calls import FamilyCallFailed, instructions
from timetracking import activity, clock, idle, pause_reasons
from webapp.deps import NowDep, RowId, SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1/task", tags=["task"])
WAIT_MAX_S = 30


def token_run(request: Request, session: SessionDep) -> Run:
    """The run whose token this is (``Authorization: Bearer blr_…``); 401 otherwise."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    run = run_tokens.run_for(session, value.strip()) if scheme.lower() == "bearer" else None
    if run is None:
        raise HTTPException(
            status_code=401,
            detail="This run token is not valid. Restart the IDE from the portal, or ask your"
            " coordinator.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return run


TokenRun = Annotated[Run, Depends(token_run)]


def task_run(run: TokenRun, session: SessionDep, now: NowDep) -> Iterator[Run]:
    """The token's run, for a call a person made with ``task``. A call that succeeds counts as
    activity of a live run (source ``cli``). Before it is handled, an idle pause ends in the
    request's own transaction, so ``task score`` right after a break is not refused for it;
    a refused call rolls that back with everything else and changes nothing."""
    live = run.status in OPEN
    run_id = run.id
    if live:
        idle.end(session, run_id, now)
    yield run
    if live:  # only reached when the call succeeded; commits the idle pause's end with it
        activity.record(session, run_id, now, "cli")


TaskRun = Annotated[Run, Depends(task_run)]


def _live(run: Run) -> None:
    if run.status not in OPEN:
        raise HTTPException(status_code=410, detail=f"This run has ended ({run.status}).")


def _visible(session: Session, settings, run: Run) -> bool:
    try:
        return checkpointing.run_task(session, settings, run).ref.task.scoring.visible_to_agent
    except DomainError:
        return False


def checkpoint_json(row: Checkpoint, visible: bool) -> dict[str, Any]:
    """A checkpoint as the expert's ``task`` command sees it. A task whose scores are hidden
    (``scoring.visible_to_agent: false``) still says whether each checkpoint was valid and what
    its scorer said (a family that hides its score keeps it out of its message, as RE-Bench's
    scaling-law task does); the score and its normalised value stay with the staff."""
    shown = visible or row.status in PENDING
    return {
        "seq": row.seq,
        "status": row.status,
        "final": row.final,
        "submitted_at": row.submitted_at.isoformat(),
        "working_s": round(row.working_s, 1),
        "scored_at": row.scored_at.isoformat() if row.scored_at else None,
        "visible": visible,
        "score": row.score if shown else None,
        "score_normalized": row.score_normalized if shown else None,
        "valid": row.valid,
        "comparable": row.comparable,
        "message": row.message,
        "waiting": row.last_error if row.status in PENDING else "",
    }


def _submit(request: Request, session: Session, settings, run: Run, now: datetime, final: bool):
    _live(run)
    row = checkpointing.submit(
        session,
        settings,
        request.app.state.workspaces.connections,
        run,
        source="submit" if final else "cli",
        now=now,
        final=final,
    )
    request.app.state.scoring.wake()
    return checkpoint_json(row, True)


@router.post("/checkpoints", status_code=202)
def submit_checkpoint(
    request: Request, run: TaskRun, session: SessionDep, settings: SettingsDep, now: NowDep
) -> dict:
    """Snapshot the task folder now and queue it for scoring."""
    return _submit(request, session, settings, run, now, final=False)


class Submission(BaseModel):
    confirm: bool = False


@router.post("/submit", status_code=202)
def submit_final(
    body: Submission,
    request: Request,
    run: TaskRun,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> dict:
    """The final submission: scored like a checkpoint, then the run ends."""
    if not body.confirm:
        raise Conflict('Send {"confirm": true} to submit: it ends the run.')
    return _submit(request, session, settings, run, now, final=True)


# NaN would make the deadline below unreachable (every comparison with it is false), so a
# request for a queued checkpoint would never be answered; it is refused as invalid input.
WaitQuery = Annotated[float, Query(allow_inf_nan=False, description="Seconds, at most 30.")]


POLL_S = 0.5


def token_run_id(request: Request) -> int:
    """The token's run, checked in a session of its own that closes at once (SessionDep's
    would stay open, holding a connection, for as long as the request waits)."""
    with Session(request.app.state.engine) as session:
        return token_run(request, session).id


@router.get("/checkpoints/{seq}")
async def get_checkpoint(
    seq: RowId,
    run_id: Annotated[int, Depends(token_run_id)],
    request: Request,
    settings: SettingsDep,
    now: NowDep,
    wait: WaitQuery = 0,
) -> dict:
    """One checkpoint; with ``wait``, answered once it is scored or after that many seconds.

    ``task score`` waits here while its checkpoint is scored, so dozens of these are open at
    once: none may hold a database connection or the event loop while it waits. Each look is
    a short session in a worker thread; between looks the request holds nothing."""
    engine = request.app.state.engine
    deadline = asyncio.get_running_loop().time() + min(max(wait, 0), WAIT_MAX_S)
    visible, answer = await run_in_threadpool(_first_look, engine, settings, run_id, seq, now)
    while answer is None:
        if asyncio.get_running_loop().time() >= deadline:
            return await run_in_threadpool(_look, engine, run_id, seq, visible, True)
        await asyncio.sleep(POLL_S)
        answer = await run_in_threadpool(_look, engine, run_id, seq, visible, False)
    return answer


def _first_look(engine, settings, run_id: int, seq: int, now: datetime) -> tuple[bool, dict | None]:
    """The first look, which counts as activity as ``task_run`` counts a call."""
    with Session(engine) as session:
        run = session.get(Run, run_id)
        live = run.status in OPEN
        if live:
            idle.end(session, run.id, now)
        row = checkpoints.get(session, run.id, seq)
        if row is None:
            session.rollback()  # a refused call changes nothing
            raise NotFound(f"This run has no checkpoint {seq}.")
        visible = _visible(session, settings, run)
        answer = None if row.status in PENDING else checkpoint_json(row, visible)
        if live:
            activity.record(session, run.id, now, "cli")
        session.commit()
        return visible, answer


def _look(engine, run_id: int, seq: int, visible: bool, last: bool) -> dict | None:
    """The checkpoint once it is no longer pending (or, the ``last`` time, as it is)."""
    with Session(engine) as session:
        row = checkpoints.get(session, run_id, seq)
        return checkpoint_json(row, visible) if last or row.status not in PENDING else None


@router.get("/status")
def status(run: TaskRun, session: SessionDep, settings: SettingsDep, now: NowDep) -> dict:
    visible = _visible(session, settings, run)
    recent = checkpoints.log(session, run.id)[-3:]
    reading = clock.read(session, run, now)
    return {
        "run_id": run.id,
        "environment": run.environment,
        "status": run.status,
        **reading.as_json(),
        # What each reason means to the expert (timetracking.pause_reasons), for `task status`.
        "paused_because": pause_reasons.words(reading.paused_by),
        "recent": [checkpoint_json(r, visible) for r in recent],
    }


@router.get("/log")
def score_log(run: TaskRun, session: SessionDep, settings: SettingsDep) -> dict:
    visible = _visible(session, settings, run)
    return {
        "checkpoints": [checkpoint_json(r, visible) for r in checkpoints.log(session, run.id)],
        "notes": [note_json(n) for n in checkpoints.notes(session, run.id)],
    }


def note_json(note: checkpoints.Note) -> dict[str, Any]:
    return {
        "id": note.id,
        "created_at": note.created_at.isoformat(),
        "working_s": round(note.working_s, 1),
        "text": note.text,
    }


class NoteIn(BaseModel):
    text: str = Field(max_length=checkpoints.NOTE_MAX)


@router.post("/notes", status_code=201)
def add_note(body: NoteIn, run: TaskRun, session: SessionDep, now: NowDep) -> dict:
    _live(run)
    note = checkpoints.add_note(
        session,
        run.id,
        body.text,
        now=now,
        working_s=checkpointing.working_s(session, run, now),
        source="cli",
    )
    session.commit()
    return note_json(note)


@router.post("/pause")
def pause(run: TaskRun, session: SessionDep, now: NowDep) -> dict:
    run_pauses.pause(session, run, now)
    return {"clock": "paused", "working_s": round(checkpointing.working_s(session, run, now), 1)}


@router.post("/resume")
def resume(run: TaskRun, session: SessionDep, now: NowDep) -> dict:
    stopped = run_pauses.resume(session, run, now, "cli")
    return {
        "clock": "paused" if stopped else "running",
        "working_s": round(checkpointing.working_s(session, run, now), 1),
    }


@router.get("/instructions")
def task_instructions(run: TaskRun, session: SessionDep, settings: SettingsDep) -> dict:
    task = checkpointing.run_task(session, settings, run)
    try:
        return {"text": instructions(task.ref.family.path, task.ref.task.name)}
    except FamilyCallFailed as exc:
        raise DomainError(f"The task's instructions could not be read: {exc.message}") from exc
