"""Applying as an expert: the sign-up form, which creates the account and its application."""

from fastapi import Request
from fastapi.responses import RedirectResponse

from baselines import applications
from baselines.applications import ApplicationCreate
from baselines.errors import DomainError
from baselines.users import User, account_problems
from webapp.auth.sessions import HOME_BY_ROLE, flash, sign_in
from webapp.deps import NowDep, OptionalUser, SessionDep
from webapp.forms import checkbox, field_error, parse, text_fields
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router()

TEXT_FIELDS = ("name", "email", "password", "background", "links", "availability")


@router.get("/apply")
def apply_form(request: Request, user: OptionalUser):
    if user is not None:
        return RedirectResponse(HOME_BY_ROLE[user.role], status_code=303)
    return render(request, "apply.html", {"values": {}, "errors": {}})


@router.post("/apply")
async def apply(request: Request, user: OptionalUser, session: SessionDep, now: NowDep):
    if user is not None:  # signed-in people already have an account; never replace the session
        return RedirectResponse(HOME_BY_ROLE[user.role], status_code=303)
    form = await request.form()
    values: dict[str, object] = dict(text_fields(form, *TEXT_FIELDS))
    values["consent_time_tracking"] = checkbox(form, "consent_time_tracking")
    values["consent_snapshots"] = checkbox(form, "consent_snapshots")
    data, errors = parse(ApplicationCreate, values)
    if data is None:  # the account's own checks too, on the fields that passed, all at once
        email = "" if "email" in errors else str(values["email"])
        password = None if "password" in errors else str(values["password"])
        errors = {**account_problems(session, email, password), **errors}
    else:
        try:
            application = applications.submit(session, data, now)
            session.commit()
        except DomainError as exc:
            session.rollback()
            errors = field_error(exc)
    if errors:
        values.pop("password")
        return render(request, "apply.html", {"values": values, "errors": errors}, status_code=400)
    sign_in(request, session.get(User, application.user_id))
    flash(request, "Thank you. Your application is in; a coordinator will review it.")
    return RedirectResponse("/dashboard", status_code=303)
