"""Reading the coordinator's assignment forms (by hand and the balanced plan): which experts,
which tasks, and the terms they share, with one message per field at fault."""

import math
from datetime import date, datetime

from sqlmodel import Session, select
from starlette.datastructures import FormData

from baselines.applications import Application, ApplicationStatus
from baselines.assignments import AiTools, Terms, end_of_day
from baselines.users import Role, User
from webapp.forms import clean

TERM_FIELDS = ("time_limit_hours", "due_date", "note", "ai_tools")


def approved_experts(session: Session) -> list[User]:
    """Experts who may be assigned work: approved and not disabled, by name."""
    query = (
        select(User)
        .join(Application, Application.user_id == User.id)
        .where(User.role == Role.expert, User.disabled.is_(False))
        .where(Application.status == ApplicationStatus.approved)
        .order_by(User.name, User.id)
    )
    return list(session.exec(query))


def ticked(form: FormData, name: str) -> list[str]:
    """The values of a checkbox list, in order, each once."""
    values = [clean(v) for v in form.getlist(name) if isinstance(v, str)]
    return list(dict.fromkeys(values))


def read_experts(chosen: list[str], approved: list[User]) -> tuple[list[User], dict[str, str]]:
    """The ticked experts, each one of ``approved``."""
    by_id = {str(u.id): u for u in approved}
    if not chosen:
        return [], {"experts": "Tick at least one expert."}
    if any(value not in by_id for value in chosen):
        return [], {"experts": "Choose among the approved experts listed."}
    return [by_id[value] for value in chosen], {}


def read_terms(values: dict[str, str], now: datetime) -> tuple[Terms | None, dict[str, str]]:
    """Time limit (blank: each environment's own), due date (a day, due at its end in UTC), note,
    policy."""
    errors: dict[str, str] = {}
    time_limit_s: int | None = None
    hours_text = values.get("time_limit_hours", "").strip()
    if hours_text:
        try:
            hours = float(hours_text)
            if not math.isfinite(hours):
                raise ValueError
            time_limit_s = round(hours * 3600)
        except ValueError:
            errors["time_limit_hours"] = "Enter the limit in hours, e.g. 8 or 0.5."
    due_at = None
    if values.get("due_date", "").strip():
        try:
            due_at = end_of_day(date.fromisoformat(values["due_date"].strip()))
        except ValueError:
            errors["due_date"] = "Enter a day as YYYY-MM-DD."
    try:
        policy = AiTools(values.get("ai_tools", ""))
    except ValueError:
        errors["ai_tools"] = "Choose a policy."
        policy = AiTools.none
    note = values.get("note", "").strip()
    terms = Terms(time_limit_s=time_limit_s, ai_tools=policy, due_at=due_at, note=note)
    for field, message in terms.problems(now).items():
        errors.setdefault("time_limit_hours" if field == "time_limit" else field, message)
    return (None, errors) if errors else (terms, {})
