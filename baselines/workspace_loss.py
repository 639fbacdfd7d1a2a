"""A workspace that vanished from its host behind the platform's back (another installation
removed its user, a host was rebuilt): what the run records, what it refuses, how it recovers.

The run stays active with its clock paused (reason ``lost``, which only a restart lifts), so no
working time is paid for a workspace that is not there, and every action on it answers with the
reason instead of failing on the missing files. A restart from the last checkpoint's snapshot
(fleet.workspaces.relaunch) brings it back; the clock then runs again.
"""

from datetime import datetime

from sqlmodel import Session, select

from baselines import run_notices
from baselines.checkpoints import Checkpoint
from baselines.errors import Conflict
from baselines.runs import Run, RunStatus
from timetracking import pauses
from timetracking.pauses import PauseReason


def mark_lost(session: Session, run: Run, host_name: str, why: str, now: datetime) -> bool:
    """Record the loss and stop the clock from ``now``; False when it was known already."""
    if run.lost_at is not None or run.status != RunStatus.active:
        return False
    run.lost_at = now
    run.status_reason = f"Your workspace on host {host_name} was lost: {why}."
    pauses.pause(session, run.id, PauseReason.lost, now)
    session.add(run)
    session.commit()
    return True


def refuse_if_lost(run: Run, action: str) -> None:
    """A Conflict naming the loss and the way out, for any action that needs the workspace."""
    if run.lost_at is not None:  # in words for the expert: the full reason is on the run page
        raise Conflict(
            f"{run_notices.for_expert(run).what} {action} needs the workspace. Restart it from"
            " the last checkpoint on the run page, or stop the run."
        )


def last_snapshot(session: Session, run_id: int) -> Checkpoint | None:
    """The run's latest checkpoint: its snapshot is what a restart puts back."""
    query = (
        select(Checkpoint)
        .where(Checkpoint.run_id == run_id, Checkpoint.snapshot_sha256 != "")
        .order_by(Checkpoint.seq.desc())
    )
    return session.exec(query).first()


def recovered(session: Session, run: Run, now: datetime) -> None:
    """The new workspace answers: the loss is over and the clock runs again."""
    run.lost_at = None
    run.status_reason = ""
    pauses.resume(session, run.id, PauseReason.lost, now)
    session.add(run)
    session.commit()


def restart_failed(session: Session, run: Run, host_name: str, why: str) -> None:
    """The restart did not bring it back: the run stays lost and says why."""
    run.status_reason = (
        f"Your workspace on host {host_name} was lost, and restarting it failed: {why}"
    )
    session.add(run)
    session.commit()
