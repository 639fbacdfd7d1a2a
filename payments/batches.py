"""Payout batches: approved timesheets of a pay period, priced, reviewed, approved and paid once.

A batch starts as a draft of one line per approved, unpaid timesheet of the period. Finance
reviews it, approves it, then pays it: by Stripe transfers when Stripe is configured, or by
marking it paid after a bank run made from the CSV. The database enforces "paid at most once":
a timesheet has at most one payout line (a unique key), and a line moves to ``paying`` by one
conditional UPDATE, so of twenty simultaneous Pay clicks exactly one pays each line; the Stripe
idempotency key, derived from the line, makes even a retried transfer a single transfer.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, String, UniqueConstraint, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from baselines import audit
from baselines.errors import Conflict, DomainError, NotFound
from baselines.users import User
from payments import pricing
from timetracking.timesheets import Timesheet, TimesheetStatus
from timetracking.utc import UTCDateTime


class Method(StrEnum):
    csv = "csv"  # a bank run made from the export; finance marks the batch paid
    stripe = "stripe"  # a Stripe Connect transfer per line


class BatchStatus(StrEnum):
    draft = "draft"
    approved = "approved"
    paid = "paid"  # every line paid


class LineStatus(StrEnum):
    pending = "pending"
    paying = "paying"
    paid = "paid"
    failed = "failed"


class PayoutBatch(SQLModel, table=True):
    __tablename__ = "payout_batches"

    id: int | None = Field(default=None, primary_key=True)
    period_start: date
    period_end: date
    method: Method = Field(sa_type=String(8))
    status: BatchStatus = Field(default=BatchStatus.draft, sa_type=String(16), index=True)
    created_by_id: int = Field(foreign_key="users.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    approved_by_id: int | None = Field(default=None, foreign_key="users.id")
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PayoutLine(SQLModel, table=True):
    __tablename__ = "payout_lines"
    # The rule this module exists for: a timesheet is paid at most once.
    __table_args__ = (UniqueConstraint("timesheet_id", name="uq_payout_line_timesheet"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="payout_batches.id", index=True)
    timesheet_id: int = Field(foreign_key="timesheets.id")
    expert_id: int = Field(foreign_key="users.id", index=True)
    seconds: int
    currency: str = Field(max_length=3)
    amount_cents: int
    # [{environment, hourly_cents, seconds, amount_cents}, …]: how the amount was made.
    parts: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    status: LineStatus = Field(default=LineStatus.pending, sa_type=String(16), index=True)
    reference: str = Field(default="", max_length=200)  # tr_… or the bank run's reference
    failure: str = Field(default="", max_length=2000)
    retryable: bool = True
    attempts: int = 0
    # Bumped when Stripe refused a transfer for good under the current key (it keeps that answer
    # for the key), so the next attempt is a new request; a timeout keeps the key, and its retry
    # replays whatever Stripe did.
    key_round: int = 0
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def idempotency_key(self) -> str:
        """The same line is always the same transfer, however often it is retried."""
        base = f"baseliner-payout-line-{self.id}"
        return f"{base}-{self.key_round}" if self.key_round else base


def get(session: Session, batch_id: int) -> PayoutBatch:
    batch = session.get(PayoutBatch, batch_id)
    if batch is None:
        raise NotFound("No such payout batch.")
    return batch


def lines(session: Session, batch_id: int) -> list[PayoutLine]:
    query = select(PayoutLine).where(PayoutLine.batch_id == batch_id).order_by(PayoutLine.id)
    return list(session.exec(query))


def payable(session: Session, period_start: date) -> list[Timesheet]:
    """Approved timesheets of the period that no batch holds yet."""
    taken = select(PayoutLine.timesheet_id)
    query = select(Timesheet).where(
        Timesheet.period_start == period_start,
        Timesheet.status == TimesheetStatus.approved,
        Timesheet.id.not_in(taken),
    )
    return list(session.exec(query.order_by(Timesheet.expert_id)))


def build(
    session: Session, period_start: date, method: Method, actor: User, now: datetime
) -> tuple[PayoutBatch, list[str]]:
    """A draft batch of the period's payable timesheets (committed); the sheets left out, each
    with why (no rate known). Conflict when another batch took them at the same moment."""
    sheets = payable(session, period_start)
    if not sheets:
        raise DomainError(
            f"No approved, unpaid timesheets for the period starting {period_start:%Y-%m-%d}.",
            field="period",
        )
    batch = PayoutBatch(
        period_start=period_start,
        period_end=sheets[0].period_end,
        method=method,
        created_by_id=actor.id,
        created_at=now,
    )
    session.add(batch)
    session.flush()
    skipped = []
    for sheet in sheets:
        try:
            priced = pricing.price(session, sheet)
        except pricing.Unpriced as exc:
            skipped.append(f"timesheet {sheet.id} (expert {sheet.expert_id}): {exc.message}")
            continue
        session.add(
            PayoutLine(
                batch_id=batch.id,
                timesheet_id=sheet.id,
                expert_id=sheet.expert_id,
                seconds=priced.seconds,
                currency=priced.currency,
                amount_cents=priced.amount_cents,
                parts=priced.parts_json(),
                updated_at=now,
            )
        )
    if len(skipped) == len(sheets):
        session.rollback()
        raise DomainError("No timesheet could be priced: " + "; ".join(skipped), field="period")
    audit.record(
        session,
        actor_id=actor.id,
        action="payout_batch.create",
        obj=batch,
        now=now,
        after={"period_start": period_start.isoformat(), "method": method, "skipped": skipped},
    )
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("Another batch took these timesheets a moment ago; open it.") from exc
    return batch, skipped


def _move_batch(
    session: Session, batch: PayoutBatch, before: BatchStatus, after: BatchStatus, **values
) -> bool:
    moved = session.execute(
        update(PayoutBatch)
        .where(PayoutBatch.id == batch.id, PayoutBatch.status == before)
        .values(status=after, **values)
    )
    return moved.rowcount == 1


def approve(session: Session, batch: PayoutBatch, actor: User, now: datetime) -> None:
    if not _move_batch(
        session,
        batch,
        BatchStatus.draft,
        BatchStatus.approved,
        approved_by_id=actor.id,
        approved_at=now,
    ):
        session.rollback()
        raise Conflict(f"This batch is {get(session, batch.id).status}; only a draft is approved.")
    audit.record(session, actor_id=actor.id, action="payout_batch.approve", obj=batch, now=now,
                 before={"status": "draft"}, after={"status": "approved"})  # fmt: skip
    session.commit()


def discard(session: Session, batch: PayoutBatch, actor: User, now: datetime) -> None:
    """A draft goes away and its timesheets become payable again."""
    if batch.status != BatchStatus.draft:
        raise Conflict("Only a draft batch can be discarded.")
    for line in lines(session, batch.id):
        session.delete(line)
    session.flush()  # the lines go before the batch they point at
    audit.record(session, actor_id=actor.id, action="payout_batch.discard", obj=batch, now=now,
                 before={"status": "draft"})  # fmt: skip
    session.delete(batch)
    session.commit()


def claim(session: Session, line: PayoutLine, now: datetime) -> bool:
    """Take a line for paying: one conditional UPDATE, so only one request ever pays it."""
    taken = session.execute(
        update(PayoutLine)
        .where(
            PayoutLine.id == line.id,
            (PayoutLine.status == LineStatus.pending)
            | ((PayoutLine.status == LineStatus.failed) & PayoutLine.retryable),
        )
        .values(status=LineStatus.paying, attempts=PayoutLine.attempts + 1, updated_at=now)
    )
    session.commit()
    return taken.rowcount == 1


def settle(
    session: Session,
    line: PayoutLine,
    actor: User | None,
    now: datetime,
    *,
    reference: str = "",
    failure: str = "",
    retryable: bool = True,
    new_key: bool = False,
) -> None:
    """Record a claimed line's outcome: paid with its reference, or failed with the reason."""
    session.refresh(line)
    before = {"status": str(line.status)}
    if failure:
        line.status, line.failure, line.retryable = LineStatus.failed, failure, retryable
        line.key_round += 1 if new_key else 0
    else:
        line.status, line.reference, line.paid_at, line.failure = (
            LineStatus.paid,
            reference,
            now,
            "",
        )
    line.updated_at = now
    session.add(line)
    audit.record(
        session,
        actor_id=actor.id if actor else None,
        action="payout_line.paid" if not failure else "payout_line.failed",
        obj=line,
        now=now,
        before=before,
        after={"status": str(line.status), "reference": line.reference, "failure": failure,
               "amount_cents": line.amount_cents, "currency": line.currency},
    )  # fmt: skip
    session.commit()
    close_if_paid(session, line.batch_id, now)


def close_if_paid(session: Session, batch_id: int, now: datetime) -> None:
    if all(line.status == LineStatus.paid for line in lines(session, batch_id)):
        batch = get(session, batch_id)
        if _move_batch(session, batch, BatchStatus.approved, BatchStatus.paid, paid_at=now):
            session.commit()
