"""The expert's pages: the dashboard (application, rate, assignments) and one assignment with its
terms, the coordinator's note and the task's instructions."""

import logging

from fastapi import Request
from sqlmodel import select

from baselines import applications, assignments
from baselines.errors import DomainError
from baselines.runs import Run
from baselines.users import User
from environments import family_calls, workspace_files
from environments.catalogue import discover
from fleet.hosts import Host
from payments.rates import current_rate
from webapp import expert_runs, hardware, markdown
from webapp.deps import CurrentUser, ExpertUser, NowDep, RowId, SessionDep, SettingsDep
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router()
log = logging.getLogger(__name__)


@router.get("/dashboard")
def dashboard(
    request: Request, user: ExpertUser, session: SessionDep, settings: SettingsDep, now: NowDep
):
    rows = assignments.for_expert(session, user.id)
    states = assignments.attempts_for(session, rows)
    runs, older = expert_runs.for_expert(session, settings, user.id, now)
    return render(
        request,
        "expert/dashboard.html",
        {
            "application": applications.for_user(session, user.id),
            "rate": current_rate(session, user.id),
            "assignments": rows,
            "attempts": states,
            "blocked": {a.id: assignments.why_not_start(a, states[a.id]) for a in rows},
            "runs": runs,
            "older_runs": older,
        },
    )


def task_instructions(environment_dirs: str, environment: str) -> tuple[str, str, int]:
    """The task's instructions, or '' and a message saying why they cannot be shown (a page
    must still open when a family is gone or broken); and the GPUs the task asks for."""
    try:
        ref = workspace_files.find(discover(environment_dirs), environment)
    except DomainError:
        return "", f"{environment} is not on this platform any more. Ask your coordinator.", 0
    gpus = ref.task.gpu_count[0] if ref.task.gpu_count else 0
    try:
        return family_calls.instructions(ref.family.path, ref.task.name), "", gpus
    except (family_calls.FamilyCallFailed, OSError, ValueError) as exc:
        log.warning("instructions of %s failed: %s", environment, exc)
        return (
            "",
            (
                f"The instructions of {environment} could not be loaded "
                f"({getattr(exc, 'message', exc)}). Ask your coordinator."
            ),
            gpus,
        )


def machine_notice(session, assignment, state, gpus: int) -> hardware.Hardware | None:
    """What the expert's run has (its live or latest run), else what a new run would get."""
    run = (
        state.live
        or session.exec(
            select(Run).where(Run.assignment_id == assignment.id).order_by(Run.attempt.desc())
        ).first()
    )
    if run is not None and run.started_at is not None and run.host_id is not None:
        return hardware.of_run(run, session.get(Host, run.host_id))
    return hardware.for_task(session, gpus)


@router.get("/assignments/{assignment_id}")
def assignment_page(
    request: Request,
    assignment_id: RowId,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
):
    """The expert's own assignment (coordinators and admins may look at any)."""
    assignment = assignments.visible_to(session, assignment_id, user)
    state = assignments.attempts(session, assignment)
    text, problem, gpus = task_instructions(settings.environment_dirs, assignment.environment)
    by = session.get(User, assignment.assigned_by_id) if assignment.assigned_by_id else None
    return render(
        request,
        "expert/assignment.html",
        {
            "assignment": assignment,
            "expert": session.get(User, assignment.expert_id),
            "assigned_by": by,
            "state": state,
            "blocked": assignments.why_not_start(assignment, state),
            "instructions": markdown.render(text) if text else "",
            "machine": machine_notice(session, assignment, state, gpus),
            "instructions_problem": problem,
        },
    )
