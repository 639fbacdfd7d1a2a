"""Coordinator pages: review applications (approve with a rate, or reject), experts; the
environment pages are included from webapp.routes.environments."""

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import func
from sqlmodel import select

from baselines import applications
from baselines.applications import Application, ApplicationStatus
from baselines.errors import DomainError
from baselines.users import Role, User
from payments import rates
from payments.money import CURRENCIES, check_currency
from webapp import lists, paging
from webapp.auth.sessions import flash
from webapp.deps import CoordinatorUser, NowDep, RowId, SessionDep, SettingsDep
from webapp.forms import Problems, field_error, text_fields
from webapp.reset_links import issue_and_show
from webapp.routes import environments, pages_router
from webapp.templating import render

router = pages_router(prefix="/coordinator")


@router.get("")
def home(user: CoordinatorUser):
    return RedirectResponse("/coordinator/applications", status_code=303)


@router.get("/applications")
def list_applications(
    request: Request, user: CoordinatorUser, session: SessionDep, status: str = "pending"
):
    if status not in {s.value for s in ApplicationStatus} | {"all"}:
        status = "pending"
    chosen = None if status == "all" else ApplicationStatus(status)
    page = paging.page_of(request, session, lists.applications(chosen))
    counts = {s.value: 0 for s in ApplicationStatus}
    query = select(Application.status, func.count()).group_by(Application.status)
    counts.update(dict(session.exec(query).all()))
    return render(
        request,
        "coordinator/applications.html",
        {"page": page, "rows": page.items, "status": status, "counts": counts},
    )


def _load(session, application_id: int) -> tuple[Application, User]:
    application = session.get(Application, application_id)
    if application is None:
        raise HTTPException(status_code=404, detail="No such application.")
    return application, session.get(User, application.user_id)


def _detail(request, session, application, applicant, status_code=200, **extra):
    reviewer = session.get(User, application.reviewed_by_id) if application.reviewed_by_id else None
    context = {
        "application": application,
        "applicant": applicant,
        "reviewer": reviewer,
        "rate": rates.current_rate(session, applicant.id),
        "currencies": CURRENCIES,
        "values": {"currency": "USD"},
        "errors": {},
    }
    context.update(extra)
    return render(request, "coordinator/application.html", context, status_code=status_code)


@router.get("/applications/{application_id}")
def show_application(
    request: Request, application_id: RowId, user: CoordinatorUser, session: SessionDep
):
    application, applicant = _load(session, application_id)
    return _detail(request, session, application, applicant)


async def _decide(request, application_id: int, session, fields: tuple[str, ...], decide):
    """Apply one decision (``decide(application, applicant, form)``) and commit; or undo it and
    return the application page with the error next to its field. Returns (page, applicant)."""
    form = text_fields(await request.form(), *fields)
    application, applicant = _load(session, application_id)
    try:
        decide(application, applicant, form)
    except DomainError as exc:
        session.rollback()
        session.refresh(application)
        status = exc.status_code if exc.field is None else 400
        values_key = "values" if "rate" in fields else "reject_values"
        shown = _detail(
            request,
            session,
            application,
            applicant,
            status,
            errors=field_error(exc),
            **{values_key: form},
        )
        return shown, applicant
    session.commit()
    return None, applicant


@router.post("/applications/{application_id}/approve")
async def approve(
    request: Request, application_id: RowId, user: CoordinatorUser, session: SessionDep, now: NowDep
):
    def decide(application, applicant, form) -> None:
        problems = Problems()  # every field's message at once
        cents = problems.check(rates.parse_rate, form["rate"])
        problems.check(check_currency, form["currency"])
        problems.raise_any()
        applications.approve(session, application, user, now)
        rates.set_rate(session, applicant, cents, form["currency"], user, now)

    shown, applicant = await _decide(request, application_id, session, ("rate", "currency"), decide)
    if shown is not None:
        return shown
    flash(request, f"{applicant.name} is approved.")
    return RedirectResponse(f"/coordinator/applications/{application_id}", status_code=303)


@router.post("/applications/{application_id}/reject")
async def reject(
    request: Request, application_id: RowId, user: CoordinatorUser, session: SessionDep, now: NowDep
):
    def decide(application, applicant, form) -> None:
        applications.reject(session, application, user, form["reason"], now)

    shown, applicant = await _decide(request, application_id, session, ("reason",), decide)
    if shown is not None:
        return shown
    flash(request, f"{applicant.name}'s application is rejected.")
    return RedirectResponse(f"/coordinator/applications/{application_id}", status_code=303)


@router.get("/experts")
def experts(request: Request, user: CoordinatorUser, session: SessionDep):
    page = paging.page_of(request, session, lists.experts())
    return render(
        request,
        "coordinator/experts.html",
        {"page": page, "rows": page.items, "rates": rates.current_rates(session)},
    )


@router.post("/experts/{expert_id}/reset-link")
def expert_reset_link(
    request: Request,
    expert_id: RowId,
    user: CoordinatorUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    expert = session.get(User, expert_id)
    if expert is None or expert.role != Role.expert:
        raise HTTPException(status_code=404, detail="No such expert.")
    return issue_and_show(request, session, settings, expert, user, now, "/coordinator/experts")


# The environment pages (/coordinator/environments...) live in their own module.
router.include_router(environments.router)
