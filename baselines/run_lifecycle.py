"""A run's operations as people ask for them: Start, Stop and Restart IDE. Routes, the
coordinator's pages and jobs call these; the web layer only queues the work they hand back
(webapp.workspace_jobs runs it in its threads).

The status moves themselves are baselines.run_states'; checkpoint submission, the final score
and the restart of a lost workspace are baselines.checkpointing's; Pause and Resume are
baselines.run_pauses'.
"""

from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from baselines import assignments, checkpointing, run_audit, workspace_loss
from baselines.assignments import Assignment
from baselines.errors import Conflict, DomainError
from baselines.run_settings import RunSettings
from baselines.runs import OPEN, Run, RunStatus
from baselines.users import User
from environments import task_settings, workspace_files
from environments.catalogue import discover
from fleet import task_runs


class StopQueue(Protocol):
    """Where a Stop is carried out (webapp.workspace_jobs.WorkspaceJobs)."""

    def request_stop(self, session: Session, run: Run, reason: str) -> object: ...


def begin(
    session: Session, settings: RunSettings, assignment: Assignment, user: User, now: datetime
) -> tuple[Run, task_runs.TaskLaunch | None]:
    """The assignment's live run (no launch: nothing to start), or a new run and what to start
    in it; refuses a task its coordinator has not finished setting up. A refusal leaves the new
    run uncommitted, so it goes with the session."""
    run, new = assignments.begin_run(session, assignment, user, now)
    if not new:
        return run, None
    try:
        ref = workspace_files.find(discover(settings.environment_dirs), assignment.environment)
    except DomainError as exc:
        raise DomainError(f"{exc.message} Ask your coordinator.") from exc
    meta = task_settings.effective(session, ref.family, ref.task)
    if not task_settings.is_ready(meta):
        missing = ", ".join(task_settings.missing(meta))
        raise Conflict(f"{ref.name} cannot start yet: its coordinator has still to set {missing}.")
    run.environment_version = ref.family.version
    session.commit()
    return run, task_runs.launch_for(ref.family, ref.task, meta)


def stop(
    session: Session,
    settings: RunSettings,
    jobs: StopQueue,
    run: Run,
    *,
    actor: User,
    now: datetime,
) -> bool:
    """A person's Stop: audited as theirs, then the run ends once its queued checkpoints are
    scored (checkpointing.end_run). True when the stop was queued now, False when it waits for
    the queue; IllegalMove (409) for a run already ending or ended."""
    by = "the expert" if actor.id == run.expert_id else f"{actor.role} {actor.name}"
    reason = f"Stopped by {by}."
    if run.status in OPEN:  # end_run refuses the others, and they audit nothing
        before, after = {"status": str(run.status)}, {"status": "stopping", "reason": reason}
        run_audit.record(session, run, "run.stop", actor.id, now, before=before, after=after)
    return checkpointing.end_run(session, settings, jobs, run, reason, now)


def check_restart(run: Run) -> None:
    """Restart IDE relaunches a running workspace's IDE in place; anything else is refused."""
    if run.status != RunStatus.active:
        raise Conflict(f"Only a running workspace can be restarted; this one is {run.status}.")
    workspace_loss.refuse_if_lost(run, "Restart IDE")
