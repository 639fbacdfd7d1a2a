"""Background jobs of the portal process: the host health check every minute."""

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine
from sqlmodel import Session

from fleet import health
from fleet.connections import Connections
from timetracking.utc import utcnow

log = logging.getLogger("baseliner.scheduler")


def check_hosts(engine: Engine, connections: Connections) -> None:
    with Session(engine) as session:
        try:
            health.check_all(session, connections, utcnow())
        except Exception:  # a broken check must not stop the next one
            log.exception("host health check failed")


def start(engine: Engine, connections: Connections, every_s: int) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        check_hosts,
        "interval",
        seconds=every_s,
        args=(engine, connections),
        id="host-health",
        max_instances=1,
        coalesce=True,
        next_run_time=utcnow(),
    )
    scheduler.start()
    return scheduler
