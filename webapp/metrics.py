"""What ``GET /metrics`` tells Prometheus.

Several app processes share one database behind a reverse proxy, and a scrape reaches whichever
process the proxy picks. So the shared state (runs, the checkpoint queue, scoring times, hosts)
is read from the database at scrape time, with a few GROUP BY queries on indexed columns: every
process answers the same numbers. What only this process knows (the IDE sockets it carries, the
leases it holds) carries a ``process`` label (``host:pid``), so the series of several processes
can be told apart and summed.
"""

import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from importlib import metadata

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import Float, and_, case, cast, extract, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from baselines.checkpoints import PENDING, Checkpoint, CheckpointStatus
from baselines.runs import LIVE, Run
from fleet.hosts import Host, HostStatus
from webapp.ide.proxy import OpenTraffic
from webapp.job_lease import LeaseKeeper

log = logging.getLogger("baseliner.metrics")

# Scoring runs a task's scorer (RE-Bench's time out after 600 s); the wait adds the queue and
# retries with backoff, so its buckets reach further.
SCORING_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0)
WAIT_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 4 * 3600.0)
FINISHED = (CheckpointStatus.scored, CheckpointStatus.invalid, CheckpointStatus.error)
WAITING_FOR_RETRY = "waiting_for_retry"


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _version() -> str:
    try:
        return metadata.version("baseliner")
    except metadata.PackageNotFoundError:
        return "unknown"


class StateCollector(Collector):
    """Builds every ``baseliner_*`` family afresh on each scrape."""

    def __init__(
        self,
        engine: Engine,
        traffic: OpenTraffic,
        leases: dict[str, LeaseKeeper],
        now: Callable[[], datetime],
    ) -> None:
        self.engine, self.traffic, self.leases, self.now = engine, traffic, leases, now
        self.process = process_name()

    def collect(self) -> Iterator[Metric]:
        yield from self._this_process()
        try:
            with Session(self.engine) as session:
                shared, reached = list(_shared_state(session, self.now())), 1
        except SQLAlchemyError:
            log.warning("metrics: the database did not answer", exc_info=True)
            shared, reached = [], 0
        up = GaugeMetricFamily(
            "baseliner_database_up", "1 if this scrape could read the database, else 0."
        )
        up.add_metric([], reached)
        yield up
        yield from shared

    def _this_process(self) -> Iterator[Metric]:
        info = InfoMetricFamily("baseliner", "This app process: its version and name.")
        info.add_metric([], {"version": _version(), "process": self.process})
        yield info
        sockets = GaugeMetricFamily(
            "baseliner_ide_websockets_open",
            "IDE WebSockets open through this process.",
            labels=["process"],
        )
        sockets.add_metric([self.process], self.traffic.websockets)
        yield sockets
        streams = GaugeMetricFamily(
            "baseliner_ide_http_streams_open",
            "IDE HTTP responses this process is streaming now.",
            labels=["process"],
        )
        streams.add_metric([self.process], self.traffic.http_streams)
        yield streams
        held = GaugeMetricFamily(
            "baseliner_lease_held",
            "1 if this process holds the lease, so runs its background job (scoring, the "
            "scheduler, the task tunnels).",
            labels=["lease", "process"],
        )
        for name, keeper in sorted(self.leases.items()):
            held.add_metric([name, self.process], 1 if keeper.held.is_set() else 0)
        yield held


def _shared_state(session: Session, now: datetime) -> Iterator[Metric]:
    yield from _runs(session)
    yield from _queue(session, now)
    yield from _finished(session)
    yield _histogram(
        session,
        "baseliner_checkpoint_scoring_seconds",
        "Seconds each stored result took to score (scored and invalid checkpoints, all time).",
        Checkpoint.scoring_seconds,
        Checkpoint.scoring_seconds.is_not(None),
        SCORING_BUCKETS,
    )
    yield _histogram(
        session,
        "baseliner_checkpoint_wait_seconds",
        "Seconds from a checkpoint's submission to its stored result: the queue, retries and "
        "scoring (all time).",
        _seconds_between(session, Checkpoint.submitted_at, Checkpoint.scored_at),
        Checkpoint.scored_at.is_not(None),
        WAIT_BUCKETS,
    )
    yield from _hosts(session, now)


def _counts(session: Session, key: ColumnElement, where: ColumnElement) -> dict[str, int]:
    rows = session.execute(select(key, func.count()).where(where).group_by(key)).all()
    return {str(k): n for k, n in rows}


def _runs(session: Session) -> Iterator[Metric]:
    counts = _counts(session, Run.status, Run.status.in_(LIVE))
    gauge = GaugeMetricFamily("baseliner_runs", "Live runs by status.", labels=["status"])
    for status in LIVE:
        gauge.add_metric([status.value], counts.get(status.value, 0))
    yield gauge


def _queue(session: Session, now: datetime) -> Iterator[Metric]:
    """Pending checkpoints: ready to score, backing off after an unreachable host, or scoring."""
    state = case(
        (
            and_(Checkpoint.status == CheckpointStatus.queued, Checkpoint.not_before > now),
            WAITING_FOR_RETRY,
        ),
        else_=Checkpoint.status,
    )
    counts = _counts(session, state, Checkpoint.status.in_(PENDING))
    gauge = GaugeMetricFamily(
        "baseliner_checkpoint_queue", "Checkpoints not yet scored, by state.", labels=["status"]
    )
    for status in ("queued", WAITING_FOR_RETRY, "scoring"):
        gauge.add_metric([status], counts.get(status, 0))
    yield gauge
    oldest = session.execute(
        select(func.min(Checkpoint.submitted_at)).where(Checkpoint.status.in_(PENDING))
    ).scalar()
    age = GaugeMetricFamily(
        "baseliner_checkpoint_queue_oldest_seconds",
        "Age of the oldest checkpoint not yet scored (0 when none waits).",
    )
    age.add_metric([], max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
    yield age


def _finished(session: Session) -> Iterator[Metric]:
    counts = _counts(session, Checkpoint.status, Checkpoint.status.in_(FINISHED))
    counter = CounterMetricFamily(
        "baseliner_checkpoints_finished",
        "Checkpoints with their final result, by result.",
        labels=["status"],
    )
    for status in FINISHED:
        counter.add_metric([status.value], counts.get(status.value, 0))
    yield counter


def _seconds_between(session: Session, start, end) -> ColumnElement:
    if session.get_bind().dialect.name == "postgresql":
        return cast(extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _histogram(
    session: Session,
    name: str,
    text: str,
    value: ColumnElement,
    where: ColumnElement,
    buckets: Iterable[float],
) -> Metric:
    """A cumulative histogram counted by the database in one pass (each bucket a SUM), so it
    only grows and Prometheus's rate() gives any recent window."""
    bounds = list(buckets)
    row = session.execute(
        select(
            func.count(),
            func.sum(value),
            *(func.sum(case((value <= bound, 1), else_=0)) for bound in bounds),
        ).where(where)
    ).one()
    count, total, *below = row
    pairs = [(floatToGoString(b), float(n or 0)) for b, n in zip(bounds, below, strict=True)]
    pairs.append(("+Inf", float(count)))
    return HistogramMetricFamily(name, text, buckets=pairs, sum_value=float(total or 0.0))


def _hosts(session: Session, now: datetime) -> Iterator[Metric]:
    rows = session.execute(select(Host.name, Host.status, Host.last_seen).order_by(Host.name)).all()
    by_status = GaugeMetricFamily("baseliner_hosts", "GPU hosts by status.", labels=["status"])
    for status in HostStatus:
        by_status.add_metric([status.value], sum(1 for r in rows if r.status == status))
    yield by_status
    up = GaugeMetricFamily(
        "baseliner_host_up",
        "1 if the host's last health check passed (ready or draining), 0 if it is down.",
        labels=["host"],
    )
    seen = GaugeMetricFamily(
        "baseliner_host_last_seen_age_seconds",
        "Seconds since the host last answered a health check (+Inf: never).",
        labels=["host"],
    )
    for row in rows:
        up.add_metric([row.name], 0 if row.status == HostStatus.down else 1)
        age = (now - row.last_seen).total_seconds() if row.last_seen else float("inf")
        seen.add_metric([row.name], age)
    yield up
    yield seen


def registry(
    engine: Engine,
    traffic: OpenTraffic,
    leases: dict[str, LeaseKeeper],
    now: Callable[[], datetime],
) -> CollectorRegistry:
    """One app's registry (not the library's global one: a test makes many apps), with the
    standard process and Python collectors beside ours."""
    registry = CollectorRegistry()
    registry.register(StateCollector(engine, traffic, leases, now))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry
