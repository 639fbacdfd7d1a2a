"""The figures render as PNG and SVG, each with the numbers behind it as CSV."""

import csv
import io

import numpy as np
import pytest

from analytics import plots
from analytics.best_of_k import best_of_k
from analytics.cost import cost_points
from analytics.curves import curve
from analytics.score_table import ScoreTable

HOUR = 3600.0


def table() -> ScoreTable:
    return ScoreTable.build(
        run_id=["h1", "h2", "a1", "a2"],
        agent=["human", "human", "bot", "bot"],
        working_s=[8 * HOUR] * 4,
        ended=[True] * 4,
        row_run=[0, 0, 1, 2, 3],
        row_elapsed=[HOUR, 5 * HOUR, 2 * HOUR, HOUR, 3 * HOUR],
        row_value=[0.3, 1.1, 0.6, 0.2, 0.4],
        cost_usd=[640.0, 560.0, 12.0, 9.5],
    )


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_each_figure_renders_with_its_numbers(fmt):
    t = table()
    figures = [
        plots.curve_plot(curve(t, np.linspace(0, 8 * HOUR, 9), samples=50), fmt=fmt, title="x"),
        plots.best_of_k_plot(
            best_of_k(t, [2 * HOUR, 8 * HOUR], [8 * HOUR, 16 * HOUR, 32 * HOUR], samples=50),
            fmt=fmt,
        ),
        plots.cost_plot(cost_points(t), fmt=fmt),
    ]
    heads = [
        ["agent", "elapsed_s", "mean", "lo", "hi", "n"],
        ["agent", "limit_hours", "budget_hours", "k", "mean", "lo", "hi", "n_runs"],
        ["agent", "run_id", "cost_usd", "working_hours", "score"],
    ]
    for figure, head in zip(figures, heads, strict=True):
        if fmt == "png":
            assert figure.image.startswith(b"\x89PNG\r\n\x1a\n")
            assert figure.media_type == "image/png"
        else:
            assert b"<svg" in figure.image[:500]
            assert figure.media_type == "image/svg+xml"
        rows = list(csv.reader(io.StringIO(figure.csv)))
        assert rows[0] == head and len(rows) > 1
        assert {r[0] for r in rows[1:]} == {"human", "bot"}


def test_svg_is_the_same_for_the_same_numbers_and_empty_data_still_draws():
    points = curve(table(), np.linspace(0, 8 * HOUR, 5), samples=20)
    assert plots.curve_plot(points, fmt="svg").image == plots.curve_plot(points, fmt="svg").image
    empty = plots.cost_plot([], fmt="png")
    assert empty.image.startswith(b"\x89PNG") and empty.csv.splitlines() == [
        "agent,run_id,cost_usd,working_hours,score"
    ]
    with pytest.raises(ValueError):
        plots.curve_plot(points, fmt="gif")


def test_the_cost_axis_is_logarithmic_in_dollars():
    """Human runs cost $560-640, agent runs $9.50-12: a log axis from $1 to $1,000, labelled in
    dollars and saying it is a log scale."""
    svg = plots.cost_plot(cost_points(table()), fmt="svg").image.decode()
    assert "cost per run (USD, log scale)" in svg
    for label in ("$1", "$10", "$100", "$1,000"):
        assert f">{label}<" in svg, label
    assert "10^" not in svg and "$10,000" not in svg
    # One decade of costs still gets two labelled ticks.
    narrow = ScoreTable.build(["a", "b"], ["bot", "bot"], [1, 1], [True, True], [0, 1], [0, 0],
                              [0.5, 0.6], cost_usd=[20.0, 45.0])  # fmt: skip
    svg = plots.cost_plot(cost_points(narrow), fmt="svg").image.decode()
    assert ">$10<" in svg and ">$100<" in svg
