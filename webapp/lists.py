"""Which rows each long list holds and in which order: one answer for its page and its JSON
endpoint, so both show the same rows in the same places."""

from sqlalchemy import func
from sqlmodel import select

from baselines.applications import Application, ApplicationStatus
from baselines.assignments import Assignment
from baselines.audit import AuditLog
from baselines.runs import LIVE, Run, RunStatus
from baselines.users import Role, User
from payments.batches import PayoutBatch
from timetracking.timesheets import Timesheet, TimesheetStatus
from webapp.paging import Listing

ENDED = (RunStatus.finished, RunStatus.failed)


def applications(status: ApplicationStatus | None) -> Listing:
    """Applications with their applicants, newest first; every status for None."""
    query = select(Application, User).join(User, User.id == Application.user_id)
    if status is not None:
        query = query.where(Application.status == status)
    return Listing(query, (Application.submitted_at.desc(),), Application.id.desc())


def experts() -> Listing:
    """Every expert account with its application (if any), by name."""
    query = (
        select(User, Application)
        .join(Application, Application.user_id == User.id, isouter=True)
        .where(User.role == Role.expert)
    )
    return Listing(query, (User.name,), User.id)


def accounts() -> Listing:
    """Every account, staff and experts, by role and name."""
    return Listing(select(User), (User.role, User.name), User.id)


def assignments() -> Listing:
    """Assignments with their experts, the latest first."""
    query = select(Assignment, User).join(User, User.id == Assignment.expert_id)
    return Listing(query, (), Assignment.id.desc())


def runs(statuses: tuple[RunStatus, ...] | None) -> Listing:
    """Runs in these states: live ones oldest first (the order they were started in), any other
    choice the latest first."""
    query = select(Run)
    if statuses is not None:
        query = query.where(Run.status.in_(statuses))
    return Listing(query, (), Run.id if statuses == LIVE else Run.id.desc())


def timesheets(status: TimesheetStatus | None) -> Listing:
    """Timesheets with their experts, the most recent periods first, then by expert."""
    query = select(Timesheet, User).join(User, User.id == Timesheet.expert_id)
    if status is not None:
        query = query.where(Timesheet.status == status)
    return Listing(query, (Timesheet.period_start.desc(), User.name), Timesheet.id)


def expert_timesheets(expert_id: int) -> Listing:
    """One expert's timesheets, the latest period first."""
    query = select(Timesheet).where(Timesheet.expert_id == expert_id)
    return Listing(query, (Timesheet.period_start.desc(),), Timesheet.id.desc())


def payout_batches() -> Listing:
    return Listing(select(PayoutBatch), (), PayoutBatch.id.desc())


def audit(action: str, actor: str, object_type: str = "", object_id: str = "") -> Listing:
    """Audit entries, newest first; ``action`` a prefix, ``actor`` part of the actor's email or
    name ("system": entries no person made), ``object_type`` and ``object_id`` exact."""
    query = select(AuditLog)
    if action:
        query = query.where(AuditLog.action.startswith(action, autoescape=True))
    needle = actor.strip().lower()
    if needle == "system":
        query = query.where(AuditLog.actor_id.is_(None))
    elif needle:
        actor_ids = select(User.id).where(
            User.email.contains(needle, autoescape=True)
            | func.lower(User.name).contains(needle, autoescape=True)
        )
        query = query.where(AuditLog.actor_id.in_(actor_ids))
    if object_type:
        query = query.where(AuditLog.object_type == object_type)
    if object_id:
        query = query.where(AuditLog.object_id == object_id)
    return Listing(query, (AuditLog.at.desc(),), AuditLog.id.desc())
