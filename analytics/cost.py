"""Score against cost: what each ended run cost (human: working hours times the expert's rate;
agent: the import's figure) and the final score it reached; and per agent, the means. Runs
still going, and runs without a cost above $0, are left out (run_counts says how many)."""

from dataclasses import asdict, dataclass

import numpy as np

from analytics.final_scores import ended, run_finals
from analytics.score_table import ScoreTable

POINT_COLUMNS = ("agent", "run_id", "cost_usd", "working_hours", "score")
SUMMARY_COLUMNS = ("agent", "runs", "mean_cost_usd", "mean_score", "score_per_100_usd")


@dataclass(frozen=True)
class CostPoint:
    agent: str
    run_id: str
    cost_usd: float
    working_hours: float
    score: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CostSummary:
    agent: str
    runs: int
    mean_cost_usd: float
    mean_score: float
    score_per_100_usd: float  # mean score / mean cost * 100; NaN when nothing was spent

    def as_dict(self) -> dict:
        return asdict(self)


def cost_points(table: ScoreTable, aggregation: str = "best") -> list[CostPoint]:
    """Ended runs with a known cost above $0, humans first. The figure's cost axis is
    logarithmic (human and agent costs differ 10-100 times), where $0 has no place; a run that
    cost nothing (no working time, or an import saying 0) says nothing about cost either."""
    keep = ended(table) & (np.nan_to_num(table.cost_usd, nan=0.0) > 0)
    scores = run_finals(table, aggregation)
    rows = [
        CostPoint(str(a), str(r), float(c), float(w) / 3600, float(s))
        for a, r, c, w, s, k in zip(
            table.agent, table.run_id, table.cost_usd, table.working_s, scores, keep, strict=True
        )
        if k
    ]
    rank = {name: i for i, name in enumerate(table.agents())}
    return sorted(rows, key=lambda p: (rank[p.agent], p.run_id))


def cost_summary(points: list[CostPoint]) -> list[CostSummary]:
    """Per agent (in the points' order): runs, mean cost, mean score."""
    out: list[CostSummary] = []
    for agent in dict.fromkeys(p.agent for p in points):
        mine = [p for p in points if p.agent == agent]
        cost = float(np.mean([p.cost_usd for p in mine]))
        score = float(np.mean([p.score for p in mine]))
        out.append(
            CostSummary(agent, len(mine), cost, score, score / cost * 100 if cost else np.nan)
        )
    return out
