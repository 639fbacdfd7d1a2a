"""Portal pages for a run's score log: Score now, notes, and (for coordinators) each
checkpoint's snapshot and the diff between two of them."""

from typing import Annotated

from fastapi import HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse

from baselines import checkpointing, checkpoints
from baselines.errors import DomainError
from baselines.runs import Run, RunStatus, visible_to
from baselines.users import Role, User
from fleet import snapshots
from timetracking import activity
from webapp.auth.sessions import flash
from webapp.deps import CoordinatorUser, CurrentUser, NowDep, RowId, SessionDep, SettingsDep
from webapp.forms import text_fields
from webapp.routes import pages_router
from webapp.routes.runs import page
from webapp.templating import render

router = pages_router()
Seq = Annotated[int, Query(ge=1, le=2**31 - 1, description="A checkpoint's number in its run.")]


def is_staff(user: User) -> bool:
    return user.role in (Role.coordinator, Role.admin)


@router.post("/runs/{run_id}/checkpoints")
def score_now(
    request: Request,
    run_id: RowId,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    """The portal's Score now: the same checkpoint as `task score`."""
    run = visible_to(session, run_id, user)
    if user.id == run.expert_id and run.status == RunStatus.active:
        activity.record(session, run.id, now, "portal")  # the expert is there: idle ends
    row = checkpointing.submit(
        session,
        settings,
        request.app.state.workspaces.connections,
        run,
        source="portal",
        now=now,
    )
    request.app.state.scoring.wake()
    flash(request, f"Checkpoint {row.seq} submitted; it is being scored.")
    return RedirectResponse(
        f"/runs/{run.id}", status_code=303
    )  # no fragment: the page reloads itself while scoring, and a fragment would make that a jump


def note_problem(text: str) -> str:
    """Why a note cannot be saved as typed ('' when it can): nothing is ever cut silently."""
    if not text.strip():
        return "Write something first: an empty note is not saved."
    if len(text.strip()) > checkpoints.NOTE_MAX:
        return (
            f"A note holds at most {checkpoints.NOTE_MAX:,} characters; this one has"
            f" {len(text.strip()):,}. Nothing was saved: shorten it (your text is still here),"
            " or split it into several notes."
        )
    return ""


@router.post("/runs/{run_id}/notes")
async def add_note(
    request: Request,
    run_id: RowId,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    run = visible_to(session, run_id, user)
    if run.expert_id != user.id:  # the research log is the expert's own
        raise HTTPException(status_code=403, detail="Your role cannot open this page.")
    text = text_fields(await request.form(), "text")["text"]
    problem = note_problem(text)
    if not problem and run.status != RunStatus.active:
        problem = f"This run is {run.status}; notes are added while it runs."
    if problem:  # the page again, the message beside the field and the text as typed
        return page(request, session, settings, user, run, now, 400,
                    {"note_text": problem}, {"note_text": text})  # fmt: skip
    activity.record(session, run.id, now, "portal")
    try:
        checkpoints.add_note(
            session,
            run.id,
            text,
            now=now,
            working_s=checkpointing.working_s(session, run, now),
            source="portal",
        )
    except DomainError as exc:
        session.rollback()
        return page(request, session, settings, user, run, now, 400,
                    {"note_text": exc.message}, {"note_text": text})  # fmt: skip
    session.commit()
    flash(request, "Note added.")
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


def _checkpoint(session, run: Run, seq: int):
    row = checkpoints.get(session, run.id, seq)
    if row is None:
        raise HTTPException(status_code=404, detail="No such checkpoint.")
    return row


@router.get("/runs/{run_id}/checkpoints/{seq}/snapshot")
def download_snapshot(
    run_id: RowId, seq: RowId, user: CoordinatorUser, session: SessionDep, settings: SettingsDep
):
    """The checkpoint's task folder exactly as it was scored (integrity review, rescoring)."""
    run = visible_to(session, run_id, user)
    row = _checkpoint(session, run, seq)
    path = snapshots.path_for(checkpointing.snapshot_store(settings), row.snapshot_sha256)
    if not path.is_file():
        raise HTTPException(status_code=410, detail="This snapshot is no longer stored.")
    name = f"run-{run.id}-checkpoint-{row.seq}-{row.snapshot_sha256[:12]}.tar"
    return FileResponse(path, media_type="application/x-tar", filename=name)


@router.get("/runs/{run_id}/diff")
def diff(
    request: Request,
    run_id: RowId,
    user: CoordinatorUser,
    session: SessionDep,
    settings: SettingsDep,
    a: Seq,
    b: Seq,
):
    """What changed in the task folder between two checkpoints of the run."""
    run = visible_to(session, run_id, user)
    first, second = _checkpoint(session, run, a), _checkpoint(session, run, b)
    store = checkpointing.snapshot_store(settings)
    changes = snapshots.diff(
        snapshots.path_for(store, first.snapshot_sha256),
        snapshots.path_for(store, second.snapshot_sha256),
    )
    return render(
        request,
        "runs/diff.html",
        {"run": run, "first": first, "second": second, "changes": changes},
    )
