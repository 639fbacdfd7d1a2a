"""An expert's hourly rate over time, optionally for one environment.

A rate applies from its ``effective_from`` instant on; later rates never replace earlier ones,
they follow them. What was approved is paid at the rates known when it was approved: a rate set
afterwards (``created_at`` later than the approval), even one effective from an earlier date,
does not reach back into it.
"""

from datetime import datetime

from sqlmodel import Field, Session, SQLModel, select

from baselines import audit
from baselines.errors import DomainError
from baselines.users import User
from payments.money import check_currency, parse_cents
from timetracking.utc import UTCDateTime

MAX_HOURLY_CENTS = 100_000_00
# The one answer to any hourly rate that is not one: it states the whole rule.
RATE_RULE = "Enter an hourly rate between 0.01 and 100,000.00, like 45 or 45.50."


class ExpertRate(SQLModel, table=True):
    __tablename__ = "expert_rates"

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(foreign_key="users.id", index=True)
    hourly_cents: int
    currency: str = Field(max_length=3)
    effective_from: datetime = Field(sa_type=UTCDateTime)
    # "<family>/<task>": the rate for that environment only; None: every other one.
    environment: str | None = Field(default=None, max_length=200)
    set_by_id: int | None = Field(default=None, foreign_key="users.id")
    # When it was set: approvals made before then never use it.
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def parse_rate(text: str, field: str = "rate") -> int:
    """What a person typed as an hourly rate, in cents; anything that is not a rate in range
    (empty, words, a sign, zero, too large, a third decimal) gets ``RATE_RULE``."""
    try:
        cents = parse_cents(text, field=field)
    except DomainError:
        cents = 0
    if not 0 < cents <= MAX_HOURLY_CENTS:
        raise DomainError(RATE_RULE, field=field)
    return cents


def set_rate(
    session: Session,
    expert: User,
    hourly_cents: int,
    currency: str,
    actor: User,
    now: datetime,
    *,
    effective_from: datetime | None = None,
    environment: str | None = None,
) -> ExpertRate:
    """Add a rate (audited, in the caller's transaction); it applies from ``effective_from``
    (now by default) to work not yet approved."""
    if hourly_cents <= 0 or hourly_cents > MAX_HOURLY_CENTS:
        raise DomainError(RATE_RULE, field="rate")
    currency = check_currency(currency)
    environment = (environment or "").strip() or None
    others = [r for r in history(session, expert.id) if r.currency != currency]
    if others:
        raise DomainError(
            f"{expert.name} is paid in {others[-1].currency}; a rate must use the same currency.",
            field="currency",
        )
    previous = current_rate(session, expert.id, environment)
    row = ExpertRate(
        expert_id=expert.id,
        hourly_cents=hourly_cents,
        currency=currency,
        effective_from=effective_from or now,
        environment=environment,
        set_by_id=actor.id,
        created_at=now,
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
        after={
            "expert_id": expert.id,
            "hourly_cents": hourly_cents,
            "currency": currency,
            "effective_from": row.effective_from.isoformat(),
            "environment": environment,
        },
    )
    return row


def history(session: Session, expert_id: int) -> list[ExpertRate]:
    query = (
        select(ExpertRate)
        .where(ExpertRate.expert_id == expert_id)
        .order_by(ExpertRate.effective_from, ExpertRate.id)
    )
    return list(session.exec(query))


def rate_at(
    rows: list[ExpertRate], environment: str, at: datetime, known_by: datetime | None = None
) -> ExpertRate | None:
    """The rate for work in ``environment`` at ``at``, among those set by ``known_by``: the
    environment's own if it has one in effect, else the general one."""

    def latest(candidates: list[ExpertRate]) -> ExpertRate | None:
        return max(candidates, key=lambda r: (r.effective_from, r.id), default=None)

    usable = [
        r
        for r in rows
        if r.effective_from <= at
        and (known_by is None or r.created_at is None or r.created_at <= known_by)
    ]
    own = latest([r for r in usable if r.environment == environment])
    return own or latest([r for r in usable if r.environment is None])


def current_rate(
    session: Session, expert_id: int, environment: str | None = None
) -> ExpertRate | None:
    """The general rate (or the environment's) that applies now or last began."""
    rows = [r for r in history(session, expert_id) if r.environment == environment]
    return rows[-1] if rows else None


def current_rates(session: Session) -> dict[int, ExpertRate]:
    """Each expert's latest general rate, for listing pages."""
    rates: dict[int, ExpertRate] = {}
    query = select(ExpertRate).where(ExpertRate.environment.is_(None))
    for row in session.exec(query.order_by(ExpertRate.effective_from, ExpertRate.id)):
        rates[row.expert_id] = row
    return rates
