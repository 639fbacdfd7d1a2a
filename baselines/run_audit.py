"""Audit entries for a run's life (start, stop, end, failure), each naming the run's
environment and host, so the audit log answers "who started what where, and why did it end"."""

from datetime import datetime
from typing import Any

from sqlmodel import Session

from baselines import audit
from baselines.audit import AuditLog
from baselines.runs import Run
from fleet.hosts import Host


def record(
    session: Session,
    run: Run,
    action: str,
    actor_id: int | None,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """One row in the caller's transaction; ``actor_id`` None for the system (a failure, a job)."""
    host = session.get(Host, run.host_id) if run.host_id else None
    facts = {"environment": run.environment, "host": host.name if host else None}
    return audit.record(
        session,
        actor_id=actor_id,
        action=action,
        obj=run,
        now=now,
        before=before,
        after={**facts, **(after or {})},
    )
