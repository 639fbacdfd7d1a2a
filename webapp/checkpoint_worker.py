"""The scoring worker: takes queued checkpoints from the database and scores each once.

It runs as a thread of the serve process, in the one process that holds the ``scoring`` lease
(webapp.job_lease), so several app processes never score at once. Everything it knows lives in
the database: whenever it takes the lease, it puts back in the queue what the previous holder
(a process that died, or lost the lease) left half-scored. A checkpoint is scored from its
snapshot, on a fresh copy on the run's host, through the task family; a host that cannot be
reached is retried with backoff and the checkpoint says "waiting for host" meanwhile. When a
run's queue empties the scoring pause ends; when its final submission is scored, the run's
final score is stored and its workspace stopped.
"""

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from baselines import checkpointing, checkpoints, condition_scores
from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.errors import DomainError
from baselines.runs import LIVE, Run
from fleet import snapshots, task_runs, workspaces
from fleet.drivers.base import HostError
from fleet.hosts import Host, HostStatus
from webapp.job_lease import LeaseKeeper
from webapp.settings import Settings

# A scorer that could not run is tried this many times in all: a fault of the platform is
# seldom cured by waiting, and the run's clock stays paused while its checkpoint is pending.
PLATFORM_FAULT_ATTEMPTS = 2
log = logging.getLogger("baseliner.scoring")
# A scoring whose result never came back is retried after this long (its process died).
ABANDONED_AFTER = timedelta(seconds=0)
WAITING_FOR_HOST = "waiting for host"


class CheckpointWorker:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        jobs,  # webapp.workspace_jobs.WorkspaceJobs: connections, and stopping runs
        now: Callable[[], datetime],
        poll_s: float = 1.0,
    ) -> None:
        self.engine, self.settings, self.jobs, self.now = engine, settings, jobs, now
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: int | None = None  # the checkpoint being scored now
        self.lease = LeaseKeeper(engine, "scoring", now, on_taken=self._resume_abandoned)

    def start(self) -> None:
        self.lease.start()
        self._thread = threading.Thread(target=self._loop, name="scoring", daemon=True)
        self._thread.start()

    def _resume_abandoned(self) -> None:
        with Session(self.engine) as session:
            back = checkpoints.requeue_abandoned(
                session, self.now(), ABANDONED_AFTER, keep=self._current
            )
        if back:
            log.info("resuming %d checkpoint(s) a previous process left unscored", back)
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self.lease.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.lease.held.is_set():  # another process scores
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            try:
                worked = self.run_once()
            except Exception:  # never let one bad checkpoint stop the queue
                log.exception("scoring worker error")
                worked = False
            if not worked:
                self._wake.wait(self.poll_s)
                self._wake.clear()

    def run_once(self) -> bool:
        """Score one queued checkpoint if there is one; True if one was taken."""
        with Session(self.engine) as session:
            row = checkpoints.claim(session, self.now())
            if row is None:
                return False
            self._current = row.id
            try:
                self._score(session, row)
            finally:
                self._current = None
            self._after(session, row.run_id)
        return True

    def _score(self, session: Session, row: Checkpoint) -> None:
        run = session.get(Run, row.run_id)
        host = session.get(Host, run.host_id) if run.host_id else None
        try:
            task = checkpointing.run_task(session, self.settings, run)
        except DomainError as exc:
            self._store_error(session, row, f"the environment is gone: {exc.message}")
            return
        if host is None or run.status not in LIVE:
            self._store_error(session, row, "the run's workspace is gone; it cannot be scored")
            return
        if host.status == HostStatus.down:
            self._retry(session, row, f"{WAITING_FOR_HOST} {host.name}: {host.status_reason}")
            return
        connections = self.jobs.connections
        try:
            installed = task_runs.install_for(connections.backend(host), task.launch)
            place = workspaces.task_place(connections, run, host)
            result = task_runs.score(
                place,
                installed,
                task.launch.task,
                fresh_copy=task.launch.paths_from_home,
                snapshot=snapshots.path_for(
                    checkpointing.snapshot_store(self.settings), row.snapshot_sha256
                ),
            )
        except HostError as exc:
            self._retry(session, row, f"{WAITING_FOR_HOST} {host.name}: {exc}")
            return
        if result.status == "fault":  # the scorer itself could not run: ours, not the expert's
            self._platform_fault(session, row, result)
            return
        status = CheckpointStatus.scored if result.valid else CheckpointStatus.invalid
        # Normalised on the scale of the condition it was scored under (the task's own, or a
        # coordinator's calibration for another model); none there: valid, not comparable.
        normalized = condition_scores.normalised(
            session, run.environment, task.meta, result.condition, result.score
        )
        checkpoints.record_result(
            session,
            row,
            status=status,
            score=result.score,
            normalized=normalized if result.comparable else None,
            message=result.message,
            details=result.details,
            output=result.output,
            seconds=result.seconds,
            comparable=result.comparable and not run.cpu_mode,
            now=self.now(),
            condition=result.condition,
        )
        session.commit()

    def _platform_fault(self, session: Session, row: Checkpoint, result) -> None:
        """A scorer that could not run (permission, a missing interpreter, a crash of its own)
        is recorded as an error with the reason, tried once more, and never counted as an
        invalid submission in the score log or the dataset."""
        reason = str(result.message.get("error") or "the scorer could not run")
        row.output = result.output[-20_000:]
        if row.attempts < PLATFORM_FAULT_ATTEMPTS:
            self._retry(session, row, reason)
            return
        log.warning("checkpoint %s of run %s: %s", row.seq, row.run_id, reason)
        self._store_error(session, row, f"{reason} (a fault of the platform, not of the work)")

    def _retry(self, session: Session, row: Checkpoint, reason: str) -> None:
        if not checkpoints.retry_later(session, row, reason, self.now()):
            log.warning("checkpoint %s of run %s gave up: %s", row.seq, row.run_id, reason)
        session.commit()

    def _store_error(self, session: Session, row: Checkpoint, reason: str) -> None:
        row.status, row.message, row.last_error = CheckpointStatus.error, {"error": reason}, reason
        session.add(row)
        session.commit()

    def _after(self, session: Session, run_id: int) -> None:
        checkpointing.after_scoring(session, self.settings, self.jobs, run_id, self.now())
