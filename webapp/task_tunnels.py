"""Which process the workspaces' `task` commands reach: the one holding the ``task-tunnels`` lease.

A workspace's `task` command reaches the portal through a reverse SSH tunnel that lives in one
app process. With several processes, a tunnel in a process that dies leaves its workspaces'
`task` commands unable to score. So one process, the lease holder, points every live workspace
at its own tunnel: all of them when it takes the lease (the previous holder died or stepped
down), and from then on each workspace another process started, within one interval. The
`task` command retries a refused connection for a while, so a takeover is a pause, not an error.
"""

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from baselines.runs import Run, RunStatus
from webapp.job_lease import LeaseKeeper

log = logging.getLogger("baseliner.tunnels")


class TaskTunnels:
    def __init__(
        self,
        engine: Engine,
        jobs,  # webapp.workspace_jobs.WorkspaceJobs: connections and the task command setup
        now: Callable[[], datetime],
        interval_s: float = 5.0,
    ) -> None:
        self.engine, self.jobs, self.interval_s = engine, jobs, interval_s
        self._pointed: set[int] = set()  # live runs whose `task` reaches this process
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lease = LeaseKeeper(engine, "task-tunnels", now, on_taken=self._forget)

    def _forget(self) -> None:
        with self._lock:
            self._pointed.clear()

    def start(self) -> None:
        self.lease.start()
        self._thread = threading.Thread(target=self._loop, name="task-tunnels", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            if self.lease.held.is_set():
                try:
                    self.point_new()
                except Exception:  # the database or a host may be away for a moment
                    log.exception("could not point task commands at this process")
            if self._stop.wait(self.interval_s):
                return

    def point_new(self) -> list[int]:
        """Point every live run not yet pointed here at this process's tunnel; their ids."""
        with Session(self.engine) as session:
            live = session.exec(select(Run.id).where(Run.status == RunStatus.active)).all()
        with self._lock:
            self._pointed &= set(live)
            todo = [run_id for run_id in live if run_id not in self._pointed]
        done = self.jobs.repoint_task_commands(todo).result()
        with self._lock:
            self._pointed |= set(done)
        if done:
            log.info("task commands of %d run(s) now reach this process", len(done))
        return done

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.lease.close()
