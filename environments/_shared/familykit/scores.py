"""Score results and score logs, as every family reads and writes them."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any, Literal


def invalid(error: str, details: dict | None = None) -> dict[str, Any]:
    """An invalid score: NaN (METR's convention), the reason in ``message.error``."""
    return {"score": float("nan"), "message": {"error": error}, "details": details or {}}


def _parts(entry: dict) -> list[dict]:
    """An entry's message and details as dicts (the log may hold them as JSON text)."""
    out = []
    for key in ("message", "details"):
        part = entry.get(key)
        if isinstance(part, str):
            try:
                part = json.loads(part)
            except ValueError:
                part = None
        if isinstance(part, dict):
            out.append(part)
    return out


def condition_of(entry: dict) -> str:
    """The scoring condition an entry reports (``condition`` in message or details, e.g.
    "model: <name>"); "" for none. Scores under different conditions are never pooled."""
    for part in _parts(entry):
        if isinstance(part.get("condition"), str):
            return part["condition"].strip()
    return ""


def is_comparable(entry: dict) -> bool:
    """False when a score-log entry is marked ``comparable: false`` (taken without a GPU) in
    its message or details, which the log may hold as dicts or as JSON text."""
    return not any(part.get("comparable") is False for part in _parts(entry))


def aggregate(score_log: Iterable[dict[str, Any]], pick: Literal["lowest", "last"]) -> float:
    """The family's final score from its score log: the lowest valid score (the best, where
    lower is better) or the last valid one (RE-Bench's "the final answer counts"); NaN if none.

    Only scores under the condition of the last valid one count (a run never pools scores made
    under two models); scores marked not comparable count only when the log holds no
    comparable one, so a run scored on the CPU before a GPU came is judged on the GPU's scores."""
    valid = []
    for entry in score_log:
        try:
            score = float(entry.get("score"))
        except (TypeError, ValueError):
            continue
        if math.isfinite(score):
            valid.append((score, is_comparable(entry), condition_of(entry)))
    if valid:
        last = valid[-1][2]
        valid = [v for v in valid if v[2] == last]
    pool = [s for s, comparable, _ in valid if comparable] or [s for s, _, _ in valid]
    if not pool:
        return float("nan")
    return min(pool) if pick == "lowest" else pool[-1]
