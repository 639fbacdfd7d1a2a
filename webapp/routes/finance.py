"""Finance pages: who is paid what per hour (a page of experts at a time), and setting a new
rate from a date on."""

from datetime import date

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session, select

from baselines.errors import DomainError
from baselines.users import Role, User
from environments.catalogue import discover
from payments import rates
from payments.money import CURRENCIES, check_currency
from timetracking import pay_periods
from webapp import lists, paging
from webapp.auth.sessions import flash
from webapp.deps import FinanceUser, NowDep, SessionDep, SettingsDep
from webapp.forms import Problems, field_error, text_fields
from webapp.routes import pages_router
from webapp.settings import Settings
from webapp.templating import render

router = pages_router(prefix="/finance")
FIELDS = ("expert", "rate", "currency", "effective_from", "environment")


def _page(request: Request, session: Session, settings: Settings, status_code=200, **extra):
    page = paging.page_of(request, session, lists.experts())
    choices = select(User).where(User.role == Role.expert).order_by(User.name, User.id)
    context = {
        "page": page,
        "rows": page.items,
        "choices": session.exec(choices).all(),
        "rates": rates.current_rates(session),
        "currencies": CURRENCIES,
        "environments": sorted(
            f"{f.name}/{t.name}" for f, t in discover(settings.environment_dirs).tasks()
        ),
        "errors": {},
        "values": {},
        **extra,
    }
    return render(request, "finance/rates.html", context, status_code=status_code)


@router.get("")
def experts_and_rates(
    request: Request, user: FinanceUser, session: SessionDep, settings: SettingsDep
):
    return _page(request, session, settings)


@router.post("/rates")
async def set_rate(
    request: Request, user: FinanceUser, session: SessionDep, settings: SettingsDep, now: NowDep
):
    """A new hourly rate from a day on (midnight in the pay time zone); work already approved
    keeps the rates known when it was approved."""
    form = text_fields(await request.form(), *FIELDS)
    problems = Problems()  # every field's message at once
    try:
        expert = session.get(User, int(form["expert"])) if form["expert"].isdigit() else None
        if expert is None or expert.role != Role.expert:
            problems.add("expert", "Choose an expert.")
        cents = problems.check(rates.parse_rate, form["rate"])
        problems.check(check_currency, form["currency"])
        try:
            day = date.fromisoformat(form["effective_from"]) if form["effective_from"] else None
        except ValueError:
            problems.add("effective_from", "Enter a date like 2026-12-01.")
        problems.raise_any()
        start = pay_periods.midnight(day, settings.pay_timezone) if day else now
        rates.set_rate(session, expert, cents, form["currency"], user, now,
                       effective_from=start, environment=form["environment"])  # fmt: skip
    except DomainError as exc:
        session.rollback()
        if exc.field is None:
            raise
        return _page(request, session, settings, 400, errors=field_error(exc), values=form)
    session.commit()
    flash(request, f"New rate for {expert.name} saved.")
    return RedirectResponse("/finance", status_code=303)
