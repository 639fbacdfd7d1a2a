"""What an analyst asks for, read from a query string. The analyst page's GET form, its images,
its downloads and the analytics API share this one reader, so a shared address means the same
thing everywhere and bad input gets the same message beside the same field."""

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from analytics import conditions
from analytics.dataset import Filters
from analytics.importing import parse_time

SOURCES = ("baseliner", "vivaria", "inspect", "csv")
INCLUDE, EXCLUDE = "include", "exclude"
MAX_HOURS = 10_000.0
MAX_LIMITS = 4  # the best-of-k figure tells limits apart by line style: four of them
MAX_BUDGETS = 12
BUDGET_MULTIPLES = (1, 2, 4, 8)
MAX_TEXT = 200  # task ids and agent names are at most this long in the dataset
MAX_TASK = 2 * MAX_TEXT + 3  # a task with its scoring condition: "<task> [<condition>]"


@dataclass(frozen=True)
class Choices:
    """What may be asked for: tasks with runs or installed here, and every agent with runs."""

    tasks: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnalysisQuery:
    """One analyst question: which runs (the filters) and, for the figures, which limits."""

    task: str = ""
    agents: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    include_overridden: bool = True
    include_cpu_mode: bool = True
    limits_h: tuple[float, ...] = ()
    budgets_h: tuple[float, ...] = ()
    curve_hours: float | None = None
    texts: dict[str, str] = field(default_factory=dict, compare=False)  # since/until as typed

    def filters(self, *, by_task: bool = True) -> Filters:
        # An entry may name a scoring condition too (analytics.conditions): its runs only.
        task, condition = conditions.split(self.task)
        return Filters(
            tasks=(task,) if by_task and self.task else (),
            condition=condition if by_task and self.task else None,
            agents=self.agents,
            sources=self.sources,
            since=self.since,
            until=self.until,
            include_overridden=self.include_overridden,
            include_cpu_mode=self.include_cpu_mode,
        )

    def params(self, *, figures: bool = True, by_task: bool = True) -> list[tuple[str, str]]:
        """The query string's fields, for links that ask the same question."""
        out: list[tuple[str, str]] = []
        if by_task and self.task:
            out.append(("task", self.task))
        out += [("agent", a) for a in self.agents]
        out += [("source", s) for s in self.sources]
        for name in ("since", "until"):
            if self.texts.get(name):
                out.append((name, self.texts[name]))
        if not self.include_overridden:
            out.append(("overridden", EXCLUDE))
        if not self.include_cpu_mode:
            out.append(("cpu_mode", EXCLUDE))
        if figures:
            out.append(("limit", hours_text(self.limits_h)))
            out.append(("budget", hours_text(self.budgets_h)))
            if self.curve_hours is not None:
                out.append(("curve_hours", f"{self.curve_hours:g}"))
        return out

    def query(self, **kwargs: bool) -> str:
        return urlencode(self.params(**kwargs))


@dataclass(frozen=True)
class Asked:
    """The query read, a message per field at fault, and each field's text for the form."""

    query: AnalysisQuery
    errors: dict[str, str]
    values: dict[str, str | list[str]]
    choices: Choices


def hours_text(hours: tuple[float, ...]) -> str:
    return ", ".join(f"{h:g}" for h in hours)


def _hours(text: str, what: str, most: int) -> tuple[tuple[float, ...], str | None]:
    """Hours separated by commas, each above 0 and at most MAX_HOURS; or a message."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    message = f"Give the {what} in hours: a number above 0, or several separated by commas."
    if not parts:
        return (), message
    if len(parts) > most:
        return (), f"Give at most {most} {what}s."
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        return (), message
    if any(not math.isfinite(v) or v <= 0 for v in values):
        return (), message
    if any(v > MAX_HOURS for v in values):
        return (), f"At most {MAX_HOURS:g} hours."
    return tuple(sorted(set(values))), None


def _choice(params: QueryParams, name: str, errors: dict[str, str]) -> bool:
    """An include/exclude select; include when left out."""
    value = params.get(name, "").strip() or INCLUDE
    if value not in (INCLUDE, EXCLUDE):
        errors[name] = "Choose include or exclude."
    return value != EXCLUDE


def _time(params: QueryParams, name: str, errors: dict[str, str]) -> datetime | None:
    text = params.get(name, "").strip()
    try:
        return parse_time(text or None)
    except (ValueError, OverflowError):  # an offset can push a time past year 1 or 9999
        errors[name] = "Give a date as YYYY-MM-DD (or an ISO 8601 time)."
        return None


def _read_filters(params: QueryParams, choices: Choices, errors: dict[str, str]) -> AnalysisQuery:
    task = params.get("task", "").strip()
    if task and (len(task) > MAX_TASK or task not in choices.tasks):
        errors["task"] = "No runs of this task are recorded and it is not installed here."
    agents = tuple(dict.fromkeys(a.strip() for a in params.getlist("agent") if a.strip()))
    unknown = [a for a in agents if a not in choices.agents]
    if unknown:
        names = ", ".join(repr(a[:MAX_TEXT]) for a in unknown[:3])
        errors["agent"] = f"No runs of {names} are recorded; choose among the agents listed."
    sources = tuple(dict.fromkeys(s.strip() for s in params.getlist("source") if s.strip()))
    if any(s not in SOURCES for s in sources):
        errors["source"] = f"Choose a source among {', '.join(SOURCES)}."
    since, until = _time(params, "since", errors), _time(params, "until", errors)
    if since is not None and until is not None and until <= since:
        errors["until"] = "Must be later than the start of the range."
    return AnalysisQuery(
        task=task,
        agents=agents,
        sources=sources,
        since=since,
        until=until,
        include_overridden=_choice(params, "overridden", errors),
        include_cpu_mode=_choice(params, "cpu_mode", errors),
        texts={n: params.get(n, "").strip() for n in ("since", "until")},
    )


def _read_figures(
    params: QueryParams, query: AnalysisQuery, default_limit_h: float, errors: dict[str, str]
) -> AnalysisQuery:
    limit_text = params.get("limit", "").strip()
    limits, problem = _hours(limit_text or f"{default_limit_h:g}", "per-run limit", MAX_LIMITS)
    if problem:
        errors["limit"] = problem
    budget_text = params.get("budget", "").strip()
    if not budget_text:
        budget_text = hours_text(
            tuple(max(limits or (default_limit_h,)) * m for m in BUDGET_MULTIPLES)
        )
    budgets, problem = _hours(budget_text, "budget", MAX_BUDGETS)
    if problem:
        errors["budget"] = problem
    elif limits and min(budgets) < max(limits):
        errors["budget"] = (
            f"Each budget must be at least the per-run limit ({max(limits):g} h):"
            f" {min(budgets):g} h is smaller."
        )
    curve_hours = None
    curve_text = params.get("curve_hours", "").strip()
    if curve_text:
        values, problem = _hours(curve_text, "curve's end", 1)
        if problem:
            errors["curve_hours"] = problem
        else:
            curve_hours = values[0]
    return replace(query, limits_h=limits, budgets_h=budgets, curve_hours=curve_hours)


def read(
    params: QueryParams, choices: Choices, *, figures: bool = True, default_limit_h: float = 8.0
) -> Asked:
    """The question in ``params``; ``figures`` also reads the per-run limits, budgets and the
    curve's end (defaults: the task's time limit, and budgets of 1, 2, 4 and 8 such runs)."""
    errors: dict[str, str] = {}
    query = _read_filters(params, choices, errors)
    if figures:
        query = _read_figures(params, query, default_limit_h, errors)
    values: dict[str, str | list[str]] = {
        name: params.get(name, "").strip()
        for name in ("task", "since", "until", "overridden", "cpu_mode", "curve_hours")
    }
    values["agent"] = list(query.agents)
    values["source"] = list(query.sources)
    values["limit"] = params.get("limit", "").strip() or hours_text(query.limits_h)
    values["budget"] = params.get("budget", "").strip() or hours_text(query.budgets_h)
    return Asked(query, errors, values, choices)
