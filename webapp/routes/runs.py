"""Expert pages for a run: Start an assignment, watch it provision, open the IDE, stop it."""

from datetime import datetime
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from baselines import (
    assignments,
    checkpointing,
    checkpoints,
    model_usage,
    run_lifecycle,
    run_notices,
    workspace_loss,
)
from baselines.errors import DomainError
from baselines.runs import OPEN, Run, visible_to
from baselines.users import Role, User
from environments import calibrations
from fleet.hosts import Host
from timetracking import clock, limits, overrides
from webapp import hardware, score_chart, work_periods
from webapp.auth.sessions import flash, safe_next
from webapp.deps import CurrentUser, ExpertUser, NowDep, RowId, SessionDep, SettingsDep
from webapp.ide import origin
from webapp.routes import pages_router
from webapp.settings import Settings
from webapp.templating import render

router = pages_router()


@router.post("/assignments/{assignment_id}/start")
def start(
    request: Request,
    assignment_id: RowId,
    user: ExpertUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    assignment = assignments.get_for(session, assignment_id, user)
    # The live run, the run a simultaneous Start made, or a new one (Conflict when none may).
    run, launch = run_lifecycle.begin(session, settings, assignment, user, now)
    if launch is not None:
        request.app.state.workspaces.start(run.id, launch)
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


@router.get("/runs/{run_id}")
def show(
    request: Request,
    run_id: RowId,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    run = visible_to(session, run_id, user)
    return page(request, session, settings, user, run, now)


def page(
    request: Request,
    session: Session,
    settings: Settings,
    user: User,
    run: Run,
    now: datetime,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
):
    """The run page; with ``errors`` it shows a form's input again beside the messages."""
    host = session.get(Host, run.host_id) if run.host_id else None
    ide_url = settings.ide_url.format(run=run.id)
    staff = user.role in (Role.coordinator, Role.admin)
    own = user.id == run.expert_id
    meta = None
    try:
        task = checkpointing.run_task(session, settings, run)
        visible, direction = task.ref.task.scoring.visible_to_agent, task.meta.direction
        meta = task.meta
    except DomainError:
        task, visible, direction = None, False, None
    rows = checkpoints.log(session, run.id)
    # Conditions (another model) the run's scores were made under that have no y_s/y_r: their
    # scores are valid but not comparable, and the page says so.
    uncalibrated = {
        condition
        for condition in {c.condition for c in rows if c.condition}
        if calibrations.scale(session, run.environment, meta, condition) is None
    }
    # The chart draws the scores under the run's condition only: never two models pooled.
    charted = checkpoints.under_run_condition(rows)
    shown = staff or visible
    reading = clock.read(session, run, now)
    return render(
        request,
        "runs/show.html",
        {
            "run": run,
            "host": host,
            "ide_url": ide_url,
            "staff": staff,
            "own": own,
            "expert": session.get(User, run.expert_id),
            "back": back_link(request, staff),
            # The expert reads what happened in their words; staff read the stored reason.
            "notice": run_notices.for_expert(run),
            "machine": hardware.of_run(run, host),
            "staff_look_in": origin.staff_may_look_in(settings),
            "scores_shown": shown,
            "checkpoints": rows,
            "uncalibrated": uncalibrated,
            "run_condition": checkpoints.run_condition(rows),
            "show_conditions": any(c.condition for c in rows),
            "notes": checkpoints.notes(session, run.id),
            "note_max": checkpoints.NOTE_MAX,
            "clock": reading,
            "working_s": reading.working_s,
            "paused_by": list(reading.paused_by),
            "lost_from": workspace_loss.last_snapshot(session, run.id) if run.lost_at else None,
            "restarting": run.lost_at is not None and request.app.state.workspaces.busy(run.id),
            "extensions": limits.extensions(session, run.id),
            "overrides": overrides.for_run(session, run.id),
            "periods_text": work_periods.text(session, run, now, user.timezone) if staff else "",
            "errors": errors or {},
            "values": values or {},
            "model_use": model_use(request, session, run, task, rows),
            "chart": (
                score_chart.chart(charted, normalised=True, direction=direction)
                or score_chart.chart(charted, normalised=False, direction=direction)
            )
            if shown
            else None,
        },
        status_code=status_code,
    )


def model_use(request: Request, session: Session, run: Run, task, rows) -> dict | None:
    """The development model's line on the page and each checkpoint's tokens, for a run whose
    environment lends one (None otherwise)."""
    lent = task.meta.model if task is not None else None
    if lent is None:
        return None
    used = model_usage.used(session, run.id)
    return {
        "model": request.app.state.model_gateway.configured_model() or "the environment's stand-in",
        "used": used,
        "budget": lent.development_budget_tokens,
        "by_seq": model_usage.per_checkpoint(
            session, run.id, [(r.seq, r.submitted_at) for r in rows]
        ),
    }


def back_link(request: Request, staff: bool) -> tuple[str, str]:
    """Where "Back" goes: a same-site ``next`` the link came with, else the viewer's list of
    runs (the coordinator's live workspaces, the expert's dashboard)."""
    default = ("/coordinator/runs", "Workspaces") if staff else ("/dashboard", "Dashboard")
    target = safe_next(request.query_params.get("next"), "")
    return (target, "Back") if target else default


@router.get("/runs/{run_id}/stop")
def confirm_stop(request: Request, run_id: RowId, user: CurrentUser, session: SessionDep):
    """The step before Stop: it says that the run ends for good and what the assignment has
    left, and works without JavaScript (a page with its own form)."""
    run = visible_to(session, run_id, user)
    if run.status not in OPEN:
        flash(request, f"This run is {run.status}; there is nothing to stop.")
        return RedirectResponse(f"/runs/{run.id}", status_code=303)
    assignment = assignments.get(session, run.assignment_id) if run.assignment_id else None
    state = assignments.attempts(session, assignment) if assignment else None
    return render(
        request,
        "runs/stop.html",
        {
            "run": run,
            "own": user.id == run.expert_id,
            "expert": session.get(User, run.expert_id),
            "state": state,
            "pending": checkpoints.pending(session, run.id),
        },
    )


@router.post("/runs/{run_id}/stop")
def stop(
    request: Request,
    run_id: RowId,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    confirm: Annotated[str, Form(max_length=8)] = "",
):
    run = visible_to(session, run_id, user)
    if confirm != "yes":
        # Only the confirmation page's form says yes: a Stop from anywhere else asks first.
        return RedirectResponse(f"/runs/{run.id}/stop", status_code=303)
    jobs = request.app.state.workspaces
    if not run_lifecycle.stop(session, settings, jobs, run, actor=user, now=now):
        flash(request, "The workspace stops once its queued checkpoints are scored.")
        return RedirectResponse(f"/runs/{run.id}", status_code=303)
    flash(request, "Stopping the workspace; its files are archived.")
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


@router.post("/runs/{run_id}/restart")
def restart(request: Request, run_id: RowId, user: CurrentUser, session: SessionDep):
    """Relaunch a hung IDE; the files and the clock are untouched."""
    run = visible_to(session, run_id, user)
    run_lifecycle.check_restart(run)
    request.app.state.workspaces.restart(run.id)
    flash(request, "Restarting the IDE; reload its tab in a few seconds. Your files are kept.")
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


@router.post("/runs/{run_id}/relaunch")
def relaunch(
    request: Request, run_id: RowId, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    """A lost workspace again, from the last checkpoint's snapshot; the clock resumes with it."""
    run = visible_to(session, run_id, user)
    checkpointing.restart_lost(session, settings, request.app.state.workspaces, run)
    flash(request, "Restarting your workspace; this page shows when it is ready.")
    return RedirectResponse(f"/runs/{run.id}", status_code=303)
