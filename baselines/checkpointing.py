"""Submitting a checkpoint, from the `task` command or the portal: one path for both.

The snapshot is taken now, on the run's host, so the checkpoint holds exactly what the folder
held when the expert asked; the working time is the server's, from the run's pauses. The clock
stops (reason ``scoring``) until the run's queue is empty again.
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from baselines import checkpoints, condition_scores, workspace_loss
from baselines.checkpoints import Checkpoint
from baselines.errors import Conflict, DomainError
from baselines.run_settings import RunSettings as Settings
from baselines.runs import Run, RunStatus
from environments import task_settings, workspace_files
from environments.catalogue import discover
from environments.family_calls import FamilyCallFailed, call_local
from environments.manifest import BaselinerMeta
from fleet import snapshots, task_runs, workspaces
from fleet.drivers.base import HostError
from fleet.hosts import Host
from timetracking import pause_reasons, pauses
from timetracking.pauses import PauseReason

log = logging.getLogger("baseliner.checkpoints")


class TooLarge(DomainError):
    status_code = 413


class NoRoom(DomainError):
    """507 Insufficient Storage: the platform's disk, not the expert's input."""

    status_code = 507


@dataclass(frozen=True)
class RunTask:
    """A run's task as the catalogue and the portal's numbers describe it now."""

    ref: workspace_files.TaskRef
    meta: BaselinerMeta
    launch: task_runs.TaskLaunch


def run_task(session: Session, settings: Settings, run: Run) -> RunTask:
    ref = workspace_files.find(discover(settings.environment_dirs), run.environment)
    meta = task_settings.effective(session, ref.family, ref.task)
    return RunTask(ref, meta, task_runs.launch_for(ref.family, ref.task, meta))


def working_s(session: Session, run: Run, now: datetime) -> float:
    return pauses.working_seconds(
        run.started_at, pauses.for_run(session, run.id), now, run.finished_at
    )


def snapshot_store(settings: Settings):
    return settings.data_dir / "snapshots"


def excludes(settings: Settings) -> tuple[str, ...]:
    return snapshots.excludes_with(settings.snapshot_excludes)


def submit(
    session: Session,
    settings: Settings,
    connections,
    run: Run,
    *,
    source: str,
    now: datetime,
    final: bool = False,
    at_limit: bool = False,
) -> Checkpoint:
    """Snapshot the task folder and queue it for scoring; refuses with the reason when the run
    cannot take a checkpoint now. ``at_limit``: the final checkpoint the time limit takes, on a
    clock already stopped."""
    if run.status != RunStatus.active:
        raise Conflict(f"This run is {run.status}; it takes no more checkpoints.")
    workspace_loss.refuse_if_lost(run, "Scoring")
    if run.submitted_at is not None:
        raise Conflict("This run's final submission is in; it takes no more checkpoints.")
    stopped = pause_reasons.blocking_scoring(pauses.paused_by(session, run.id))
    if stopped and not at_limit:
        raise Conflict(f"The clock is paused ({', '.join(stopped)}); resume it before scoring.")
    host = session.get(Host, run.host_id)
    place = workspaces.task_place(connections, run, host)
    try:
        snapshot = snapshots.take(
            place,
            snapshot_store(settings),
            excludes=excludes(settings),
            cap_bytes=settings.snapshot_max_mb * snapshots.MB,
        )
    except snapshots.SnapshotTooLarge as exc:
        raise TooLarge(exc.message) from exc
    except snapshots.StoreFull as exc:
        log.error("checkpoint of run %s refused: %s", run.id, exc)
        raise NoRoom(
            "The platform has no room left to store this checkpoint, so it was not taken."
            " Your work is safe in the workspace; tell your coordinator (the data dir is full)."
        ) from exc
    except HostError as exc:
        refuse_if_gone(session, connections, run, host, now)
        # The host's own words (tar's output, a shell error) are for the log and the staff;
        # the expert learns what happened and what to do.
        log.warning("checkpoint of run %s: reading the task folder on %s failed: %s",
                    run.id, host.name, exc)  # fmt: skip
        raise DomainError(
            "Your task folder could not be read, so no checkpoint was taken; your files are"
            " untouched. Try again in a minute; if it keeps failing, tell your coordinator."
        ) from exc
    row = checkpoints.submit(
        session,
        run.id,
        now=now,
        working_s=working_s(session, run, now),
        snapshot_sha256=snapshot.sha256,
        snapshot_bytes=snapshot.size,
        source=source,
        final=final,
        # The clock stops in the same transaction that queues the checkpoint, so the worker
        # can never end the scoring pause before it began.
        with_it=lambda: pauses.pause(session, run.id, PauseReason.scoring, now),
    )
    if final:
        run.submitted_at = now
        session.add(run)
    session.commit()
    return row


def refuse_if_gone(session: Session, connections, run: Run, host: Host, now: datetime) -> None:
    """After a failed snapshot: a workspace that is gone is recorded as lost at once (not at
    the poll job's next round) and the refusal names the loss instead of a shell error."""
    try:
        why = workspaces.gone(connections, run, host)
    except HostError:
        return
    if why:
        workspace_loss.mark_lost(session, run, host.name, why, now)
        workspace_loss.refuse_if_lost(run, "Scoring")


def end_run(
    session: Session, settings: Settings, jobs, run: Run, reason: str, now: datetime
) -> bool:
    """Stop a live run, its final score stored first; with checkpoints still queued the stop
    waits for them (the scoring worker calls this again when the queue is empty), so no
    checkpoint is ever lost to a stop. True when the stop was queued now."""
    if checkpoints.pending(session, run.id):
        run.stop_requested_at = run.stop_requested_at or now
        run.status_reason = reason
        session.add(run)
        session.commit()
        return False
    store_final_score(session, settings, run)
    jobs.request_stop(session, run, reason)
    return True


def after_scoring(session: Session, settings: Settings, jobs, run_id: int, now: datetime) -> None:
    """After a checkpoint is scored: with the run's queue empty the clock runs again, and a
    submitted run, or one whose stop waited for its checkpoints, ends."""
    if checkpoints.pending(session, run_id):
        return
    run = session.get(Run, run_id)
    pauses.resume(session, run_id, PauseReason.scoring, now)
    session.commit()
    if run.status != RunStatus.active:
        return
    if run.submitted_at is not None:
        at_limit = PauseReason.limit in pauses.paused_by(session, run_id)
        reason = "The time limit was reached." if at_limit else "Submitted by the expert."
        end_run(session, settings, jobs, run, reason, now)
    elif run.stop_requested_at is not None:
        end_run(session, settings, jobs, run, run.status_reason, now)


def store_final_score(session: Session, settings: Settings, run: Run) -> None:
    """The task's aggregation over the run's score log (best, last, or the family's own)."""
    rows = checkpoints.log(session, run.id)
    if not rows:
        return
    try:
        task = run_task(session, settings, run)
    except DomainError:
        return

    def family_aggregate(entries: list[dict]) -> float | None:
        try:
            return call_local(
                task.ref.family.path,
                task.ref.task.name,
                "aggregate",
                stdin=json.dumps(entries, default=str),
                timeout=60,
            )
        except FamilyCallFailed:
            return None

    meta = task.meta
    run.final_score = checkpoints.final_score(
        rows, meta.aggregation, meta.direction, family_aggregate
    )
    # A score timed without the task's GPU has no place on the task's scale, nor has one made
    # under a condition (another model) that has no y_s/y_r of its own.
    run.final_score_normalized = condition_scores.final_normalized(session, run, meta, rows)
    session.add(run)
    session.commit()


def restart_lost(session: Session, settings: Settings, jobs, run: Run) -> Checkpoint | None:
    """Queue a lost run's new workspace, its task folder as the last checkpoint left it (the
    task's starting files when there is none); returns that checkpoint. Refuses with the
    reason when the run is not lost, a restart is under way, or the snapshot is gone."""
    if run.status != RunStatus.active or run.lost_at is None:
        raise Conflict("This run's workspace is not lost; there is nothing to restart.")
    if jobs.busy(run.id):
        raise Conflict("The workspace is being restarted already; this page shows when it is.")
    last = workspace_loss.last_snapshot(session, run.id)
    snapshot = None
    if last is not None:
        snapshot = snapshots.path_for(snapshot_store(settings), last.snapshot_sha256)
        if not snapshot.is_file():
            raise Conflict(
                f"Checkpoint {last.seq}'s snapshot is missing from the platform's data dir, so"
                " the workspace cannot be restarted from it. Tell your coordinator."
            )
    launch = run_task(session, settings, run).launch
    what = f"checkpoint {last.seq}" if last else "the task's starting files (no checkpoint yet)"
    run.status_reason = f"Restarting your workspace from {what}…"
    session.add(run)
    session.commit()
    jobs.relaunch(run.id, launch, snapshot)
    return last
