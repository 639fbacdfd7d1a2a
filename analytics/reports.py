"""The analyses as the CLI and the analyst page ask for them: by task, from the live dataset, as
rows with fixed columns, and as CSV or JSON text."""

import csv
import io
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
from sqlmodel import Session

from analytics import conditions, dataset
from analytics.best_of_k import BestOfK, best_of_k
from analytics.cost import CostPoint, cost_points
from analytics.curves import CurvePoint, curve, time_grid
from analytics.dataset import Filters
from analytics.run_counts import RunCounts, run_counts
from analytics.score_table import ScoreTable
from analytics.summary import SummaryRow, summary
from analytics.task_numbers import TaskNumbers
from analytics.task_table import score_table, task_ids

Numbers = Callable[[str], TaskNumbers]


def task_table(
    session: Session,
    *,
    key: str | bytes,
    now: datetime,
    task_id: str,
    agents: Iterable[str] = (),
    filters: Filters | None = None,
) -> ScoreTable:
    """One task's runs (of the given agents, all by default) as arrays; ``task_id`` may name a
    scoring condition too (analytics.conditions), and then only that condition's runs count."""
    task, condition = conditions.split(task_id)
    filters = replace(
        filters or Filters(), tasks=(task,), agents=tuple(agents), condition=condition
    )
    runs, log = dataset.load(session, key=key, now=now, filters=filters)
    return score_table(runs, log, task_id)


def curve_rows(
    session: Session,
    *,
    key: str | bytes,
    now: datetime,
    task_id: str,
    numbers: Numbers,
    agents: Iterable[str] = (),
    points: int = 61,
    until_s: float | None = None,
    samples: int = 1000,
    seed: int = 0,
    filters: Filters | None = None,
) -> list[CurvePoint]:
    table = task_table(session, key=key, now=now, task_id=task_id, agents=agents, filters=filters)
    if table.runs == 0:
        return []
    times = time_grid(table, points, until_s)
    return curve(table, times, numbers(task_id).aggregation, samples=samples, seed=seed)


def best_of_k_rows(
    session: Session,
    *,
    key: str | bytes,
    now: datetime,
    task_id: str,
    numbers: Numbers,
    limits_s: list[float],
    budgets_s: list[float],
    agents: Iterable[str] = (),
    samples: int = 1000,
    seed: int = 0,
    filters: Filters | None = None,
) -> list[BestOfK]:
    table = task_table(session, key=key, now=now, task_id=task_id, agents=agents, filters=filters)
    aggregation = numbers(task_id).aggregation
    return best_of_k(table, limits_s, budgets_s, aggregation, samples=samples, seed=seed)


def cost_rows(
    session: Session,
    *,
    key: str | bytes,
    now: datetime,
    task_id: str,
    numbers: Numbers,
    agents: Iterable[str] = (),
    filters: Filters | None = None,
) -> list[CostPoint]:
    table = task_table(session, key=key, now=now, task_id=task_id, agents=agents, filters=filters)
    return cost_points(table, numbers(task_id).aggregation)


def count_rows(
    session: Session,
    *,
    key: str | bytes,
    now: datetime,
    task_id: str,
    agents: Iterable[str] = (),
    limits_s: Iterable[float] = (),
    filters: Filters | None = None,
) -> list[RunCounts]:
    """Which of the task's runs each figure counts, per agent (analytics.run_counts)."""
    task, condition = conditions.split(task_id)
    filters = replace(
        filters or Filters(), tasks=(task,), agents=tuple(agents), condition=condition
    )
    runs, log = dataset.load(session, key=key, now=now, filters=filters)
    table = score_table(runs, log, task_id)
    # In score_table's order: the task's runs as the dataset lists them.
    flagged = np.array(
        [r["comparable"] is False for r in runs if conditions.subject(r) == task_id], bool
    )
    return run_counts(table, flagged, tuple(limits_s))


def summary_rows(
    session: Session,
    *,
    key: str | bytes,
    now: datetime,
    numbers: Numbers,
    filters: Filters | None = None,
) -> list[SummaryRow]:
    """Every task in the (filtered) dataset, by name; a task under a scoring condition is an
    entry of its own, named with it (analytics.conditions)."""
    runs, log = dataset.load(session, key=key, now=now, filters=filters)
    out: list[SummaryRow] = []
    for task_id in task_ids(runs):
        table = score_table(runs, log, task_id)
        out.extend(summary(task_id, table, numbers(task_id).aggregation))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def as_dicts(rows: Iterable[Any], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{c: _plain(getattr(row, c)) for c in columns} for row in rows]


def to_csv(rows: Iterable[Any], columns: tuple[str, ...]) -> str:
    """Rows of a dataclass as CSV with exactly ``columns``; NaN as an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in as_dicts(rows, columns):
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return out.getvalue()


def to_json(rows: Iterable[Any], columns: tuple[str, ...]) -> str:
    """Rows as a JSON array of objects with exactly ``columns``; NaN as null."""
    return json.dumps(as_dicts(rows, columns), indent=1, allow_nan=False) + "\n"
