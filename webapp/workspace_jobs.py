"""Starting and stopping workspaces, and preparing hosts, in the background, so pages answer
at once.

The portal owns one thread pool and one set of host connections (app.state.fleet). Jobs open
their own database sessions; pages poll the run's status (or the host's families).
"""

import logging
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from baselines import run_states, workspace_loss
from baselines.runs import Run, RunStatus
from fleet import workspaces
from fleet.connections import Connections
from fleet.drivers.base import HostError
from fleet.hosts import Host
from fleet.task_command_setup import TaskCommandSetup
from fleet.task_runs import TaskLaunch
from timetracking.utc import utcnow

log = logging.getLogger("baseliner.fleet")


class WorkspaceJobs:
    def __init__(
        self,
        engine: Engine,
        data_dir: Path,
        prefix: str,
        workers: int = 8,
        task_command: TaskCommandSetup | None = None,
        forward_bind: str = "127.0.0.1",
    ) -> None:
        self.engine = engine
        self.task_command = task_command
        self.archive_dir = data_dir / "archives"
        self.connections = Connections(prefix, forward_bind)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="workspace")
        # One queue per run (its id) and per host being prepared (("host", id)).
        self._running: dict[int | tuple[str, int], Future] = {}
        self._lock = threading.Lock()

    def start(
        self,
        run_id: int,
        launch: TaskLaunch | None = None,
        files: Path | None = None,
        gpu_count: int = 0,
    ) -> Future:
        def job() -> None:
            try:
                workspaces.start(
                    self.engine,
                    self.connections,
                    run_id,
                    launch=launch,
                    files=files,
                    gpu_count=gpu_count,
                    now=utcnow,
                    task_command=self.task_command,
                )
            finally:
                if files is not None:
                    shutil.rmtree(files, ignore_errors=True)

        return self._submit(run_id, job)

    def advance(self, run_id: int, launch: TaskLaunch | None) -> Future:
        """Ask a pending run's scheduler whether its job runs yet; once it does, its task is
        started and the run becomes active (fleet.workspaces.advance_pending)."""

        def job() -> None:
            workspaces.advance_pending(
                self.engine,
                self.connections,
                run_id,
                now=utcnow,
                launch=launch,
                task_command=self.task_command,
            )

        return self._submit(run_id, job)

    def stop(self, run_id: int, reason: str = "") -> Future:
        def job() -> None:
            workspaces.stop(
                self.engine,
                self.connections,
                run_id,
                archive_dir=self.archive_dir,
                now=utcnow,
                reason=reason,
            )

        return self._submit(run_id, job)

    def restart(self, run_id: int) -> Future:
        def job() -> None:
            workspaces.restart(self.engine, self.connections, run_id)
            with Session(self.engine) as session:
                run = session.get(Run, run_id)
                if run is not None and run.status_reason.startswith("Restarting the IDE failed"):
                    self._check(session, run, utcnow())  # a workspace that is gone says so

        return self._submit(run_id, job)

    def relaunch(self, run_id: int, launch: TaskLaunch | None, snapshot: Path | None) -> Future:
        """A lost run's new workspace from its last checkpoint's snapshot; the clock runs
        again once the IDE answers (baselines.workspace_loss)."""

        def job() -> None:
            why = workspaces.relaunch(
                self.engine,
                self.connections,
                run_id,
                now=utcnow,
                launch=launch,
                snapshot=snapshot,
                task_command=self.task_command,
            )
            with Session(self.engine) as session:
                run = session.get(Run, run_id)
                host = session.get(Host, run.host_id) if run.host_id else None
                if why:
                    workspace_loss.restart_failed(session, run, host.name if host else "?", why)
                else:
                    workspace_loss.recovered(session, run, utcnow())

        return self._submit(run_id, job)

    def find_lost(self, now: datetime) -> list[int]:
        """Ask each live workspace's host whether it still exists; a lost one pauses its clock
        and says why. Runs with a job under way (a start, a restart) are asked next time. The
        runs found lost now."""
        lost = []
        with Session(self.engine) as session:
            runs = session.exec(
                select(Run).where(
                    Run.status == RunStatus.active,
                    Run.lost_at.is_(None),
                    Run.host_id.is_not(None),
                )
            ).all()
            for run in runs:
                if self.busy(run.id):
                    continue
                if self._check(session, run, now):
                    lost.append(run.id)
        return lost

    def _check(self, session: Session, run: Run, now: datetime) -> bool:
        host = session.get(Host, run.host_id)
        try:
            why = workspaces.gone(self.connections, run, host)
        except HostError as exc:  # an unreachable host is the host check's to report
            log.info("run %s: could not ask %s about its workspace: %s", run.id, host.name, exc)
            return False
        if not why:
            return False
        session.refresh(run)  # a Stop may have come meanwhile
        if workspaces.ended_by_scheduler(self.connections, host):
            # A scheduler ended the job (its time limit, a node failure, a preemption, a
            # scancel): the run ends with its reason, the task folder archived where it is.
            if run.status == RunStatus.active:
                log.warning("run %s: the cluster ended its workspace: %s", run.id, why)
                self.request_stop(session, run, f"The cluster ended the workspace: {why}")
            return False
        if workspace_loss.mark_lost(session, run, host.name, why, now):
            log.warning("run %s: its workspace on %s was lost: %s", run.id, host.name, why)
            return True
        return False

    def retry_cleanups(self, now: datetime) -> list[int]:
        """Try again every failed clean-up that is due; the runs cleaned up now."""
        with Session(self.engine) as session:
            due = workspaces.due_cleanups(session, now)
        done = []
        for run_id in due:
            cleaned = workspaces.clean_up(
                self.engine, self.connections, run_id, archive_dir=self.archive_dir, now=now
            )
            if cleaned:
                done.append(run_id)
        return done

    def repoint_task_commands(self, run_ids: list[int]) -> Future:
        """Point these live runs' `task` commands at this process's tunnels (webapp.task_tunnels
        says when); the future's result is the ids that were pointed."""

        def job() -> list[int]:
            done: list[int] = []
            if self.task_command is None:
                return done
            with Session(self.engine) as session:
                for run_id in run_ids:
                    run = session.get(Run, run_id)
                    if run is None or run.status != RunStatus.active:
                        continue
                    host = session.get(Host, run.host_id)
                    try:
                        driver = self.connections.driver(host)
                        place = workspaces.task_place(self.connections, run, host)
                        self.task_command.repoint(host, driver, place)
                        done.append(run_id)
                    except Exception as exc:  # one unreachable host must not stop the rest
                        log.warning("run %s: could not repoint its task command: %s", run.id, exc)
            return done

        return self._pool.submit(job)

    def request_stop(self, session: Session, run: Run, reason: str) -> Future:
        """Mark a live run as stopping and queue the stop; a run already ending is a Conflict
        (baselines.run_states.IllegalMove)."""
        run_states.move(session, run, RunStatus.stopping, reason=reason, now=utcnow())
        session.commit()
        return self.stop(run.id, reason)

    def prepare_host(self, host_id: int, actor_id: int | None, environment_dirs: str) -> Future:
        """Install every catalogued family on the host (``preparation.begin`` has marked them
        pending), committing each outcome as it comes; if the host stops answering or the job
        fails, the families left say why."""

        def job() -> None:
            from baselines.users import User
            from environments.catalogue import discover
            from fleet import preparation
            from fleet.drivers.base import HostUnreachable

            with Session(self.engine) as session:
                host = session.get(Host, host_id)
                if host is None:
                    return
                actor = session.get(User, actor_id) if actor_id is not None else None
                try:
                    preparation.prepare(
                        session,
                        host,
                        self.connections.driver(host),
                        discover(environment_dirs),
                        actor,
                        utcnow(),
                        clock=utcnow,
                        commit_each=True,
                    )
                    session.commit()
                except Exception as exc:
                    if isinstance(exc, HostUnreachable):
                        said = f"not installed: {host.name} did not answer: {exc}"
                    else:
                        log.exception("preparing host %s failed", host_id)
                        said = f"not installed: the Prepare stopped ({type(exc).__name__}: {exc})"
                    session.rollback()
                    preparation.abandon(session, host_id, said, utcnow())
                    session.commit()

        return self._submit(("host", host_id), job)

    def _submit(self, key: int | tuple[str, int], job) -> Future:
        with self._lock:
            previous = self._running.get(key)

            def after_previous() -> None:
                if previous is not None:
                    previous.exception()  # one job at a time per run, in order
                job()

            future = self._pool.submit(after_previous)
            self._running[key] = future
            return future

    def busy(self, key: int | tuple[str, int]) -> bool:
        """Whether a job of this run (a start, stop, restart), or of ("host", id), is queued
        or under way."""
        future = self._running.get(key)
        return future is not None and not future.done()

    def wait(self, key: int | tuple[str, int], timeout: float | None = None) -> None:
        """Block until the run's (or ("host", id)'s) last job is done (tests and the CLI)."""
        future = self._running.get(key)
        if future is not None:
            future.result(timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
        self.connections.close()
