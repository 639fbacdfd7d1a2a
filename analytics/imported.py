"""Agent runs (and runs from elsewhere) brought in from files: stored in tables of their own.

Human runs are read live from runs and checkpoints; imported runs are kept as they came, keyed by
(source, run_id) so importing the same file again replaces the runs instead of adding copies.
Their tasks need not be installed here.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from timetracking.utc import UTCDateTime


class ImportedRun(SQLModel, table=True):
    __tablename__ = "analytics_runs"
    __table_args__ = (UniqueConstraint("source", "run_id", name="uq_analytics_run_source"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32, index=True)  # 'vivaria', 'inspect', 'csv', 'baseliner'
    run_id: str = Field(max_length=200)  # as the source names it, unique per source
    task_id: str = Field(max_length=200, index=True)  # "<family>/<task>"
    task_family: str = Field(max_length=200)
    task_version: str | None = Field(default=None, max_length=200)
    agent: str = Field(max_length=200, index=True)
    participant_id: str | None = Field(default=None, max_length=200)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    time_limit_s: int | None = None
    working_s: float | None = None
    status: str | None = Field(default=None, max_length=64)
    final_score: float | None = None
    final_score_normalized: float | None = None
    cost_usd: float | None = None
    # False: scored without the task's GPU (not comparable); None: the file did not say.
    comparable: bool | None = None
    # The scoring condition (e.g. "model: <name>"); None or "": none. Never pooled with another.
    condition: str | None = Field(default=None, max_length=200)
    imported_at: datetime = Field(sa_type=UTCDateTime)


class ImportedScore(SQLModel, table=True):
    """One entry of an imported run's score log, in the order the file gave."""

    __tablename__ = "analytics_score_log"
    __table_args__ = (UniqueConstraint("run_pk", "seq", name="uq_analytics_score_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    run_pk: int = Field(foreign_key="analytics_runs.id", index=True)
    seq: int
    elapsed_s: float
    scored_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    score: float | None = None
    score_normalized: float | None = None
    valid: bool = False
    # Any JSON value (Vivaria and Baseliner give an object, Inspect an explanation's text).
    message: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    details: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    condition: str | None = Field(default=None, max_length=200)
