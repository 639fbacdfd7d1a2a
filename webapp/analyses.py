"""The analyst page's numbers: what may be asked for, and each figure's rows for a query. The
analyses themselves live in analytics.reports and analytics.plots; this module only feeds them
the portal's settings, its catalogue and the query, so the page, its images and its CSVs always
draw from the same rows."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session, select
from starlette.datastructures import QueryParams

from analytics import (
    best_of_k,
    conditions,
    cost,
    curves,
    dataset,
    formats,
    plots,
    reports,
    summary,
    task_numbers,
)
from analytics.dataset import HUMAN
from analytics.imported import ImportedRun
from analytics.importing import cached
from analytics.run_counts import RunCounts
from analytics.summary import SummaryRow
from analytics.task_numbers import TaskNumbers
from baselines.checkpoints import Checkpoint
from baselines.runs import Run
from environments import task_settings
from environments.catalogue import Catalogue
from environments.manifest import DEFAULT_TIME_LIMIT_S
from webapp.analysis_query import AnalysisQuery, Asked, Choices, read

TITLES = {
    "curve": "Score over working time",
    "best-of-k": "Best of k runs at a total time budget",
    "cost": "Score against cost",
}
COLUMNS = {
    "curve": curves.COLUMNS,
    "best-of-k": best_of_k.COLUMNS,
    "cost": cost.POINT_COLUMNS,
}
DRAW = {"curve": plots.curve_plot, "best-of-k": plots.best_of_k_plot, "cost": plots.cost_plot}
SAMPLES = 1000  # bootstrap samples for the bands
SEED = 0  # fixed, so the same address always shows the same band


def choices(session: Session, catalogue: Catalogue) -> Choices:
    """Tasks that have runs or are installed, each with every scoring condition its scores were
    made under as an entry of its own (analytics.conditions), and 'human' with every imported
    agent."""
    human = session.exec(select(Run.environment).where(Run.started_at.is_not(None)).distinct())
    imported = session.exec(select(ImportedRun.task_id).distinct())
    installed = (f"{family.name}/{task.name}" for family, task in catalogue.tasks())
    scored = session.exec(
        select(Run.environment, Checkpoint.condition)
        .join(Checkpoint, Checkpoint.run_id == Run.id)
        .where(Checkpoint.valid, Checkpoint.condition != "", Run.started_at.is_not(None))
        .distinct()
    )
    imported_under = session.exec(
        select(ImportedRun.task_id, ImportedRun.condition)
        .where(ImportedRun.condition.is_not(None), ImportedRun.condition != "")
        .distinct()
    )
    under = (conditions.label(t, c) for t, c in (*scored, *imported_under))
    tasks = {t for t in (*human, *imported, *installed, *under) if t}
    agents = set(session.exec(select(ImportedRun.agent).distinct())) - {HUMAN}
    return Choices(tasks=tuple(sorted(tasks)), agents=(HUMAN, *sorted(agents)))


def ask(
    params: QueryParams, session: Session, catalogue: Catalogue, *, figures: bool = True
) -> Asked:
    """The question in a query string, checked against what may be asked for here; a per-run
    limit left out is the task's time limit."""
    found = choices(session, catalogue)
    task = params.get("task", "").strip()
    default = DEFAULT_TIME_LIMIT_S / 3600
    if task in found.tasks:
        default = default_limit_h(session, catalogue, task)
    return read(params, found, figures=figures, default_limit_h=default)


def default_limit_h(session: Session, catalogue: Catalogue, task_id: str) -> float:
    """The task's time limit in hours (installed tasks), else the platform's default."""
    family_name, _, task_name = conditions.split(task_id)[0].partition("/")
    family = catalogue.family(family_name)
    task = family.task(task_name) if family is not None else None
    if family is None or task is None:
        return DEFAULT_TIME_LIMIT_S / 3600
    return task_settings.effective(session, family, task).time_limit_s / 3600


def numbers(session: Session, catalogue: Catalogue) -> Callable[[str], TaskNumbers]:
    """Each task's normalisation and aggregation, asked once per task."""
    return cached(lambda task_id: task_numbers.lookup(session, catalogue, task_id))


def figure_rows(
    name: str,
    session: Session,
    *,
    key: str,
    now: datetime,
    query: AnalysisQuery,
    catalogue: Catalogue,
) -> list[Any]:
    """The numbers behind one figure for the query's task."""
    common = {
        "key": key,
        "now": now,
        "task_id": query.task,
        "agents": query.agents,
        "numbers": numbers(session, catalogue),
        "filters": query.filters(by_task=False),
    }
    if name == "curve":
        until_s = None if query.curve_hours is None else query.curve_hours * 3600
        return reports.curve_rows(session, **common, until_s=until_s, samples=SAMPLES, seed=SEED)
    if name == "best-of-k":
        return reports.best_of_k_rows(
            session,
            **common,
            limits_s=[h * 3600 for h in query.limits_h],
            budgets_s=[h * 3600 for h in query.budgets_h],
            samples=SAMPLES,
            seed=SEED,
        )
    return reports.cost_rows(session, **common)


def counts(session: Session, *, key: str, now: datetime, query: AnalysisQuery) -> list[RunCounts]:
    """Which of the query's task's runs each figure counts, per agent, and why the others are
    left out (analytics.run_counts)."""
    return reports.count_rows(
        session,
        key=key,
        now=now,
        task_id=query.task,
        agents=query.agents,
        limits_s=tuple(h * 3600 for h in query.limits_h),
        filters=query.filters(by_task=False),
    )


def draw(name: str, rows: list[Any], fmt: str, task_id: str) -> plots.Plot:
    return DRAW[name](rows, title=f"{TITLES[name]}: {task_id}", fmt=fmt)


def as_csv(name: str, rows: list[Any]) -> str:
    return reports.to_csv(rows, COLUMNS[name])


def summary_rows(
    session: Session, *, key: str, now: datetime, query: AnalysisQuery, catalogue: Catalogue
) -> list[SummaryRow]:
    """Every task the filters keep (all tasks, so the table shows where each one stands)."""
    return reports.summary_rows(
        session,
        key=key,
        now=now,
        numbers=numbers(session, catalogue),
        filters=query.filters(by_task=False),
    )


SUMMARY_COLUMNS = summary.COLUMNS


def busiest_task(rows: list[SummaryRow]) -> str | None:
    """The task to open the page on: the one that compares most agents, then has most ended
    runs (None when nothing has ended), so a first visit shows curves, not an empty form."""
    tasks: dict[str, tuple[int, int]] = {}
    for row in rows:
        agents, runs = tasks.get(row.task_id, (0, 0))
        tasks[row.task_id] = (agents + 1, runs + row.runs)
    if not tasks:
        return None
    return max(sorted(tasks), key=lambda task: tasks[task])


def export(
    session: Session, *, key: str, now: datetime, query: AnalysisQuery, table: str, fmt: str
) -> bytes:
    """One dataset table ('runs' or 'score-log') as file bytes; the page and the API serve the
    same bytes."""
    runs, log = dataset.load(session, key=key, now=now, filters=query.filters())
    if table == "runs":
        return formats.runs_bytes(runs, fmt)
    return formats.score_log_bytes(log, fmt)
