"""How the portal's numbers read in a terminal: working time as H:MM:SS, scores, the scorer's
message, and a checkpoint's outcome in one or two lines."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

PENDING = ("queued", "scoring")
HIDDEN = "scores are hidden for this task"


def hms(seconds: Any) -> str:
    """``3723.9`` → ``1:02:03`` (whole seconds, rounded down); ``-`` when unknown."""
    if not isinstance(seconds, (int, float)) or seconds != seconds:
        return "-"
    total = int(max(seconds, 0))
    return f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return f"{value:.6g}"


def when(iso: Any) -> str:
    """A server timestamp as ``2025-05-01 14:03:07 UTC`` (as sent, if it does not parse)."""
    if not isinstance(iso, str) or not iso:
        return "-"
    text = iso[:-1] + "+00:00" if iso.endswith("Z") else iso
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def message(value: Any) -> str:
    """The scorer's message: a string, or a dict (METR's score log keeps dicts) as its one text
    or as ``key: value`` pairs."""
    if value is None or value == "" or value == {}:
        return ""
    if isinstance(value, dict):
        for key in ("text", "message", "error"):
            if len(value) == 1 and key in value:
                return str(value[key])
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def score(checkpoint: dict[str, Any]) -> str:
    """The score with its normalised value, when the portal gave one."""
    text = number(checkpoint.get("score"))
    normalized = checkpoint.get("score_normalized")
    if isinstance(normalized, (int, float)) and not isinstance(normalized, bool):
        text += f" (normalised {number(normalized)})"
    return text


def outcome(checkpoint: dict[str, Any]) -> str:
    """One line: what became of a checkpoint (``invalid: wrong values at n=4097``)."""
    status = checkpoint.get("status")
    said = message(checkpoint.get("message"))
    valid = checkpoint.get("valid")
    if status in PENDING:
        return "queued for scoring" if status == "queued" else "scoring…"
    if status == "error":
        return "could not be scored" + (f": {said}" if said else "")
    if checkpoint.get("visible") is False:
        parts = ["invalid" + (f": {said}" if said else "")] if valid is False else []
        parts += [said] if said and valid is not False else []
        return "; ".join(["recorded", *parts, HIDDEN])
    if status == "invalid" or valid is False:
        return "invalid" + (f": {said}" if said else "")
    return f"score {score(checkpoint)}, valid" + (f" — {said}" if said else "")
