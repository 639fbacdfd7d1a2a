"""Coordinator pages: assign environments to experts (by hand or as a balanced plan), cancel
an assignment or grant a retry, and watch and stop live workspaces."""

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlmodel import select

from baselines import assignments, plans, run_lifecycle
from baselines.assignments import AiTools
from baselines.errors import DomainError
from baselines.runs import LIVE, Run
from baselines.users import User
from environments import task_settings, workspace_files
from environments.catalogue import discover
from fleet.hosts import Host
from timetracking import clock
from webapp import lists, paging
from webapp.assignment_form import (
    TERM_FIELDS,
    approved_experts,
    read_experts,
    read_terms,
    ticked,
)
from webapp.auth.sessions import flash
from webapp.deps import CoordinatorUser, NowDep, RowId, SessionDep, SettingsDep
from webapp.forms import field_error, text_fields
from webapp.ide import origin
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router(prefix="/coordinator")
DEFAULT_VALUES = {"time_limit_hours": "", "ai_tools": AiTools.none.value, "note": ""}


def _task_names(settings) -> list[str]:
    catalogue = discover(settings.environment_dirs)
    return [f"{f.name}/{t.name}" for f in catalogue.families for t in f.tasks]


def _facts(session, settings) -> dict[str, assignments.TaskFacts]:
    """Each task's version and time limit (the manifest's, or the portal's where it names none)."""
    facts = {}
    for family, task in discover(settings.environment_dirs).tasks():
        meta = task_settings.effective(session, family, task)
        facts[f"{family.name}/{task.name}"] = assignments.TaskFacts(
            version=family.version, time_limit_s=meta.time_limit_s
        )
    return facts


def _page(request, session, settings, status_code=200, **extra):
    page = paging.page_of(request, session, lists.assignments())
    rows = page.items
    context = {
        "page": page,
        "rows": rows,
        "attempts": assignments.attempts_for(session, [a for a, _ in rows]),
        "experts": approved_experts(session),
        "tasks": _task_names(settings),
        "policies": list(AiTools),
        "values": dict(DEFAULT_VALUES),
        "chosen": [],
        "errors": {},
    }
    context.update(extra)
    return render(request, "coordinator/assignments.html", context, status_code=status_code)


@router.get("/assignments")
def list_assignments(
    request: Request, user: CoordinatorUser, session: SessionDep, settings: SettingsDep
):
    return _page(request, session, settings)


@router.post("/assignments")
async def assign(
    request: Request,
    user: CoordinatorUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    """One task to each ticked expert, in one transaction: all of them or, on any error, none."""
    form = await request.form()
    values = text_fields(form, "environment", *TERM_FIELDS)
    chosen = ticked(form, "experts")
    experts, errors = read_experts(chosen, approved_experts(session))
    try:
        ref = workspace_files.find(discover(settings.environment_dirs), values["environment"])
    except DomainError as exc:
        errors["environment"] = exc.message
    terms, term_errors = read_terms(values, now)
    errors.update(term_errors)
    if not errors:
        try:
            assignments.assign_all(
                session,
                [(e, ref.name) for e in experts],
                terms,
                actor=user,
                now=now,
                facts=_facts(session, settings),
            )
            session.commit()
        except DomainError as exc:
            session.rollback()
            errors = field_error(exc)
    if errors:
        return _page(request, session, settings, 400, values=values, chosen=chosen, errors=errors)
    flash(request, f"{ref.name} assigned to {assignments.join_names([e.name for e in experts])}.")
    return RedirectResponse("/coordinator/assignments", status_code=303)


@router.post("/assignments/{assignment_id}/cancel")
async def cancel(
    request: Request, assignment_id: RowId, user: CoordinatorUser, session: SessionDep, now: NowDep
):
    assignment = assignments.get(session, assignment_id)
    reason = text_fields(await request.form(), "reason")["reason"]
    assignments.cancel(session, assignment, user, reason, now)
    session.commit()
    flash(request, f"Assignment {assignment.id} ({assignment.environment}) cancelled.")
    return RedirectResponse("/coordinator/assignments", status_code=303)


@router.post("/assignments/{assignment_id}/retry")
def grant_retry(
    request: Request, assignment_id: RowId, user: CoordinatorUser, session: SessionDep, now: NowDep
):
    assignment = assignments.get(session, assignment_id)
    assignments.grant_retry(session, assignment, user, now)
    session.commit()
    flash(
        request,
        f"Assignment {assignment.id} ({assignment.environment}) may be started once more.",
    )
    return RedirectResponse("/coordinator/assignments", status_code=303)


# --- the balanced plan -------------------------------------------------------------------------


def _plan_page(request, session, settings, status_code=200, **extra):
    experts = approved_experts(session)
    context = {
        "tasks": _task_names(settings),
        "experts": experts,
        "policies": list(AiTools),
        "values": {**DEFAULT_VALUES, "runs_per_task": "1"},
        "chosen_tasks": [],
        "chosen_experts": [str(e.id) for e in experts],
        "errors": {},
        "plan": None,
    }
    context.update(extra)
    return render(request, "coordinator/plan.html", context, status_code=status_code)


@router.get("/assignments/plan")
def plan_form(request: Request, user: CoordinatorUser, session: SessionDep, settings: SettingsDep):
    return _plan_page(request, session, settings)


@router.post("/assignments/plan")
async def plan(
    request: Request,
    user: CoordinatorUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    """Preview the plan, or make it: both compute it here from the inputs sent (a plan sent
    back from the page is never trusted), the second in one transaction."""
    form = await request.form()
    values = text_fields(form, "runs_per_task", "action", *TERM_FIELDS)
    chosen_tasks, chosen_experts = ticked(form, "tasks"), ticked(form, "experts")
    echo = {"values": values, "chosen_tasks": chosen_tasks, "chosen_experts": chosen_experts}
    experts, errors = read_experts(chosen_experts, approved_experts(session))
    known = set(_task_names(settings))
    if not chosen_tasks:
        errors["tasks"] = "Tick at least one task."
    elif any(t not in known for t in chosen_tasks):
        errors["tasks"] = "Choose among the tasks listed."
    text = values["runs_per_task"].strip()
    runs_per_task = int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else 0
    if runs_per_task < 1:
        errors["runs_per_task"] = "Enter a whole number of runs, 1 or more."
    terms, term_errors = read_terms(values, now)
    errors.update(term_errors)
    planned: list[tuple[str, int]] = []
    if not errors:
        existing, load = assignments.plan_inputs(session, [e.id for e in experts])
        try:
            planned = plans.balanced_plan(
                chosen_tasks, runs_per_task, [e.id for e in experts], existing, load
            )
        except DomainError as exc:
            errors = field_error(exc)
    if errors:
        return _plan_page(request, session, settings, 400, errors=errors, **echo)
    by_id = {e.id: e for e in experts}
    if values["action"] != "create":
        totals = plans.loads(planned, load)
        counts = [
            (e, load.get(e.id, 0), totals.get(e.id, 0) - load.get(e.id, 0), totals.get(e.id, 0))
            for e in experts
        ]
        pairs = [(task, by_id[e]) for task, e in planned]
        return _plan_page(request, session, settings, plan=pairs, counts=counts, **echo)
    try:
        assignments.assign_all(
            session,
            [(by_id[e], task) for task, e in planned],
            terms,
            actor=user,
            now=now,
            facts=_facts(session, settings),
        )
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _plan_page(request, session, settings, 400, errors=field_error(exc), **echo)
    made = len(planned)
    flash(request, f"{made} assignment{'' if made == 1 else 's'} made from the plan.")
    return RedirectResponse("/coordinator/assignments", status_code=303)


@router.get("/runs")
def live_runs(
    request: Request,
    user: CoordinatorUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    """Live workspaces (oldest first) and ended runs (latest first), each a page at a time."""
    live_page = paging.page_of(request, session, lists.runs(LIVE), prefix="live_")
    ended_page = paging.page_of(request, session, lists.runs(lists.ENDED))
    runs, recent = live_page.items, ended_page.items
    expert_ids = {r.expert_id for r in runs + recent}
    experts = {u.id: u for u in session.exec(select(User).where(User.id.in_(expert_ids)))}
    hosts = {h.id: h for h in session.exec(select(Host))}
    clocks = {run.id: clock.read(session, run, now) for run in runs}
    return render(
        request,
        "coordinator/runs.html",
        {
            "live_page": live_page,
            "ended_page": ended_page,
            "runs": runs,
            "clocks": clocks,
            "recent": recent,
            "cleanups": session.exec(
                select(Run).where(Run.cleanup_pending.is_(True)).order_by(Run.id)
            ).all(),
            "experts": experts,
            "hosts": hosts,
            "ide_url": settings.ide_url,
            "look_in": origin.staff_may_look_in(settings),
        },
    )


@router.post("/runs/{run_id}/stop")
def stop_run(
    request: Request,
    run_id: RowId,
    user: CoordinatorUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    run = session.get(Run, run_id)
    if run is None:
        raise HTTPException(status_code=404, detail="No such run.")
    jobs = request.app.state.workspaces
    if run_lifecycle.stop(session, settings, jobs, run, actor=user, now=now):
        flash(request, f"Stopping run {run.id}.")
    else:
        flash(request, f"Run {run.id} stops once its queued checkpoints are scored.")
    return RedirectResponse("/coordinator/runs", status_code=303)
