"""A small score-over-working-time chart for the run page, drawn as inline SVG points."""

from dataclasses import dataclass

from baselines.checkpoints import Checkpoint

WIDTH, HEIGHT, PAD = 560, 160, 24


@dataclass(frozen=True)
class Chart:
    points: str  # "x,y x,y …" for an SVG polyline of the best-so-far score
    dots: list[tuple[float, float, str]]  # each valid checkpoint: x, y, tooltip
    y_label: str
    low: float
    high: float
    width: int = WIDTH
    height: int = HEIGHT


def chart(rows: list[Checkpoint], *, normalised: bool, direction: str | None) -> Chart | None:
    """Valid scores against working hours, with the best-so-far line; None with fewer than one."""
    values = [
        (r.working_s / 3600, r.score_normalized if normalised else r.score, r.seq)
        for r in rows
        if r.valid and (r.score_normalized if normalised else r.score) is not None
    ]
    if not values:
        return None
    higher = normalised or direction != "lower"
    xs, ys = [v[0] for v in values], [v[1] for v in values]
    x_max = max(max(xs), 1e-9)
    low, high = min(ys), max(ys)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5

    def at(x: float, y: float) -> tuple[float, float]:
        px = PAD + (WIDTH - 2 * PAD) * (x / x_max)
        py = HEIGHT - PAD - (HEIGHT - 2 * PAD) * ((y - low) / (high - low))
        return round(px, 1), round(py, 1)

    best, line = None, []
    for x, y, _ in values:
        best = y if best is None else (max(best, y) if higher else min(best, y))
        line.append(at(x, best))
    dots = [(*at(x, y), f"#{seq}: {y:.4g} at {x:.2f} h") for x, y, seq in values]
    label = "normalised score" if normalised else "score"
    return Chart(" ".join(f"{px},{py}" for px, py in line), dots, label, low, high)
