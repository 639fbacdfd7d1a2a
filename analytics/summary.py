"""The table analysts read first: per task and agent, how many runs ended and how they scored.
Runs still going are left out until they end; an ended run without a valid normalised score
counts as 0 (RE-Bench's rule), and ``never_scored`` says how many did."""

from dataclasses import asdict, dataclass

import numpy as np

from analytics.final_scores import ended, run_finals
from analytics.run_counts import has_score
from analytics.score_table import ScoreTable

COLUMNS = (
    "task_id",
    "agent",
    "runs",
    "mean",
    "median",
    "share_above_0",
    "share_at_least_1",
    "never_scored",
)


@dataclass(frozen=True)
class SummaryRow:
    task_id: str
    agent: str
    runs: int
    mean: float
    median: float
    share_above_0: float
    share_at_least_1: float
    never_scored: int = 0  # of ``runs``: ended without a valid normalised score, counted as 0

    def as_dict(self) -> dict:
        return asdict(self)


def summary(task_id: str, table: ScoreTable, aggregation: str = "best") -> list[SummaryRow]:
    """One row per agent over the task's ended runs (final normalised scores, negatives as 0)."""
    finals = run_finals(table, aggregation)
    done = ended(table)
    unscored = ~has_score(table)
    out: list[SummaryRow] = []
    for agent in table.agents():
        counted = done & (table.agent == agent)
        scores = finals[counted]
        if not len(scores):
            continue
        out.append(
            SummaryRow(
                task_id=task_id,
                agent=agent,
                runs=len(scores),
                mean=float(scores.mean()),
                median=float(np.median(scores)),
                share_above_0=float((scores > 0).mean()),
                share_at_least_1=float((scores >= 1).mean()),
                never_scored=int((counted & unscored).sum()),
            )
        )
    return out
