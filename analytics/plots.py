"""The three RE-Bench figures as PNG or SVG (matplotlib, no display needed), each with the CSV of
the numbers drawn, so a figure in a paper can always be traced back to its data.

Figures are built on matplotlib's object API (no pyplot state), so pages may draw them from
several threads; SVG output carries no date and a fixed id salt, so the same numbers give the same
bytes.
"""

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from analytics import best_of_k as best_of_k_module
from analytics import cost as cost_module
from analytics import curves as curves_module
from analytics.best_of_k import BestOfK
from analytics.cost import CostPoint
from analytics.curves import CurvePoint
from analytics.reports import to_csv

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
SIZE = (7.0, 4.2)
HUMAN_COLOUR = "#d62728"


@dataclass(frozen=True)
class Plot:
    image: bytes
    media_type: str
    csv: str  # the numbers behind the figure


def _colours(agents: list[str]) -> dict[str, str]:
    palette = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    others = [a for a in agents if a != "human"]
    colours = {a: palette[i % len(palette)] for i, a in enumerate(others)}
    colours["human"] = HUMAN_COLOUR
    return colours


def _render(draw: Callable[[object], None], fmt: str) -> tuple[bytes, str]:
    if fmt not in FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; use png or svg")
    figure = Figure(figsize=SIZE, layout="constrained")
    axes = figure.add_subplot()
    draw(axes)
    sink = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "baseliner", "svg.fonttype": "none"}):
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        figure.savefig(sink, format=fmt, dpi=110, metadata=metadata)
    return sink.getvalue(), FORMATS[fmt]


def _legend(axes) -> None:
    """Below the plot, so it never covers a line or a band, however the data fall."""
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize="small",
                frameon=False)  # fmt: skip


def _empty(axes, what: str) -> None:
    axes.text(0.5, 0.5, f"no {what} yet", ha="center", va="center", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def curve_plot(points: list[CurvePoint], *, title: str = "", fmt: str = "png") -> Plot:
    """Mean normalised score over working hours per agent, with the bootstrap band."""
    agents = list(dict.fromkeys(p.agent for p in points))
    colours = _colours(agents)

    def draw(axes) -> None:
        if not points:
            _empty(axes, "scores")
            return
        for agent in agents:
            mine = [p for p in points if p.agent == agent]
            hours = [p.elapsed_s / 3600 for p in mine]
            n = max(p.n for p in mine)
            axes.plot(hours, [p.mean for p in mine], color=colours[agent], label=f"{agent} (n={n})")
            axes.fill_between(
                hours, [p.lo for p in mine], [p.hi for p in mine], color=colours[agent], alpha=0.2
            )
        axes.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
        axes.set_xlabel("working time (hours)")
        axes.set_ylabel("normalised score (best so far)")
        axes.set_ylim(bottom=0)
        _legend(axes)
        if title:
            axes.set_title(title)

    image, media_type = _render(draw, fmt)
    return Plot(image, media_type, to_csv(points, curves_module.COLUMNS))


def best_of_k_plot(rows: list[BestOfK], *, title: str = "", fmt: str = "png") -> Plot:
    """Expected best-of-k score against total budget, one line per agent and per-run limit."""
    agents = list(dict.fromkeys(r.agent for r in rows))
    colours = _colours(agents)
    styles = ["-", "--", ":", "-."]

    def draw(axes) -> None:
        if not rows:
            _empty(axes, "runs")
            return
        limits = sorted({r.limit_hours for r in rows})
        for agent in agents:
            for i, limit in enumerate(limits):
                mine = sorted(
                    (r for r in rows if r.agent == agent and r.limit_hours == limit),
                    key=lambda r: r.budget_hours,
                )
                if not mine:
                    continue
                budget = [r.budget_hours for r in mine]
                axes.plot(
                    budget,
                    [r.mean for r in mine],
                    marker="o",
                    linestyle=styles[i % len(styles)],
                    color=colours[agent],
                    label=f"{agent}, {limit:g} h runs (n={max(r.n_runs for r in mine)})",
                )
                axes.fill_between(
                    budget,
                    [r.lo for r in mine],
                    [r.hi for r in mine],
                    color=colours[agent],
                    alpha=0.12,
                )
        axes.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
        axes.set_xlabel("total time budget (hours)")
        axes.set_ylabel("expected best-of-k normalised score")
        axes.set_ylim(bottom=0)
        _legend(axes)
        if title:
            axes.set_title(title)

    image, media_type = _render(draw, fmt)
    return Plot(image, media_type, to_csv(rows, best_of_k_module.COLUMNS))


def _dollars(value: float, _position: object = None) -> str:
    return f"${value:,.0f}" if value >= 1 else f"${value:g}"


def _log_dollars(axes, costs: list[float]) -> None:
    """A logarithmic cost axis, as RE-Bench draws it (human and agent costs differ 10-100
    times), from a power of ten below the cheapest run to one above the dearest, so at least
    two decades are labelled, in dollars ("$10", "$1,000") rather than powers of ten."""
    low = math.floor(math.log10(min(costs)))
    high = max(math.ceil(math.log10(max(costs))), low + 1)
    axes.set_xscale("log")
    axes.set_xlim(10.0**low, 10.0**high)
    axes.xaxis.set_major_locator(LogLocator(base=10))
    axes.xaxis.set_major_formatter(FuncFormatter(_dollars))
    axes.xaxis.set_minor_formatter(NullFormatter())


def cost_plot(points: list[CostPoint], *, title: str = "", fmt: str = "png") -> Plot:
    """Each ended run's final normalised score against its cost (a log axis), per agent, with
    the means."""
    agents = list(dict.fromkeys(p.agent for p in points))
    colours = _colours(agents)

    def draw(axes) -> None:
        if not points:
            _empty(axes, "costs")
            return
        for summary in cost_module.cost_summary(points):
            mine = [p for p in points if p.agent == summary.agent]
            colour = colours[summary.agent]
            axes.scatter(
                [p.cost_usd for p in mine], [p.score for p in mine], color=colour, alpha=0.5, s=18
            )
            axes.scatter(
                [summary.mean_cost_usd],
                [summary.mean_score],
                color=colour,
                marker="D",
                s=60,
                edgecolors="black",
                label=f"{summary.agent} (n={summary.runs}, mean)",
            )
        _log_dollars(axes, [p.cost_usd for p in points])
        axes.set_xlabel("cost per run (USD, log scale)")
        axes.set_ylabel("final normalised score")
        axes.set_ylim(bottom=-0.04)  # runs at 0 (never scored) drawn whole, not cut in half
        _legend(axes)
        if title:
            axes.set_title(title)

    image, media_type = _render(draw, fmt)
    return Plot(image, media_type, to_csv(points, cost_module.POINT_COLUMNS))
