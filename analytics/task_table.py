"""One task's dataset rows turned into the arrays the analyses work on, column by column."""

from typing import Any

import numpy as np

from analytics import conditions
from analytics.dataset import has_ended
from analytics.score_table import ScoreTable


def _number(value: Any) -> float:
    return np.nan if value is None else float(value)


def task_ids(runs: list[dict[str, Any]]) -> list[str]:
    """The entries present, by name: a task, or a task and a scoring condition (a task scored
    under two models is two entries, never pooled; analytics.conditions)."""
    return sorted({conditions.subject(r) for r in runs})


def score_table(
    runs: list[dict[str, Any]], score_log: list[dict[str, Any]], task_id: str
) -> ScoreTable:
    """The task's runs and entries. A run without working_s is taken to have worked up to its
    last entry; an entry without a normalised score, or marked invalid, counts as no score.
    (A start the platform failed before the workspace was active never reaches the dataset: it
    has no started_at, and it is no attempt.)

    ``task_id`` may name a scoring condition too (analytics.conditions): then only runs under it
    count, and of each run only the entries under its own condition (never two pooled)."""
    mine = [r for r in runs if conditions.subject(r) == task_id]
    index = {r["run_id"]: i for i, r in enumerate(mine)}
    condition = {r["run_id"]: conditions.of(r) for r in mine}
    entries = [
        e
        for e in score_log
        if e["run_id"] in index and (not e["valid"] or conditions.of(e) == condition[e["run_id"]])
    ]
    row_run = np.fromiter((index[e["run_id"]] for e in entries), dtype=np.int64, count=len(entries))
    elapsed = np.array([_number(e["elapsed_s"]) for e in entries], dtype=float)
    value = np.array(
        [_number(e["score_normalized"]) if e["valid"] else np.nan for e in entries], dtype=float
    )
    last = np.zeros(len(mine))
    if len(entries):
        np.maximum.at(last, row_run, np.nan_to_num(elapsed))
    working = np.array([_number(r["working_s"]) for r in mine], dtype=float)
    working = np.where(np.isnan(working), last, working)
    return ScoreTable.build(
        run_id=[r["run_id"] for r in mine],
        agent=[r["agent"] for r in mine],
        working_s=working,
        ended=[has_ended(r) for r in mine],
        row_run=row_run,
        row_elapsed=elapsed,
        row_value=value,
        cost_usd=[_number(r["cost_usd"]) for r in mine],
        final_normalized=[_number(r["final_score_normalized"]) for r in mine],
    )
