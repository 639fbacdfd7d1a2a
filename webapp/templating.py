"""Rendering pages: one Jinja2 environment with what every page needs (user, CSRF, messages)."""

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from sqlalchemy import inspect
from sqlmodel import Session

from baselines.runs import RunStatus, live_for_expert
from baselines.users import Role, User
from payments.money import format_cents
from timetracking import clock, pause_reasons, zones
from timetracking.utc import utcnow
from webapp.auth.csrf import token_for
from webapp.auth.sessions import HOME_BY_ROLE, pop_flashes

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = TEMPLATES_DIR / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["money"] = lambda cents, currency: format_cents(cents, currency)


@pass_context
def when(context, at) -> str:
    """An instant in the viewer's own time zone (UTC for visitors)."""
    user = context.get("user")
    return zones.local(at, getattr(user, "timezone", None))


templates.env.filters["when"] = when


def hms(seconds: float | None) -> str:
    """Working time as H:MM:SS (the clock's own unit)."""
    total = round(seconds or 0)
    return f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"


templates.env.filters["hms"] = hms
# What a pause reason means comes from its one table (timetracking.pause_reasons).
templates.env.filters["pause_labels"] = lambda reasons: ", ".join(pause_reasons.labels(reasons))
templates.env.tests["lifted_by_expert"] = lambda r: pause_reasons.meaning(r).expert_lifts


def live_clock(request: Request, user: User | None) -> dict[str, Any] | None:
    """An expert's running workspace and its clock, for the header on every page."""
    if user is None or user.role != Role.expert:
        return None
    with Session(request.app.state.engine) as session:
        run = next(
            (r for r in live_for_expert(session, user.id) if r.status == RunStatus.active),
            None,
        )
        if run is None or run.started_at is None:
            return None
        now = getattr(request.app.state, "clock", utcnow)()
        return {"run": run, "clock": clock.read(session, run, now)}


def signed_in(request: Request) -> User | None:
    """The request's user, loaded again when its session has closed with the user expired (a
    route that committed, then refused: its error page is rendered after the session ended,
    and reading the stale user raised DetachedInstanceError, a 500 in place of the refusal)."""
    user = getattr(request.state, "user", None)
    if user is None:
        return None
    state = inspect(user)
    if not state.expired_attributes or state.session is not None:
        return user
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        fresh = session.get(User, state.identity[0])
    request.state.user = fresh
    return fresh


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    user = signed_in(request)
    base = {
        "user": user,
        "home": HOME_BY_ROLE.get(user.role) if user else None,
        "csrf_token": token_for(request),
        "flashes": pop_flashes(request),
        "live_clock": live_clock(request, user),
    }
    return templates.TemplateResponse(
        request, name, {**base, **(context or {})}, status_code=status_code
    )
