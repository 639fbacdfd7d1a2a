"""Admin pages: accounts (create staff, change roles, disable, reset links) and the audit log."""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from sqlmodel import select

from baselines import staff
from baselines.errors import DomainError
from baselines.staff import StaffCreate
from baselines.users import STAFF_ROLES, Role, User, account_problems
from webapp import audit_view, lists, paging
from webapp.auth.sessions import flash
from webapp.deps import AdminUser, NowDep, RowId, SessionDep, SettingsDep
from webapp.forms import clean, field_error, parse, text_fields
from webapp.reset_links import issue_and_show
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router(prefix="/admin")


@router.get("")
def home(user: AdminUser):
    return RedirectResponse("/admin/users", status_code=303)


def _users_page(request, session, status_code=200, **extra):
    page = paging.page_of(request, session, lists.accounts())
    context = {
        "page": page,
        "users": page.items,
        "roles": list(Role),
        "staff_roles": STAFF_ROLES,
        "values": {},
        "errors": {},
    }
    context.update(extra)
    return render(request, "admin/users.html", context, status_code=status_code)


@router.get("/users")
def users(request: Request, user: AdminUser, session: SessionDep):
    return _users_page(request, session)


@router.post("/users")
async def create(
    request: Request, user: AdminUser, session: SessionDep, settings: SettingsDep, now: NowDep
):
    values = text_fields(await request.form(), "email", "name", "role")
    data, errors = parse(StaffCreate, values)
    if data is None and "email" not in errors:  # a taken email is said at once too
        errors = {**account_problems(session, values["email"], None), **errors}
    elif data is not None:
        try:
            account = staff.create_staff(session, data, user, now)
        except DomainError as exc:
            session.rollback()
            errors = field_error(exc)
    if errors:
        return _users_page(request, session, 400, values=values, errors=errors)
    return issue_and_show(request, session, settings, account, user, now, "/admin/users")


def _account(session, user_id: int) -> User:
    account = session.get(User, user_id)
    if account is None:
        raise HTTPException(status_code=404, detail="No such account.")
    return account


@router.post("/users/{user_id}/role")
async def change_role(
    request: Request, user_id: RowId, user: AdminUser, session: SessionDep, now: NowDep
):
    account = _account(session, user_id)
    form = text_fields(await request.form(), "role")
    staff.change_role(session, account, staff.parse_role(form["role"]), user, now)
    session.commit()
    flash(request, f"{account.email} is now {account.role}.")
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{user_id}/disable")
def disable(request: Request, user_id: RowId, user: AdminUser, session: SessionDep, now: NowDep):
    account = _account(session, user_id)
    staff.set_disabled(session, account, True, user, now)
    session.commit()
    flash(request, f"{account.email} is disabled and signed out everywhere.")
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{user_id}/enable")
def enable(request: Request, user_id: RowId, user: AdminUser, session: SessionDep, now: NowDep):
    account = _account(session, user_id)
    staff.set_disabled(session, account, False, user, now)
    session.commit()
    flash(request, f"{account.email} is enabled.")
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{user_id}/reset-link")
def reset_link(
    request: Request,
    user_id: RowId,
    user: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    account = _account(session, user_id)
    return issue_and_show(request, session, settings, account, user, now, "/admin/users")


@router.get("/audit")
def audit_log(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    action: str = "",
    actor: str = "",
    object_type: Annotated[str, Query(alias="object")] = "",
    object_id: str = "",
):
    """The log, newest first, a page at a time; filtered by who, what and which object (the
    filters are query parameters, kept by the pager and shareable as a link)."""
    action, actor = clean(action).strip()[:80], clean(actor).strip()[:254]
    object_type, object_id = clean(object_type).strip()[:80], clean(object_id).strip()[:80]
    page = paging.page_of(request, session, lists.audit(action, actor, object_type, object_id))
    actor_ids = {r.actor_id for r in page.items if r.actor_id}
    actors = {u.id: u for u in session.exec(select(User).where(User.id.in_(actor_ids)))}
    entries = [
        {
            "row": r,
            "actor": actors.get(r.actor_id),
            "object_name": audit_view.object_name(r.object_type),
            "object_link": audit_view.object_link(r.object_type, r.object_id),
            "changes": audit_view.changes(r.before, r.after),
        }
        for r in page.items
    ]
    filters = {"actor": actor, "action": action, "object": object_type, "object_id": object_id}

    def narrowed(**more: str) -> str:
        """This page's address with one more filter set (and back to page 1)."""
        chosen = {k: v for k, v in {**filters, **more}.items() if v}
        return "/admin/audit" + (f"?{urlencode(chosen)}" if chosen else "")

    return render(
        request,
        "admin/audit.html",
        {
            "entries": entries,
            "filters": filters,
            "filtered": any(filters.values()),
            "choices": audit_view.choices(session),
            "object_names": audit_view.OBJECTS,
            "narrowed": narrowed,
            "page": page,
        },
    )
