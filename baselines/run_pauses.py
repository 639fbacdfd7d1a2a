"""The expert's own Pause and Resume: one rule set, whether the portal's buttons or ``task
pause`` / ``task resume`` in the workspace asked.

Only an active run's clock can be paused (a run still starting or waiting on the cluster has no
clock yet; an ending or ended one has stopped for good). Resume lifts only what the expert may
lift (timetracking.pause_reasons) and counts as a sign of work, which also ends an idle pause.
"""

from datetime import datetime

from sqlmodel import Session

from baselines.errors import Conflict, DomainError
from baselines.runs import OPEN, Run, RunStatus
from timetracking import activity, pause_reasons, pauses
from timetracking.pauses import PauseReason


class RunEnded(DomainError):
    """410 Gone: the run is stopping or over; nothing about its clock can change."""

    status_code = 410


def check_clock_open(run: Run) -> None:
    """Refuse unless the run's clock is there to pause or resume."""
    if run.status not in OPEN:
        raise RunEnded(f"This run has ended ({run.status}).")
    if run.status != RunStatus.active:
        raise Conflict(f"This run is {run.status}; its clock is not running.")


def pause(session: Session, run: Run, now: datetime) -> None:
    """Open the expert's pause (one at most) and commit."""
    check_clock_open(run)
    pauses.pause(session, run.id, PauseReason.manual, now)
    session.commit()


def resume(session: Session, run: Run, now: datetime, source: str) -> list[PauseReason]:
    """End the pauses the expert may end and record activity from ``source`` (``portal``,
    ``cli``); returns the reasons the clock is still stopped for (empty: it runs)."""
    check_clock_open(run)
    for reason in pause_reasons.expert_lifted():
        pauses.resume(session, run.id, reason, now)
    session.commit()
    activity.record(session, run.id, now, source)  # pressing Resume is a sign of work
    return pauses.paused_by(session, run.id)
