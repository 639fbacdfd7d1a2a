"""Signing in and out, and setting a password from a one-time link."""

import logging

from fastapi import Request
from fastapi.responses import RedirectResponse

from baselines import password_resets
from baselines.errors import DomainError
from baselines.passwords import password_problem, verify_password
from baselines.users import get_by_email, normalize_email
from webapp.auth import device, throttle
from webapp.auth.sessions import (
    HOME_BY_ROLE,
    end_sessions,
    flash,
    safe_next,
    sign_in,
    sign_out,
)
from webapp.deps import NowDep, OptionalUser, SessionDep, SettingsDep
from webapp.forms import text_fields
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router()
log = logging.getLogger("baseliner.auth")


@router.get("/login")
def login_form(request: Request, user: OptionalUser, next: str | None = None):
    if user is not None:
        return RedirectResponse(safe_next(next, HOME_BY_ROLE[user.role]), status_code=303)
    return render(request, "login.html", {"next": next or "", "values": {}, "errors": {}})


@router.post("/login")
async def login(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep):
    form = text_fields(await request.form(), "email", "password", "next")
    email = normalize_email(form["email"])[:254]  # no address is longer; the column is not
    ip = request.client.host if request.client else "unknown"
    context = {"next": form["next"], "values": {"email": form["email"]}, "errors": {}}
    if not email or not form["password"]:
        context["errors"] = {k: "Required." for k in ("email", "password") if not form[k].strip()}
        return render(request, "login.html", context, status_code=400)
    limits = throttle.Limits(
        settings.login_max_failures, settings.login_window_s, settings.login_max_delay_s
    )
    known = device.trusted(request, settings.session_secret, email)
    block = throttle.blocked(session, email, ip, now, limits, known_device=known)
    if block is not None:
        context["errors"] = {"__all__": blocked_message(block)}
        response = render(request, "login.html", context, status_code=429)
        response.headers["Retry-After"] = str(block.wait_s)
        return response
    user = get_by_email(session, email)
    ok = verify_password(form["password"], user.password_hash if user else None)
    if ok and user is not None and user.disabled:
        ok = False
    throttle.note(session, email, ip, now, succeeded=ok)
    throttle.prune(session, now, settings.login_window_s)
    session.commit()
    if not ok or user is None:
        log.info("failed sign-in for %s from %s", email, ip)
        context["errors"] = {"__all__": "Wrong email or password, or the account is disabled."}
        return render(request, "login.html", context, status_code=400)
    sign_in(request, user)
    response = RedirectResponse(safe_next(form["next"], HOME_BY_ROLE[user.role]), status_code=303)
    device.remember(response, settings.session_secret, email, settings.secure_cookies)
    return response


def _wait_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"about {round(seconds / 60)} minutes"


def blocked_message(block: throttle.Block) -> str:
    """What happened and when to try again, the same whether or not the account exists."""
    wait = _wait_text(block.wait_s)
    if block.reason == throttle.Reason.address:
        return (
            "Too many failed sign-ins from your network, so sign-in from here is paused. "
            f"Try again in {wait}. If you forgot your password, ask your coordinator for a "
            "reset link."
        )
    return (
        "Too many failed sign-ins for this email address from several places, so each try "
        f"must wait a little. Try again in {wait}."
    )


@router.post("/logout")
def logout(request: Request, user: OptionalUser, session: SessionDep):
    """Ends every session of the account, so a copy of this cookie is worthless from now on."""
    if user is not None:
        end_sessions(session, user)
        session.commit()
    sign_out(request)
    flash(request, "You are signed out.")
    return RedirectResponse("/", status_code=303)


@router.get("/reset/{token}")
def reset_form(request: Request, token: str, session: SessionDep, now: NowDep):
    _, user = password_resets.find_valid(session, token, now)
    return render(request, "reset.html", {"account": user, "errors": {}})


@router.post("/reset/{token}")
async def reset(request: Request, token: str, session: SessionDep, now: NowDep):
    form = text_fields(await request.form(), "password", "password2")
    _, user = password_resets.find_valid(session, token, now)
    errors: dict[str, str] = {}  # every field's message at once
    if problem := password_problem(form["password"]):
        errors["password"] = problem
    if form["password"] != form["password2"]:
        errors["password2"] = "The two passwords differ."
    if not errors:
        try:
            password_resets.redeem(session, token, form["password"], now)
        except DomainError as exc:
            errors[exc.field or "password"] = exc.message
    if errors:
        session.rollback()
        return render(request, "reset.html", {"account": user, "errors": errors}, status_code=400)
    session.commit()
    sign_out(request)
    flash(request, "Your password is set. Sign in with it now.")
    return RedirectResponse("/login", status_code=303)
