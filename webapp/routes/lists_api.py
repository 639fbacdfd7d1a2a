"""The staff's long lists as JSON for scripts: applications, experts, assignments, runs,
timesheets, payout batches and the audit log, the same rows in the same order as their pages,
a page at a time (``webapp.paging``). Follow ``next`` until it is null to read a whole list."""

from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel
from sqlmodel import Session, select

from baselines.applications import ApplicationStatus
from baselines.assignments import AiTools, AssignmentStatus
from baselines.runs import LIVE, RunStatus
from baselines.users import Role, User
from payments import rates
from payments.batches import BatchStatus, Method, PayoutLine
from timetracking import timesheets as sheets
from timetracking.timesheets import TimesheetStatus
from webapp import lists, paging, timesheet_view
from webapp.deps import NowDep, SessionDep, TokenUser
from webapp.forms import clean
from webapp.paging import Paged, PageQuery, PerPageQuery

api = APIRouter(prefix="/api/v1", tags=["lists"])
Item = TypeVar("Item", bound=BaseModel)


def token_of(*roles: Role) -> Callable[[User], User]:
    """A bearer token of one of these roles (403 for the others)."""

    def check(user: TokenUser) -> User:
        if user.role not in roles:
            raise HTTPException(status_code=403, detail="Your role cannot open this page.")
        return user

    return check


CoordinatorToken = Depends(token_of(Role.coordinator, Role.admin))
ExpertsToken = Depends(token_of(Role.coordinator, Role.finance, Role.admin))
ReviewerToken = Depends(token_of(*sheets.REVIEWERS))
FinanceToken = Depends(token_of(Role.finance, Role.admin))
AdminToken = Depends(token_of(Role.admin))


def _shaped(model: type[Item], row: Any, **extra: Any) -> Item:
    """``row`` (a table row) as ``model``: the fields they share, plus ``extra``."""
    shared = {name: getattr(row, name) for name in model.model_fields if name not in extra}
    return model(**shared, **extra)


def _answer(session: Session, page: paging.Page, items: list[Any]) -> dict[str, Any]:
    session.commit()  # the token's last use, now that the answer is given
    return paging.paged(page, items)


# --- applications and experts ---------------------------------------------------------------


class ApplicationItem(BaseModel):
    id: int
    user_id: int
    name: str
    email: str
    status: ApplicationStatus
    submitted_at: datetime
    reviewed_at: datetime | None
    reviewed_by_id: int | None


ApplicationFilter = StrEnum("ApplicationFilter", [*(s.value for s in ApplicationStatus), "all"])


@api.get("/applications", response_model=Paged[ApplicationItem], dependencies=[CoordinatorToken])
def applications(
    request: Request,
    session: SessionDep,
    status: Annotated[ApplicationFilter, Query(description="One status, or all.")] = "all",
    page: PageQuery = 1,
    per_page: PerPageQuery = paging.PER_PAGE,
):
    """Applications with their applicants, newest first (ties: the latest id first)."""
    chosen = None if status == "all" else ApplicationStatus(status)
    found = paging.api_page(request, session, lists.applications(chosen), page, per_page)
    items = [
        ApplicationItem(
            id=a.id,
            user_id=u.id,
            name=u.name,
            email=u.email,
            status=a.status,
            submitted_at=a.submitted_at,
            reviewed_at=a.reviewed_at,
            reviewed_by_id=a.reviewed_by_id,
        )
        for a, u in found.items
    ]
    return _answer(session, found, items)


class ExpertItem(BaseModel):
    id: int
    name: str
    email: str
    disabled: bool
    application_id: int | None
    application_status: ApplicationStatus | None
    hourly_cents: int | None  # the current general rate, if one is set
    currency: str | None


@api.get("/experts", response_model=Paged[ExpertItem], dependencies=[ExpertsToken])
def experts(
    request: Request,
    session: SessionDep,
    page: PageQuery = 1,
    per_page: PerPageQuery = paging.PER_PAGE,
):
    """Expert accounts with their applications and current rates, by name (ties: by id)."""
    found = paging.api_page(request, session, lists.experts(), page, per_page)
    current = rates.current_rates(session)
    items = []
    for user, application in found.items:
        rate = current.get(user.id)
        items.append(
            ExpertItem(
                id=user.id,
                name=user.name,
                email=user.email,
                disabled=user.disabled,
                application_id=application.id if application else None,
                application_status=application.status if application else None,
                hourly_cents=rate.hourly_cents if rate else None,
                currency=rate.currency if rate else None,
            )
        )
    return _answer(session, found, items)


# --- assignments and runs -------------------------------------------------------------------


class AssignmentItem(BaseModel):
    id: int
    expert_id: int
    expert_name: str
    environment: str
    environment_version: str
    status: AssignmentStatus
    time_limit_s: int
    ai_tools: AiTools
    due_at: datetime | None
    retries_granted: int
    created_at: datetime


@api.get("/assignments", response_model=Paged[AssignmentItem], dependencies=[CoordinatorToken])
def assignments(
    request: Request,
    session: SessionDep,
    page: PageQuery = 1,
    per_page: PerPageQuery = paging.PER_PAGE,
):
    """Assignments with their experts, the latest first."""
    found = paging.api_page(request, session, lists.assignments(), page, per_page)
    items = [_shaped(AssignmentItem, a, expert_name=expert.name) for a, expert in found.items]
    return _answer(session, found, items)


class RunItem(BaseModel):
    id: int
    expert_id: int
    assignment_id: int | None
    attempt: int
    environment: str
    environment_version: str
    status: RunStatus
    status_reason: str
    host_id: int | None
    gpu_indices: list[int]
    cpu_mode: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    final_score: float | None
    final_score_normalized: float | None


RunFilter = StrEnum("RunFilter", ["live", "ended", *(s.value for s in RunStatus), "all"])
RUN_FILTERS: dict[str, tuple[RunStatus, ...] | None] = {"live": LIVE, "ended": lists.ENDED}


@api.get("/runs", response_model=Paged[RunItem], dependencies=[CoordinatorToken])
def runs(
    request: Request,
    session: SessionDep,
    status: Annotated[
        RunFilter, Query(description="live, ended (finished or failed), one status, or all.")
    ] = "all",
    page: PageQuery = 1,
    per_page: PerPageQuery = paging.PER_PAGE,
):
    """Runs, the latest first; live ones (``status=live``) oldest first, as on the page."""
    text = str(status)
    if text in RUN_FILTERS:
        statuses = RUN_FILTERS[text]
    else:
        statuses = None if text == "all" else (RunStatus(text),)
    found = paging.api_page(request, session, lists.runs(statuses), page, per_page)
    items = [_shaped(RunItem, r) for r in found.items]
    return _answer(session, found, items)


# --- timesheets and payouts -----------------------------------------------------------------


class TimesheetItem(BaseModel):
    id: int
    expert_id: int
    expert_name: str
    period_start: date
    period_end: date  # exclusive
    status: TimesheetStatus
    working_s: int  # frozen once submitted, else as of now
    idle_s: int
    submitted_at: datetime | None
    decided_at: datetime | None


TimesheetFilter = StrEnum("TimesheetFilter", [*(s.value for s in TimesheetStatus), "all"])


@api.get("/timesheets", response_model=Paged[TimesheetItem], dependencies=[ReviewerToken])
def timesheets(
    request: Request,
    session: SessionDep,
    now: NowDep,
    status: Annotated[TimesheetFilter, Query(description="One status, or all.")] = "submitted",
    page: PageQuery = 1,
    per_page: PerPageQuery = paging.PER_PAGE,
):
    """Timesheets to review (submitted ones unless ``status`` says otherwise), the most recent
    periods first, then by expert's name (ties: by id)."""
    chosen = None if status == "all" else TimesheetStatus(status)
    found = paging.api_page(request, session, lists.timesheets(chosen), page, per_page)
    items = []
    for sheet, expert in found.items:
        totals = timesheet_view.sheet_totals(session, sheet, now)
        items.append(
            TimesheetItem(
                id=sheet.id,
                expert_id=expert.id,
                expert_name=expert.name,
                period_start=sheet.period_start,
                period_end=sheet.period_end,
                status=sheet.status,
                working_s=totals.working_s,
                idle_s=totals.idle_s,
                submitted_at=sheet.submitted_at,
                decided_at=sheet.decided_at,
            )
        )
    return _answer(session, found, items)


class PayoutBatchItem(BaseModel):
    id: int
    period_start: date
    period_end: date
    method: Method
    status: BatchStatus
    created_at: datetime
    approved_at: datetime | None
    paid_at: datetime | None
    totals_cents: dict[str, int]  # by currency


@api.get("/payouts", response_model=Paged[PayoutBatchItem], dependencies=[FinanceToken])
def payouts(
    request: Request,
    session: SessionDep,
    page: PageQuery = 1,
    per_page: PerPageQuery = paging.PER_PAGE,
):
    """Payout batches, the latest first, with their totals per currency."""
    found = paging.api_page(request, session, lists.payout_batches(), page, per_page)
    ids = [b.id for b in found.items]
    totals: dict[int, dict[str, int]] = {i: {} for i in ids}
    lines = select(PayoutLine).where(PayoutLine.batch_id.in_(ids))
    for line in session.exec(lines):
        by_currency = totals[line.batch_id]
        by_currency[line.currency] = by_currency.get(line.currency, 0) + line.amount_cents
    items = [_shaped(PayoutBatchItem, b, totals_cents=totals[b.id]) for b in found.items]
    return _answer(session, found, items)


# --- the audit log --------------------------------------------------------------------------


class AuditItem(BaseModel):
    id: int
    at: datetime
    actor_id: int | None
    actor_email: str | None
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@api.get("/audit", response_model=Paged[AuditItem], dependencies=[AdminToken])
def audit(
    request: Request,
    session: SessionDep,
    action: Annotated[str, Query(max_length=80, description="Actions starting with this.")] = "",
    actor: Annotated[
        str, Query(max_length=254, description="Actor emails or names containing this; system.")
    ] = "",
    object_type: Annotated[
        str, Query(alias="object", max_length=80, description="Objects of this kind, e.g. runs.")
    ] = "",
    object_id: Annotated[str, Query(max_length=80, description="The object's id.")] = "",
    page: PageQuery = 1,
    per_page: PerPageQuery = paging.PER_PAGE,
):
    """The audit log, newest first (ties: the latest id first)."""
    listing = lists.audit(clean(action), clean(actor), clean(object_type), clean(object_id))
    found = paging.api_page(request, session, listing, page, per_page)
    actor_ids = {r.actor_id for r in found.items if r.actor_id}
    emails = dict(session.exec(select(User.id, User.email).where(User.id.in_(actor_ids))).all())
    items = [_shaped(AuditItem, r, actor_email=emails.get(r.actor_id)) for r in found.items]
    return _answer(session, found, items)
