"""The score log: every checkpoint an expert submits, queued in the database and scored once.

A checkpoint is made when the expert asks (``task score``, the portal's Score now, the final
``task submit``): its snapshot is already stored, its working time is the server's. Workers claim
queued checkpoints from the table (row locks with SKIP LOCKED on PostgreSQL; one worker on
SQLite), one at a time per run and in order, so a crash or restart resumes the queue and every
checkpoint ends with exactly one result.
"""

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, String, Text, UniqueConstraint, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from baselines import model_usage
from baselines.errors import Conflict
from baselines.runs import Run
from timetracking.utc import UTCDateTime

MAX_ATTEMPTS = 6
NOTE_MAX = 10_000


class CheckpointStatus(StrEnum):
    queued = "queued"
    scoring = "scoring"
    scored = "scored"
    invalid = "invalid"
    error = "error"


PENDING = (CheckpointStatus.queued, CheckpointStatus.scoring)


class Checkpoint(SQLModel, table=True):
    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_checkpoint_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    seq: int
    source: str = Field(max_length=16)  # cli, portal, submit, limit
    final: bool = False  # the submission that ends the run
    submitted_at: datetime = Field(sa_type=UTCDateTime)
    working_s: float  # working seconds at submission, from the run's pauses
    snapshot_sha256: str = Field(max_length=64)
    snapshot_bytes: int = 0
    status: CheckpointStatus = Field(
        default=CheckpointStatus.queued, sa_type=String(16), index=True
    )
    attempts: int = 0
    last_error: str = Field(default="", max_length=2000)
    not_before: datetime | None = Field(default=None, sa_type=UTCDateTime)  # retry backoff
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    scored_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    scoring_seconds: float | None = None
    score: float | None = None
    score_normalized: float | None = None
    valid: bool = False
    comparable: bool = True  # False: scored without the task's GPU
    # The scoring condition the family reported (e.g. "model: <name>"; "" for none): scores
    # under different conditions are calibrated apart and never pooled.
    condition: str = Field(
        default="", sa_column=Column(String(200), nullable=False, server_default="")
    )
    message: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    output: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class Note(SQLModel, table=True):
    """One entry of the run's research log."""

    __tablename__ = "notes"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    working_s: float
    text: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(max_length=16)  # cli, portal


def log(session: Session, run_id: int) -> list[Checkpoint]:
    query = select(Checkpoint).where(Checkpoint.run_id == run_id).order_by(Checkpoint.seq)
    return list(session.exec(query))


def get(session: Session, run_id: int, seq: int) -> Checkpoint | None:
    query = select(Checkpoint).where(Checkpoint.run_id == run_id, Checkpoint.seq == seq)
    return session.exec(query).first()


def pending(session: Session, run_id: int) -> int:
    query = (
        select(func.count())
        .select_from(Checkpoint)
        .where(Checkpoint.run_id == run_id, Checkpoint.status.in_(PENDING))
    )
    return session.exec(query).one()


def submit(
    session: Session,
    run_id: int,
    *,
    now: datetime,
    working_s: float,
    snapshot_sha256: str,
    snapshot_bytes: int,
    source: str,
    final: bool = False,
    with_it: Callable[[], None] | None = None,
) -> Checkpoint:
    """Queue a checkpoint and commit; its seq is the run's next (unique, so two submissions at
    the same moment get two numbers, never one: on PostgreSQL they queue on the run's row lock,
    on SQLite writers take turns anyway, and a lost race retries)."""
    for attempt in range(20):
        try:
            if session.get_bind().dialect.name == "postgresql":
                session.exec(select(Run.id).where(Run.id == run_id).with_for_update()).one()
            if with_it is not None:  # what must be committed together with the checkpoint
                with_it()
            last = session.exec(
                select(func.max(Checkpoint.seq)).where(Checkpoint.run_id == run_id)
            ).one()
            details = development_model(session, run_id, last, now)
            row = Checkpoint(
                run_id=run_id,
                seq=(last or 0) + 1,
                source=source,
                final=final,
                submitted_at=now,
                working_s=working_s,
                snapshot_sha256=snapshot_sha256,
                snapshot_bytes=snapshot_bytes,
                details=details,
            )
            session.add(row)
            session.commit()
            return row
        except IntegrityError:
            session.rollback()
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # let the winner finish
    raise Conflict("Too many checkpoints at once; try again.")


def claim(session: Session, now: datetime) -> Checkpoint | None:
    """Take the oldest queued checkpoint whose run has none being scored, mark it scoring and
    commit; None when there is nothing to do. Safe with several workers on PostgreSQL."""
    busy = select(Checkpoint.run_id).where(Checkpoint.status == CheckpointStatus.scoring)
    query = (
        select(Checkpoint)
        .where(Checkpoint.status == CheckpointStatus.queued)
        .where((Checkpoint.not_before.is_(None)) | (Checkpoint.not_before <= now))
        .where(Checkpoint.run_id.not_in(busy))
        .order_by(Checkpoint.run_id, Checkpoint.seq)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = session.exec(query).first()
    if row is None:
        session.rollback()
        return None
    # Earlier checkpoints of the run come first, even when this one's retry is due sooner.
    earlier = session.exec(
        select(func.count())
        .select_from(Checkpoint)
        .where(Checkpoint.run_id == row.run_id, Checkpoint.seq < row.seq)
        .where(Checkpoint.status.in_(PENDING))
    ).one()
    if earlier:
        session.rollback()
        return None
    row.status, row.claimed_at = CheckpointStatus.scoring, now
    row.attempts += 1
    session.add(row)
    session.commit()
    return row


DEVELOPMENT_MODEL = "development_model"


def development_model(
    session: Session, run_id: int, last_seq: int | None, now: datetime
) -> dict[str, Any]:
    """What the run used of the development model (the portal's gateway) since its previous
    checkpoint, kept in the checkpoint's details under ``development_model`` (the dataset
    exports details); nothing for a run that never called it."""
    if not model_usage.has_any(session, run_id):
        return {}
    since = None
    if last_seq:
        since = session.exec(
            select(Checkpoint.submitted_at).where(
                Checkpoint.run_id == run_id, Checkpoint.seq == last_seq
            )
        ).one()
    return {DEVELOPMENT_MODEL: model_usage.window(session, run_id, since, now)}


def record_result(
    session: Session,
    row: Checkpoint,
    *,
    status: CheckpointStatus,
    score: float | None,
    normalized: float | None,
    message: dict[str, Any],
    details: dict[str, Any],
    output: str,
    seconds: float,
    comparable: bool,
    now: datetime,
    condition: str = "",
) -> None:
    row.status = status
    row.score, row.score_normalized = score, normalized
    row.valid = status == CheckpointStatus.scored
    if DEVELOPMENT_MODEL in row.details:  # recorded at submission; the scorer's details add to it
        details = {**details, DEVELOPMENT_MODEL: row.details[DEVELOPMENT_MODEL]}
    row.message, row.details, row.output = message, details, output[-20_000:]
    row.scoring_seconds, row.scored_at, row.comparable = seconds, now, comparable
    row.condition = condition
    row.last_error = ""
    session.add(row)


def retry_later(session: Session, row: Checkpoint, error: str, now: datetime) -> bool:
    """Put a checkpoint whose host could not be reached back in the queue, with backoff
    (30 s, 1, 2, 4, 8 min); after MAX_ATTEMPTS it ends as an error. True if it will retry."""
    row.last_error = error[:2000]
    if row.attempts >= MAX_ATTEMPTS:
        row.status = CheckpointStatus.error
        row.message = {"error": f"scoring failed {row.attempts} times: {error}"}
        session.add(row)
        return False
    row.status = CheckpointStatus.queued
    row.not_before = now + timedelta(seconds=30 * 2 ** (row.attempts - 1))
    session.add(row)
    return True


def requeue_abandoned(
    session: Session, now: datetime, older_than: timedelta, keep: int | None = None
) -> int:
    """Checkpoints left 'scoring' by a process that died: back to the queue (each is still
    scored once: only a finished scoring stores a result). ``keep``: the one this process is
    scoring itself."""
    rows = session.exec(
        select(Checkpoint)
        .where(Checkpoint.status == CheckpointStatus.scoring)
        .where(Checkpoint.claimed_at <= now - older_than)
        .where(Checkpoint.id != (keep or 0))
    ).all()
    for row in rows:
        row.status = CheckpointStatus.queued
        row.attempts = max(row.attempts - 1, 0)  # the interrupted try does not count
        session.add(row)
    session.commit()
    return len(rows)


def add_note(
    session: Session, run_id: int, text: str, *, now: datetime, working_s: float, source: str
) -> Note:
    text = text.replace("\x00", "").strip()
    if not text:
        raise Conflict("A note needs some text.", field="text")
    if len(text) > NOTE_MAX:
        raise Conflict(f"A note holds at most {NOTE_MAX} characters.", field="text")
    row = Note(run_id=run_id, created_at=now, working_s=working_s, text=text, source=source)
    session.add(row)
    session.flush()
    return row


def notes(session: Session, run_id: int) -> list[Note]:
    query = select(Note).where(Note.run_id == run_id).order_by(Note.created_at, Note.id)
    return list(session.exec(query))


def run_condition(rows: list[Checkpoint]) -> str:
    """A run's scoring condition: that of its last valid checkpoint ("" when none)."""
    valid = [r for r in rows if r.valid and r.score is not None]
    return valid[-1].condition if valid else ""


def under_run_condition(rows: list[Checkpoint]) -> list[Checkpoint]:
    """The checkpoints scored under the run's condition (its last valid one's): a run's final
    score never pools scores made under different conditions (another model)."""
    condition = run_condition(rows)
    return [r for r in rows if r.condition == condition]


def final_score(
    rows: list[Checkpoint], aggregation: str, direction: str | None,
    family_aggregate: Callable[[list[dict]], float | None] | None = None,
) -> float | None:  # fmt: skip
    """The run's score from its log: the best valid score (by the task's direction), the last
    valid one, or the family's ``aggregate_scores``, over the checkpoints under the run's
    condition only. Comparable scores win over CPU-mode ones."""
    rows = under_run_condition(rows)
    valid = [r for r in rows if r.valid and r.score is not None]
    if aggregation == "family" and family_aggregate is not None:
        return family_aggregate([entry(r) for r in rows])
    pool = [r for r in valid if r.comparable] or valid
    if not pool:
        return None
    if aggregation == "last":
        return pool[-1].score
    scores = [r.score for r in pool]
    return min(scores) if direction == "lower" else max(scores)


def entry(row: Checkpoint) -> dict[str, Any]:
    """A score log entry in METR's shape, for ``aggregate_scores`` and the dataset."""
    return {
        "score": row.score if row.valid else float("nan"),
        "message": row.message,
        "details": row.details,
        "elapsed_s": row.working_s,
        "scored_at": row.scored_at.isoformat() if row.scored_at else None,
    }
