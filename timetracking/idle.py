"""The idle rule: no activity for ``idle_after`` seconds stops the clock from the last activity.

The pause is opened retroactively, at the last sign of work, so a forgotten open tab earns
nothing; the next activity ends it, at that activity. A clock stopped for another reason (a
manual pause, the limit) is left alone, and so is a run whose final submission is in.
"""

from datetime import datetime, timedelta

from sqlmodel import Session

from timetracking import activity, pause_reasons, pauses
from timetracking.pauses import PauseReason

DEFAULT_IDLE_AFTER_S = 600
# Stopped for these, the clock does not also need an idle pause (timetracking.pause_reasons).
HOLDING = pause_reasons.holding_idle()


def last_sign_of_work(
    session: Session, run_id: int, started_at: datetime, rows: list[pauses.Pause]
) -> datetime:
    """The latest of the run's start, its last activity and the end of its last pause (resuming
    is a sign of presence too)."""
    candidates = [started_at]
    if (seen := activity.last_activity(session, run_id)) is not None:
        candidates.append(seen)
    candidates += [
        p.ended_at for p in rows if p.ended_at is not None and p.reason != PauseReason.scoring
    ]
    return max(candidates)


def idle_since(
    session: Session, run_id: int, started_at: datetime, now: datetime, idle_after_s: float
) -> datetime | None:
    """When the run went idle, if it has been idle for ``idle_after_s`` by ``now``; else None."""
    rows = pauses.for_run(session, run_id)
    if any(p.ended_at is None and p.reason in HOLDING for p in rows):
        return None
    last = last_sign_of_work(session, run_id, started_at, rows)
    if now - last < timedelta(seconds=idle_after_s):
        return None
    return last


def open_if_idle(
    session: Session, run_id: int, started_at: datetime, now: datetime, idle_after_s: float
) -> pauses.Pause | None:
    """Open the idle pause from the last sign of work when due (the caller commits)."""
    since = idle_since(session, run_id, started_at, now, idle_after_s)
    if since is None:
        return None
    return pauses.pause(session, run_id, PauseReason.idle, since)


def end(session: Session, run_id: int, at: datetime) -> bool:
    """Activity at ``at`` ends an open idle pause (the caller commits); True if one was open."""
    return pauses.resume(session, run_id, PauseReason.idle, at)


def excluded_s(rows: list[pauses.Pause], now: datetime) -> float:
    """Seconds the idle rule has taken off so far (idle pauses only, overlaps merged)."""
    idle = [p for p in rows if p.reason == PauseReason.idle]
    if not idle:
        return 0.0
    start = min(p.started_at for p in idle)
    return (now - start).total_seconds() - pauses.working_seconds(start, idle, now)
