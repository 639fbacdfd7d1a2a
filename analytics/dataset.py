"""The score-over-time dataset: human runs read live from runs and checkpoints, and imported runs,
as the exact ``runs`` and ``score_log`` columns of the design (one schema for humans and agents).

Rows are plain dicts with Python values (aware UTC datetimes, floats, JSON values for message and
details); analytics.formats writes them as CSV, Parquet or JSONL. Humans are pseudonymous: their
participant_id is a keyed hash of the account (analytics.participants), and nothing else about
the person is read.

``comparable`` is false for a run scored without the task's GPU (a GPU-less fleet's CPU mode):
its scores are on no common scale with the others, so it has no normalised score and counts as
0 unless the analyst leaves such runs out. Imported runs keep what their file said (empty: not
said).

``condition`` is the scoring condition a run's scores were made under (e.g. "model: <name>": the
operator's model; its last valid score's), and each score-log entry's own; empty for none. Scores
under different conditions are on different scales and are never pooled: the analyses take each
(task, condition) as an entry of its own (analytics.conditions), and a run counts only its
entries under its own condition.

Human cost_usd is working hours times the expert's hourly rate at the run's start (the environment's
own rate if set, else the general one), in whole cents. Rates in another currency are not
converted (no exchange rate is known here): such runs have no cost_usd.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, select

from analytics.imported import ImportedRun, ImportedScore
from analytics.participants import participant_id
from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.runs import Run
from payments.amounts import amount_cents
from payments.rates import ExpertRate, rate_at
from timetracking.limits import LimitExtension
from timetracking.pauses import Pause, working_seconds

RUN_COLUMNS = (
    "run_id",
    "task_id",
    "task_family",
    "task_version",
    "agent",
    "participant_id",
    "started_at",
    "finished_at",
    "time_limit_s",
    "working_s",
    "status",
    "final_score",
    "final_score_normalized",
    "cost_usd",
    "source",
    # False: scored without the task's GPU (CPU mode), so not comparable with runs that had it;
    # empty: an import that did not say.
    "comparable",
    # The scoring condition (e.g. "model: <name>") of the run's last valid score; empty: none.
    # Runs under different conditions are never pooled (analytics.conditions).
    "condition",
)
SCORE_LOG_COLUMNS = (
    "run_id",
    "task_id",
    "agent",
    "elapsed_s",
    "scored_at",
    "score",
    "score_normalized",
    "valid",
    "message",
    "details",
    "condition",
)
HUMAN = "human"
BASELINER = "baseliner"
HUMAN_RUN_PREFIX = "baseliner-"
# Statuses of a run still going (ours, Vivaria's, Inspect's); any other status has ended.
LIVE_STATUSES = frozenset(
    {
        "provisioning",
        "active",
        "stopping",
        "running",
        "paused",
        "queued",
        "setting-up",
        "concurrency-limited",
        "started",
    }
)
# Checkpoints with a result: queued, scoring and error ones have none (yet).
RESULT_STATUSES = (CheckpointStatus.scored, CheckpointStatus.invalid)


@dataclass(frozen=True)
class Filters:
    """Which runs to include. Dates compare with started_at: since <= started_at < until."""

    tasks: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    # Runs whose work periods a coordinator replaced (timetracking.overrides).
    include_overridden: bool = True
    # GPU task runs scored without a GPU: their scores are not comparable with the others.
    include_cpu_mode: bool = True
    # One scoring condition's runs only ("" those under none); None: every condition.
    condition: str | None = None

    def keeps(self, row: dict[str, Any]) -> bool:
        if self.tasks and row["task_id"] not in self.tasks:
            return False
        if self.agents and row["agent"] not in self.agents:
            return False
        if self.sources and row["source"] not in self.sources:
            return False
        started = row["started_at"]
        if self.since is not None and (started is None or started < self.since):
            return False
        return not (self.until is not None and (started is None or started >= self.until))


def has_ended(row: dict[str, Any]) -> bool:
    """Whether a dataset run has ended (its scores can no longer change)."""
    return row["finished_at"] is not None or (row["status"] or "") not in LIVE_STATUSES


def human_run_id(run_pk: int) -> str:
    return f"{HUMAN_RUN_PREFIX}{run_pk}"


def _human_runs(
    session: Session, key: str | bytes, now: datetime, filters: Filters
) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    if filters.sources and BASELINER not in filters.sources:
        return [], {}
    if filters.agents and HUMAN not in filters.agents:
        return [], {}
    query = select(Run).where(Run.started_at.is_not(None)).order_by(Run.id)
    if filters.tasks:
        query = query.where(Run.environment.in_(filters.tasks))
    if not filters.include_overridden:
        query = query.where(Run.overridden.is_(False))
    if not filters.include_cpu_mode:
        query = query.where(Run.cpu_mode.is_(False))
    runs = list(session.exec(query))
    if not runs:
        return [], {}
    ids = [r.id for r in runs]
    pauses: dict[int, list[Pause]] = defaultdict(list)
    for pause in session.exec(select(Pause).where(Pause.run_id.in_(ids))):
        pauses[pause.run_id].append(pause)
    extended = dict(
        session.exec(
            select(LimitExtension.run_id, func.sum(LimitExtension.seconds))
            .where(LimitExtension.run_id.in_(ids))
            .group_by(LimitExtension.run_id)
        ).all()
    )
    rates: dict[int, list[ExpertRate]] = defaultdict(list)
    experts = sorted({r.expert_id for r in runs})
    rate_query = (
        select(ExpertRate)
        .where(ExpertRate.expert_id.in_(experts))
        .order_by(ExpertRate.effective_from, ExpertRate.id)
    )
    for rate in session.exec(rate_query):
        rates[rate.expert_id].append(rate)
    rows: list[dict[str, Any]] = []
    by_pk: dict[int, dict[str, Any]] = {}
    for run in runs:
        worked = working_seconds(run.started_at, pauses[run.id], now, run.finished_at)
        rate = rate_at(rates[run.expert_id], run.environment, run.started_at)
        if rate is None and rates[run.expert_id]:
            rate = rate_at(rates[run.expert_id], run.environment, now)
        cost = None
        if rate is not None and rate.currency == "USD":
            cost = amount_cents(round(worked), rate.hourly_cents) / 100
        limit = None
        if run.time_limit_s is not None:
            limit = run.time_limit_s + int(extended.get(run.id) or 0)
        family = run.environment.partition("/")[0]
        row = {
            "run_id": human_run_id(run.id),
            "task_id": run.environment,
            "task_family": family,
            "task_version": run.environment_version or None,
            "agent": HUMAN,
            "participant_id": participant_id(key, run.expert_id),
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "time_limit_s": limit,
            "working_s": worked,
            "status": str(run.status),
            "final_score": run.final_score,
            "final_score_normalized": run.final_score_normalized,
            "cost_usd": cost,
            "source": BASELINER,
            "comparable": not run.cpu_mode,
            "condition": None,  # its last valid checkpoint's, filled in by load()
        }
        if filters.keeps(row):
            rows.append(row)
            by_pk[run.id] = row
    return rows, by_pk


def _imported_runs(
    session: Session, filters: Filters, taken: set[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    query = select(ImportedRun).order_by(ImportedRun.id)
    if filters.tasks:
        query = query.where(ImportedRun.task_id.in_(filters.tasks))
    if filters.agents:
        query = query.where(ImportedRun.agent.in_(filters.agents))
    if filters.sources:
        query = query.where(ImportedRun.source.in_(filters.sources))
    if not filters.include_cpu_mode:
        query = query.where(or_(ImportedRun.comparable.is_(None), ImportedRun.comparable))
    rows: list[dict[str, Any]] = []
    by_pk: dict[int, dict[str, Any]] = {}
    for run in session.exec(query):
        # A re-imported export of this portal's own humans: the live rows win.
        if (run.source, run.run_id) in taken:
            continue
        row = {name: getattr(run, name) for name in RUN_COLUMNS}
        if filters.keeps(row):
            rows.append(row)
            by_pk[run.id] = row
    return rows, by_pk


def _order(row: dict[str, Any]) -> tuple:
    return (row["task_id"], row["agent"] != HUMAN, row["agent"], row["source"], row["run_id"])


def load(
    session: Session, *, key: str | bytes, now: datetime, filters: Filters | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both tables, filtered alike: (runs, score_log), ordered by task, agent (humans first),
    source and run_id, and each run's entries in the order they were submitted."""
    filters = filters or Filters()
    human_rows, human_pks = _human_runs(session, key, now, filters)
    taken = {(r["source"], r["run_id"]) for r in human_rows}
    imported_rows, imported_pks = _imported_runs(session, filters, taken)
    entries: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if human_pks:
        query = (
            select(Checkpoint)
            .where(Checkpoint.run_id.in_(list(human_pks)), Checkpoint.status.in_(RESULT_STATUSES))
            .order_by(Checkpoint.run_id, Checkpoint.seq)
        )
        for row in session.exec(query):
            run = human_pks[row.run_id]
            if row.valid and row.score is not None:  # the run's condition: its last valid one's
                run["condition"] = row.condition or None
            entries[run["run_id"]].append(
                {
                    "run_id": run["run_id"],
                    "task_id": run["task_id"],
                    "agent": run["agent"],
                    "elapsed_s": row.working_s,
                    "scored_at": row.scored_at,
                    "score": row.score if row.valid else None,
                    "score_normalized": row.score_normalized if row.valid else None,
                    "valid": bool(row.valid),
                    "message": row.message,
                    "details": row.details,
                    "condition": row.condition or None,
                }
            )
    if imported_pks:
        query = (
            select(ImportedScore)
            .where(ImportedScore.run_pk.in_(list(imported_pks)))
            .order_by(ImportedScore.run_pk, ImportedScore.seq)
        )
        for row in session.exec(query):
            run = imported_pks[row.run_pk]
            entries[run["run_id"]].append(
                {
                    "run_id": run["run_id"],
                    "task_id": run["task_id"],
                    "agent": run["agent"],
                    "elapsed_s": row.elapsed_s,
                    "scored_at": row.scored_at,
                    "score": row.score,
                    "score_normalized": row.score_normalized,
                    "valid": row.valid,
                    "message": row.message,
                    "details": row.details,
                    "condition": row.condition or run["condition"] or None,
                }
            )
    runs = sorted(human_rows + imported_rows, key=_order)
    if filters.condition is not None:
        runs = [r for r in runs if (r["condition"] or "") == filters.condition]
    score_log = [entry for run in runs for entry in entries.get(run["run_id"], [])]
    return runs, score_log


def runs(
    session: Session, *, key: str | bytes, now: datetime, filters: Filters | None = None
) -> list[dict[str, Any]]:
    """The ``runs`` table."""
    return load(session, key=key, now=now, filters=filters)[0]


def score_log(
    session: Session, *, key: str | bytes, now: datetime, filters: Filters | None = None
) -> list[dict[str, Any]]:
    """The ``score_log`` table."""
    return load(session, key=key, now=now, filters=filters)[1]
