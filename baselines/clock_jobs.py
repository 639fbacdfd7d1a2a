"""The clock's scheduled jobs: idle runs get their idle pause, runs past their limit end.

Both are idempotent and keep their state in the database (pauses, the final checkpoint), so a
job that runs twice, late, or in a process that took over after a crash does the right thing:
the idle pause starts at the last sign of work, and the limit pause at the instant the limit was
reached, whenever the job notices.
"""

import logging
from datetime import datetime, timedelta

from sqlmodel import Session, func, select

from baselines import checkpointing
from baselines.errors import DomainError
from baselines.run_settings import RunSettings as Settings
from baselines.runs import Run, RunStatus
from timetracking import clock, idle, limits, pauses
from timetracking.activity import Activity
from timetracking.pauses import PauseReason

log = logging.getLogger("baseliner.clock")


def _working_runs(session: Session) -> list[Run]:
    """Active runs whose clock can still run: started, final submission not in."""
    query = select(Run).where(
        Run.status == RunStatus.active, Run.started_at.is_not(None), Run.submitted_at.is_(None)
    )
    return list(session.exec(query.order_by(Run.id)))


def idle_after_s(session: Session, settings: Settings, run: Run, cache: dict[str, int]) -> int:
    """The environment's own idle_after_s, else the platform's."""
    if run.environment not in cache:
        try:
            own = checkpointing.run_task(session, settings, run).meta.idle_after_s
        except DomainError:
            own = None
        cache[run.environment] = own or settings.idle_after_s
    return cache[run.environment]


def _last_activity(session: Session, runs: list[Run]) -> dict[int, datetime]:
    """Each run's latest activity, in one query (the job runs every few seconds over every
    live run; per-run queries made it thousands of statements a round)."""
    query = (
        select(Activity.run_id, func.max(Activity.last_at))
        .where(Activity.run_id.in_([r.id for r in runs]))
        .group_by(Activity.run_id)
    )
    return dict(session.exec(query).all()) if runs else {}


def find_idle(session: Session, settings: Settings, now: datetime) -> list[int]:
    """Open an idle pause on every run idle for its ``idle_after``; the runs paused now."""
    paused, cache = [], {}
    runs = _working_runs(session)
    latest = _last_activity(session, runs)
    for run in runs:
        after = idle_after_s(session, settings, run, cache)
        seen = latest.get(run.id)
        if seen is not None and now - seen < timedelta(seconds=after):
            continue  # worked within idle_after: cannot be idle (its last sign is no earlier)
        if idle.open_if_idle(session, run.id, run.started_at, now, after) is not None:
            session.commit()
            paused.append(run.id)
            log.info("run %s idle for %ss: clock paused from the last activity", run.id, after)
    return paused


def end_at_limit(session: Session, settings: Settings, connections, now: datetime) -> list[int]:
    """Stop the clock of every run past its limit at the instant it was reached, and queue its
    final checkpoint (the scoring worker ends the run once it is scored); the runs handled."""
    ended = []
    for run in _working_runs(session):
        if run.time_limit_s is None or now - run.started_at < timedelta(seconds=run.time_limit_s):
            continue  # working time is at most the time since the start: the limit is ahead
        limit = clock.limit_s(session, run)
        if limit is None:
            continue
        rows = pauses.for_run(session, run.id)
        reached = limits.crossing(run.started_at, rows, limit, now)
        if reached is None:
            continue
        pauses.pause(session, run.id, PauseReason.limit, reached)
        session.commit()
        try:
            checkpointing.submit(
                session,
                settings,
                connections,
                run,
                source="limit",
                now=now,
                final=True,
                at_limit=True,
            )
        except DomainError as exc:  # the host may be unreachable: the next round tries again
            session.rollback()
            log.warning(
                "run %s reached its limit; final checkpoint not taken yet: %s", run.id, exc.message
            )
            continue
        ended.append(run.id)
        log.info("run %s reached its time limit at %s", run.id, reached.isoformat())
    return ended
