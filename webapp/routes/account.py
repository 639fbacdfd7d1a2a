"""Every user's own account: change the password and the time zone, make and revoke API tokens."""

from fastapi import Request
from fastapi.responses import RedirectResponse

from baselines import audit, tokens
from baselines.errors import DomainError
from baselines.passwords import password_problem, verify_password
from baselines.users import Role, set_password
from payments import payout_accounts
from timetracking import zones
from webapp.auth.sessions import flash, sign_in
from webapp.deps import CurrentUser, NowDep, RowId, SessionDep
from webapp.forms import text_fields
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router(prefix="/account")


def _page(request: Request, user, session, status_code: int = 200, **extra):
    context = {
        "tokens": tokens.list_for(session, user.id),
        "errors": {},
        "new_token": None,
        "zones": zones.names(),
        "chosen_zone": user.timezone,
        "stripe": request.app.state.settings.stripe_enabled,
        "payout_account": payout_accounts.for_expert(session, user.id)
        if user.role == Role.expert
        else None,
    }
    context.update(extra)
    return render(request, "account.html", context, status_code=status_code)


@router.get("")
def account(request: Request, user: CurrentUser, session: SessionDep):
    return _page(request, user, session)


@router.post("/password")
async def change_password(request: Request, user: CurrentUser, session: SessionDep, now: NowDep):
    form = text_fields(await request.form(), "current", "password", "password2")
    errors: dict[str, str] = {}  # every field's message at once
    if not verify_password(form["current"], user.password_hash):
        errors["current"] = "That is not your current password."
    if problem := password_problem(form["password"]):
        errors["password"] = problem
    if form["password"] != form["password2"]:
        errors["password2"] = "The two passwords differ."
    if not errors:
        try:
            set_password(user, form["password"])
        except DomainError as exc:
            errors["password"] = exc.message
    if errors:
        session.rollback()
        return _page(request, user, session, 400, errors=errors)
    session.add(user)
    audit.record(session, actor_id=user.id, action="user.password_change", obj=user, now=now)
    session.commit()
    sign_in(request, user)  # this session stays valid; every other one ends
    flash(request, "Password changed. Other sessions are signed out.")
    return RedirectResponse("/account", status_code=303)


@router.post("/timezone")
async def set_timezone(request: Request, user: CurrentUser, session: SessionDep, now: NowDep):
    """Times are shown in this zone; what is stored stays UTC."""
    form = text_fields(await request.form(), "timezone")
    if problem := zones.problem(form["timezone"]):
        return _page(
            request, user, session, 400, errors={"timezone": problem}, chosen_zone=form["timezone"]
        )
    before = user.timezone
    user.timezone = form["timezone"]
    session.add(user)
    audit.record(
        session,
        actor_id=user.id,
        action="user.timezone",
        obj=user,
        now=now,
        before={"timezone": before},
        after={"timezone": user.timezone},
    )
    session.commit()
    flash(request, f"Times are now shown in {user.timezone}.")
    return RedirectResponse("/account", status_code=303)


@router.post("/tokens")
async def create_token(request: Request, user: CurrentUser, session: SessionDep, now: NowDep):
    form = text_fields(await request.form(), "name")
    try:
        _, plain = tokens.create(session, user, form["name"], now, actor_id=user.id)
    except DomainError as exc:
        session.rollback()
        return _page(request, user, session, 400, errors={"name": exc.message})
    session.commit()
    return _page(request, user, session, new_token=plain)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: RowId, user: CurrentUser, session: SessionDep, now: NowDep
):
    tokens.revoke(session, user, token_id, now)
    session.commit()
    flash(request, "Token revoked.")
    return RedirectResponse("/account", status_code=303)
