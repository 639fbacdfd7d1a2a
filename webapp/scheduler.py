"""Background jobs of the serve process: host health, the clock (idle runs, reached limits),
timesheet periods, and live workspaces (lost ones noticed, failed clean-ups retried).

With several app processes on one database exactly one runs them: the one holding the
``scheduler`` lease (webapp.job_lease). Every process schedules the jobs; each job returns at
once in a process that does not hold the lease. The jobs keep their state in the database, so a
process that takes over carries on where the last one stopped.
"""

import logging
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine
from sqlmodel import Session

from baselines import checkpointing, clock_jobs
from baselines.errors import DomainError
from baselines.runs import Run
from fleet import health, hosts, workspaces
from fleet.drivers.base import HostError
from fleet.hosts import HostStatus
from timetracking import timesheets
from webapp.job_lease import LeaseKeeper
from webapp.settings import Settings

log = logging.getLogger("baseliner.scheduler")
ROLLOVER_EVERY_S = 600


class Scheduler:
    def __init__(
        self, engine: Engine, settings: Settings, jobs, scoring, now: Callable[[], datetime]
    ) -> None:
        self.engine, self.settings, self.jobs, self.scoring, self.now = (
            engine,
            settings,
            jobs,
            scoring,
            now,
        )
        self.lease = LeaseKeeper(engine, "scheduler", now)
        self._scheduler = BackgroundScheduler(timezone="UTC")

    def check_hosts(self) -> None:
        """Every host checked; on those that answer, what this installation left there that no
        run owns is removed (a sweep); starts abandoned by a dead process are failed."""
        with Session(self.engine) as session:
            health.check_all(session, self.jobs.connections, self.now())
            for host in hosts.all_hosts(session):
                if host.status != HostStatus.down:
                    try:
                        workspaces.sweep(session, self.jobs.connections, host)
                    except HostError as exc:
                        log.warning("sweeping %s failed: %s", host.name, exc)
        workspaces.fail_abandoned_starts(self.engine, self.jobs.connections, now=self.now)

    def clock(self) -> None:
        with Session(self.engine) as session:
            clock_jobs.find_idle(session, self.settings, self.now())
            if clock_jobs.end_at_limit(session, self.settings, self.jobs.connections, self.now()):
                self.scoring.wake()

    def workspaces(self) -> None:
        """Lost workspaces are noticed; failed clean-ups are tried again when due."""
        self.jobs.find_lost(self.now())
        self.jobs.retry_cleanups(self.now())

    def pending(self) -> None:
        """Runs waiting on a scheduler's queue: each is asked (in the background) whether its
        job runs yet, unless a job of that run is under way."""
        with Session(self.engine) as session:
            for run_id in workspaces.pending_runs(session):
                if self.jobs.busy(run_id):
                    continue
                run = session.get(Run, run_id)
                try:
                    launch = checkpointing.run_task(session, self.settings, run).launch
                except DomainError:  # started from a folder (no environment): nothing to start
                    launch = None
                self.jobs.advance(run_id, launch)

    def rollover(self) -> None:
        with Session(self.engine) as session:
            timesheets.rollover(session, self.now(), self.settings)

    def _leader_only(self, name: str, job: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            if not self.lease.held.is_set():
                return
            try:
                job()
            except Exception:  # a broken round must not stop the next one
                log.exception("scheduled job %s failed", name)

        return run

    def start(self) -> None:
        self.lease.start()
        every = {
            "host-health": (self.check_hosts, self.settings.health_interval_s),
            "clock": (self.clock, self.settings.clock_interval_s),
            "timesheet-rollover": (self.rollover, ROLLOVER_EVERY_S),
            "workspaces": (self.workspaces, self.settings.workspace_poll_s),
            "pending-workspaces": (self.pending, self.settings.pending_poll_s),
        }
        for name, (job, seconds) in every.items():
            self._scheduler.add_job(
                self._leader_only(name, job),
                "interval",
                seconds=seconds,
                id=name,
                max_instances=1,
                coalesce=True,
                next_run_time=self.now(),
            )
        self._scheduler.start()

    def close(self) -> None:
        self._scheduler.shutdown(wait=False)
        self.lease.close()
