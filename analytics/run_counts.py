"""Which runs each analysis of one task counts, per agent, so the analyst page can say why its
figures' n differ rather than leave the reader to guess. The rules:

- score over working time: every run; one that ended is known for ever, one still going up to the
  working time it has reached (past that its n falls);
- best of k at a per-run limit L: runs that ended or have worked at least L;
- score against cost: ended runs with a cost above $0 (the cost axis is logarithmic);
- summary: ended runs.

Everywhere, as in RE-Bench, a run without a valid normalised score counts as 0 (none yet, only
invalid ones, or scored without the task's GPU, which gives no normalised score), and so does a
negative score.
"""

from dataclasses import dataclass

import numpy as np

from analytics.final_scores import ended
from analytics.score_table import ScoreTable


@dataclass(frozen=True)
class RunCounts:
    agent: str
    runs: int  # every run the filters keep
    ended: int
    still_going: int
    no_score: int  # without any valid normalised score: counted as 0
    not_comparable: int  # scored without the task's GPU (comparable false)
    no_cost: int  # ended, but no cost above $0 known: not on the cost figure
    best_of_k: tuple[tuple[float, int], ...] = ()  # (per-run limit in hours, runs counted)

    @property
    def curve(self) -> int:
        return self.runs

    @property
    def cost(self) -> int:
        return self.ended - self.no_cost

    @property
    def summary(self) -> int:
        return self.ended


def has_score(table: ScoreTable) -> np.ndarray:
    """(R,) whether each run has a valid normalised score: in its log, or recorded as its
    final one by the source."""
    scored = np.zeros(table.runs, dtype=bool)
    valid = ~np.isnan(table.row_value)
    scored[table.row_run[valid]] = True
    return scored | ~np.isnan(table.final_normalized)


def run_counts(
    table: ScoreTable, not_comparable: np.ndarray | None = None, limits_s: tuple[float, ...] = ()
) -> list[RunCounts]:
    """One row per agent (humans first). ``not_comparable``: (R,) runs scored without the
    task's GPU; ``limits_s``: the best-of-k figure's per-run limits."""
    done = ended(table)
    scored = has_score(table)
    costly = np.nan_to_num(table.cost_usd, nan=0.0) > 0
    flagged = np.zeros(table.runs, dtype=bool) if not_comparable is None else not_comparable
    out: list[RunCounts] = []
    for agent in table.agents():
        mine = table.agent == agent
        out.append(
            RunCounts(
                agent=agent,
                runs=int(mine.sum()),
                ended=int((mine & done).sum()),
                still_going=int((mine & ~done).sum()),
                no_score=int((mine & ~scored).sum()),
                not_comparable=int((mine & flagged).sum()),
                no_cost=int((mine & done & ~costly).sum()),
                best_of_k=tuple(
                    (limit / 3600, int((mine & (table.known_until_s >= limit)).sum()))
                    for limit in limits_s
                ),
            )
        )
    return out
