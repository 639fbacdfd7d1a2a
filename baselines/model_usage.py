"""The development model's ledger: one row per request the portal's model gateway answered or
refused for a run (webapp.model_gateway), so the run's one budget is a sum over its rows and each
checkpoint can say what was used since the one before it.

Scoring's own model use is not here: a family's scorer has a budget of its own per scoring and
reports its usage in the score's details.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Field, Session, SQLModel, select

from timetracking.utc import UTCDateTime

OK = "ok"


class ModelUsage(SQLModel, table=True):
    __tablename__ = "model_usage"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # "ok", or why it was refused or failed: budget_exceeded, upstream_timeout, ...
    status: str = Field(max_length=32)


def record(
    session: Session, run_id: int, at: datetime, prompt: int, completion: int, status: str
) -> None:
    session.add(
        ModelUsage(
            run_id=run_id,
            at=at,
            prompt_tokens=prompt,
            completion_tokens=completion,
            status=status[:32],
        )
    )
    session.commit()


def used(
    session: Session, run_id: int, since: datetime | None = None, until: datetime | None = None
) -> int:
    """Tokens the run used (prompt and completion), in (since, until] when given."""
    query = select(
        func.coalesce(func.sum(ModelUsage.prompt_tokens + ModelUsage.completion_tokens), 0)
    ).where(ModelUsage.run_id == run_id)
    if since is not None:
        query = query.where(ModelUsage.at > since)
    if until is not None:
        query = query.where(ModelUsage.at <= until)
    return int(session.exec(query).one())


def window(
    session: Session, run_id: int, since: datetime | None, until: datetime
) -> dict[str, Any]:
    """What the run used in (since, until]: tokens of each kind and requests, for a checkpoint."""
    query = select(
        func.coalesce(func.sum(ModelUsage.prompt_tokens), 0),
        func.coalesce(func.sum(ModelUsage.completion_tokens), 0),
        func.count(ModelUsage.id),
    ).where(ModelUsage.run_id == run_id, ModelUsage.at <= until)
    if since is not None:
        query = query.where(ModelUsage.at > since)
    prompt, completion, requests = session.exec(query).one()
    return {
        "prompt_tokens": int(prompt),
        "completion_tokens": int(completion),
        "total_tokens": int(prompt) + int(completion),
        "requests": int(requests),
    }


def has_any(session: Session, run_id: int) -> bool:
    query = select(ModelUsage.id).where(ModelUsage.run_id == run_id).limit(1)
    return session.exec(query).first() is not None


def per_checkpoint(
    session: Session, run_id: int, submitted: list[tuple[int, datetime]]
) -> dict[int, int]:
    """Tokens used before each checkpoint since the one before it: {seq: tokens}, from
    ``submitted`` ((seq, submitted_at) in order)."""
    out: dict[int, int] = {}
    since = None
    for seq, at in submitted:
        out[seq] = used(session, run_id, since, at)
        since = at
    return out
