"""Normalised scores: the starting solution scores 0, the reference solution 1 (RE-Bench).

``(y - y_s) / (y_r - y_s)`` needs no sign flip for lower-is-better metrics: there y_r < y_s, so
the denominator is negative and a lower (better) score still normalises higher.
"""

import math


def normalise(y: float | None, y_s: float | None, y_r: float | None) -> float | None:
    """y normalised, or None where it cannot be (no score, or no usable y_s and y_r)."""
    values = (y, y_s, y_r)
    if any(v is None or isinstance(v, bool) for v in values):
        return None
    try:
        y, y_s, y_r = (float(v) for v in values)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (y, y_s, y_r)) or y_s == y_r:
        return None
    return (y - y_s) / (y_r - y_s)
