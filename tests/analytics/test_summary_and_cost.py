"""The per-task summary table and score against cost, by hand."""

import math

import numpy as np
import pytest

from analytics.cost import CostPoint, cost_points, cost_summary
from analytics.score_table import ScoreTable
from analytics.summary import summary

NAN = np.nan


def table() -> ScoreTable:
    # Humans: r1 recorded final 1.2 (its log says 0.3: the recorded one wins); r2 log -0.4 -> 0;
    # r3 log 0.5 -> 0.5, no cost known; r4 live (left out). Agent: two runs, 0.25 and 1.0.
    return ScoreTable.build(
        run_id=["r1", "r2", "r3", "r4", "a1", "a2"],
        agent=["human"] * 4 + ["bot", "bot"],
        working_s=[7200, 3600, 1800, 600, 3600, 3600],
        ended=[True, True, True, False, True, True],
        row_run=[0, 1, 2, 3, 4, 5],
        row_elapsed=[100, 100, 100, 100, 100, 100],
        row_value=[0.3, -0.4, 0.5, 2.0, 0.25, 1.0],
        cost_usd=[200.0, 100.0, NAN, 10.0, 2.0, 4.0],
        final_normalized=[1.2, NAN, NAN, NAN, NAN, 1.0],
    )


def test_summary_by_hand():
    rows = {r.agent: r for r in summary("fam/task", table())}
    human = rows["human"]
    assert (human.task_id, human.runs) == ("fam/task", 3)
    assert human.mean == pytest.approx((1.2 + 0 + 0.5) / 3)
    assert human.median == 0.5
    assert human.share_above_0 == pytest.approx(2 / 3)
    assert human.share_at_least_1 == pytest.approx(1 / 3)
    bot = rows["bot"]
    assert (bot.runs, bot.mean, bot.median, bot.share_above_0, bot.share_at_least_1) == (
        2,
        0.625,
        0.625,
        1.0,
        0.5,
    )
    assert list(rows) == ["human", "bot"]


def test_cost_points_and_means_by_hand():
    points = cost_points(table())
    assert [(p.agent, p.run_id, p.cost_usd, p.working_hours, p.score) for p in points] == [
        ("human", "r1", 200.0, 2.0, 1.2),
        ("human", "r2", 100.0, 1.0, 0.0),
        ("bot", "a1", 2.0, 1.0, 0.25),
        ("bot", "a2", 4.0, 1.0, 1.0),
    ]
    human, bot = cost_summary(points)
    assert (human.agent, human.runs, human.mean_cost_usd, human.mean_score) == (
        "human",
        2,
        150.0,
        0.6,
    )
    assert human.score_per_100_usd == pytest.approx(0.4)
    assert (bot.mean_cost_usd, bot.mean_score) == (3.0, 0.625)


def test_free_runs_are_left_out_and_would_have_no_score_per_dollar():
    """$0 has no place on the log cost axis: such a run is not a cost point."""
    free = ScoreTable.build(["a"], ["bot"], [1], [True], [0], [0], [0.5], cost_usd=[0.0])
    assert cost_points(free) == []
    (row,) = cost_summary([CostPoint("bot", "a", 0.0, 1.0, 0.5)])
    assert math.isnan(row.score_per_100_usd)
