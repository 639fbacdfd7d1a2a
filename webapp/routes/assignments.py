"""Coordinator pages: assign environments to experts, and watch and stop live workspaces."""

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlmodel import select

from baselines import assignments
from baselines.applications import Application, ApplicationStatus
from baselines.assignments import AiTools, Assignment
from baselines.errors import DomainError
from baselines.runs import Run, RunStatus, live
from baselines.users import Role, User
from environments import workspace_files
from environments.catalogue import discover
from fleet.hosts import Host
from webapp.auth.sessions import flash
from webapp.deps import CoordinatorUser, NowDep, RowId, SessionDep, SettingsDep
from webapp.forms import field_error, text_fields
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router(prefix="/coordinator")


def _approved_experts(session) -> list[User]:
    query = (
        select(User)
        .join(Application, Application.user_id == User.id)
        .where(User.role == Role.expert, User.disabled.is_(False))
        .where(Application.status == ApplicationStatus.approved)
        .order_by(User.name)
    )
    return list(session.exec(query))


def _page(request, session, settings, status_code=200, **extra):
    catalogue = discover(settings.environment_dirs)
    rows = session.exec(
        select(Assignment, User)
        .join(User, User.id == Assignment.expert_id)
        .order_by(Assignment.id.desc())
    ).all()
    context = {
        "rows": rows,
        "experts": _approved_experts(session),
        "tasks": [f"{f.name}/{t.name}" for f in catalogue.families for t in f.tasks],
        "policies": list(AiTools),
        "values": {"time_limit_hours": "8", "ai_tools": AiTools.none.value},
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
    values = text_fields(
        await request.form(), "expert", "environment", "time_limit_hours", "ai_tools"
    )
    errors: dict[str, str] = {}
    expert = None
    if values["expert"].isdigit() and int(values["expert"]) < 2**31:
        expert = session.get(User, int(values["expert"]))
    if expert is None or expert not in _approved_experts(session):
        errors["expert"] = "Choose an approved expert."
    try:
        ref = workspace_files.find(discover(settings.environment_dirs), values["environment"])
    except DomainError as exc:
        errors["environment"] = exc.message
    try:
        hours = float(values["time_limit_hours"])
        if hours != hours or hours in (float("inf"), float("-inf")):
            raise ValueError
    except ValueError:
        errors["time_limit_hours"] = "Enter the limit in hours, e.g. 8 or 0.5."
        hours = 0
    try:
        policy = AiTools(values["ai_tools"])
    except ValueError:
        errors["ai_tools"] = "Choose a policy."
    if not errors:
        try:
            assignments.create(
                session,
                expert=expert,
                environment=ref.name,
                time_limit_s=round(hours * 3600),
                ai_tools=policy,
                actor=user,
                now=now,
            )
            session.commit()
        except DomainError as exc:
            session.rollback()
            errors = field_error(exc)
            if "time_limit" in errors:
                errors["time_limit_hours"] = errors.pop("time_limit")
    if errors:
        return _page(request, session, settings, 400, values=values, errors=errors)
    flash(request, f"{ref.name} assigned to {expert.name}.")
    return RedirectResponse("/coordinator/assignments", status_code=303)


@router.get("/runs")
def live_runs(request: Request, user: CoordinatorUser, session: SessionDep, settings: SettingsDep):
    runs = live(session)
    experts = {u.id: u for u in session.exec(select(User).where(User.role == Role.expert))}
    hosts = {h.id: h for h in session.exec(select(Host))}
    recent = session.exec(
        select(Run)
        .where(Run.status.in_((RunStatus.finished, RunStatus.failed)))
        .order_by(Run.id.desc())
        .limit(20)
    ).all()
    return render(
        request,
        "coordinator/runs.html",
        {
            "runs": runs,
            "recent": recent,
            "experts": experts,
            "hosts": hosts,
            "ide_url": settings.ide_url,
        },
    )


@router.post("/runs/{run_id}/stop")
def stop_run(request: Request, run_id: RowId, user: CoordinatorUser, session: SessionDep):
    run = session.get(Run, run_id)
    if run is None:
        raise HTTPException(status_code=404, detail="No such run.")
    reason = f"Stopped by {user.role} {user.name}."
    request.app.state.workspaces.request_stop(session, run, reason)
    flash(request, f"Stopping run {run.id}.")
    return RedirectResponse("/coordinator/runs", status_code=303)
