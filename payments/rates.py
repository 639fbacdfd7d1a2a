"""An expert's hourly rate over time: a new rate applies from when it is set, old ones are kept."""

from datetime import datetime

from sqlmodel import Field, Session, SQLModel, select

from baselines import audit
from baselines.errors import DomainError
from baselines.users import User
from payments.money import check_currency
from timetracking.utc import UTCDateTime

MAX_HOURLY_CENTS = 100_000_00


class ExpertRate(SQLModel, table=True):
    __tablename__ = "expert_rates"

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(foreign_key="users.id", index=True)
    hourly_cents: int
    currency: str = Field(max_length=3)
    effective_from: datetime = Field(sa_type=UTCDateTime)
    set_by_id: int | None = Field(default=None, foreign_key="users.id")


def set_rate(
    session: Session, expert: User, hourly_cents: int, currency: str, actor: User, now: datetime
) -> ExpertRate:
    if hourly_cents <= 0 or hourly_cents > MAX_HOURLY_CENTS:
        raise DomainError("The hourly rate must be above 0 and at most 100,000.", field="rate")
    currency = check_currency(currency)
    previous = current_rate(session, expert.id)
    row = ExpertRate(
        expert_id=expert.id,
        hourly_cents=hourly_cents,
        currency=currency,
        effective_from=now,
        set_by_id=actor.id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="rate.set",
        obj=row,
        now=now,
        before={"hourly_cents": previous.hourly_cents, "currency": previous.currency}
        if previous
        else None,
        after={"expert_id": expert.id, "hourly_cents": hourly_cents, "currency": currency},
    )
    return row


def current_rate(session: Session, expert_id: int) -> ExpertRate | None:
    query = (
        select(ExpertRate)
        .where(ExpertRate.expert_id == expert_id)
        .order_by(ExpertRate.effective_from.desc(), ExpertRate.id.desc())
    )
    return session.exec(query).first()


def current_rates(session: Session) -> dict[int, ExpertRate]:
    """Each expert's latest rate, for listing pages."""
    rates: dict[int, ExpertRate] = {}
    query = select(ExpertRate).order_by(ExpertRate.effective_from, ExpertRate.id)
    for row in session.exec(query):
        rates[row.expert_id] = row
    return rates
