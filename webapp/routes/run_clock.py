"""The clock from the portal: the expert pauses and resumes; coordinators extend the limit and
correct work periods, each with a reason; the page's live clock reads it as JSON."""

import math

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse

from baselines import run_pauses
from baselines.errors import DomainError, Problems
from baselines.runs import LIVE, RunStatus, visible_to
from timetracking import clock, limits, overrides, pause_reasons
from webapp.auth.sessions import flash
from webapp.deps import CoordinatorUser, CurrentUser, NowDep, RowId, SessionDep, SettingsDep
from webapp.forms import field_error, text_fields
from webapp.routes import pages_router
from webapp.routes.runs import page
from webapp.templating import hms
from webapp.work_periods import parse

router = pages_router()


def _own_run(session, run_id: int, user):
    """Only the run's own expert pauses and resumes its clock (the rules: baselines.run_pauses)."""
    run = visible_to(session, run_id, user)
    if run.expert_id != user.id:
        raise HTTPException(status_code=403, detail="Your role cannot open this page.")
    return run


@router.get("/runs/{run_id}/clock", response_class=JSONResponse)
def read_clock(run_id: RowId, user: CurrentUser, session: SessionDep, now: NowDep):
    """What the page's clock shows, refreshed every half minute (it ticks by itself between)."""
    run = visible_to(session, run_id, user)
    reading = clock.read(session, run, now).as_json()
    return JSONResponse({"run_id": run.id, "status": run.status, **reading})


@router.post("/runs/{run_id}/pause")
def pause(request: Request, run_id: RowId, user: CurrentUser, session: SessionDep, now: NowDep):
    run = _own_run(session, run_id, user)
    run_pauses.pause(session, run, now)
    worked = clock.read(session, run, now).working_s
    flash(request, f"Clock paused at {hms(worked)}. Scoring waits until you resume.")
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


@router.post("/runs/{run_id}/resume")
def resume(request: Request, run_id: RowId, user: CurrentUser, session: SessionDep, now: NowDep):
    run = _own_run(session, run_id, user)
    run_pauses.resume(session, run, now, "portal")
    reading = clock.read(session, run, now)
    if reading.running:
        flash(request, f"Clock running again from {hms(reading.working_s)}.")
    else:
        flash(
            request,
            f"The clock is still stopped ({', '.join(pause_reasons.labels(reading.paused_by))}).",
        )
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


def _refused(request, session, settings, user, run, now, exc: DomainError, form_name, form):
    """The run page again with the staff form's input and the message beside its field (the
    form's fields are named ``<form_name>_<field>``); nothing of the refused change is kept."""
    session.rollback()
    if exc.field is None:
        raise exc
    errors = {f"{form_name}_{field}": message for field, message in field_error(exc).items()}
    return page(request, session, settings, user, run, now, 400, errors, form)


@router.post("/runs/{run_id}/extend")
async def extend(
    request: Request,
    run_id: RowId,
    user: CoordinatorUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    run = visible_to(session, run_id, user)
    form = text_fields(await request.form(), "extend_minutes", "extend_reason")
    try:
        minutes = float(form["extend_minutes"])
    except ValueError:
        minutes = 0.0
    problems = Problems()  # every field's message at once
    if not minutes or not math.isfinite(minutes):  # nan and inf are no number of minutes
        problems.add("minutes", "Enter the minutes to add, e.g. 30.")
        minutes = 0.0
    try:
        problems.check(
            limits.extend, session, run, round(minutes * 60), form["extend_reason"], user, now
        )
        problems.raise_any()
    except DomainError as exc:
        return _refused(request, session, settings, user, run, now, exc, "extend", form)
    session.commit()
    flash(request, f"Run {run.id} gets {minutes:g} more minutes of working time.")
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


@router.post("/runs/{run_id}/periods")
async def correct_periods(
    request: Request,
    run_id: RowId,
    user: CoordinatorUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    run = visible_to(session, run_id, user)
    if run.status not in LIVE and run.status != RunStatus.finished:
        raise HTTPException(
            status_code=409, detail=f"This run is {run.status}; it has no work periods."
        )
    form = text_fields(await request.form(), "override_periods", "override_reason")
    problems = Problems()  # every field's message at once
    periods = problems.check(parse, form["override_periods"], user.timezone)
    try:
        if periods is None:
            problems.check(overrides.clean_reason, form["override_reason"])
        else:
            row = problems.check(
                overrides.replace_periods, session, run, periods, form["override_reason"], user, now
            )
        problems.raise_any()
    except DomainError as exc:
        return _refused(request, session, settings, user, run, now, exc, "override", form)
    session.commit()
    flash(
        request,
        f"Work periods corrected: {hms(row.working_before_s)} became {hms(row.working_after_s)}.",
    )
    return RedirectResponse(f"/runs/{run.id}", status_code=303)
