"""Builders for the analytics tests: human runs as the portal stores them, and a fixed key."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.runs import Run, RunStatus
from baselines.users import Role
from payments.rates import ExpertRate
from tests.conftest import empty_tables
from timetracking.pauses import Pause, PauseReason

KEY = "analytics-test-key"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def human_run(
    session: Session,
    expert_id: int,
    *,
    environment: str = "triton_cumsum/main",
    start: datetime = T0,
    hours: float | None = 2.0,
    pauses: list[tuple[float, float]] = (),
    scores: list[tuple[float, float | None, float | None]] = (),
    status: RunStatus = RunStatus.finished,
    overridden: bool = False,
    cpu_mode: bool = False,
    final: tuple[float | None, float | None] = (None, None),
    time_limit_s: int | None = 28800,
) -> Run:
    """A run from ``start``; ``pauses`` as (from, to) hours after the start; ``scores`` as
    (working seconds, raw score, normalised score) with None for an invalid entry."""
    finished = start + timedelta(hours=hours) if hours is not None else None
    run = Run(
        expert_id=expert_id,
        environment=environment,
        environment_version="v1",
        status=status,
        created_at=start,
        started_at=start,
        finished_at=finished if status == RunStatus.finished else None,
        overridden=overridden,
        cpu_mode=cpu_mode,
        final_score=final[0],
        final_score_normalized=final[1],
        time_limit_s=time_limit_s,
    )
    session.add(run)
    session.flush()
    for a, b in pauses:
        session.add(
            Pause(
                run_id=run.id,
                started_at=start + timedelta(hours=a),
                ended_at=start + timedelta(hours=b),
                reason=PauseReason.manual,
            )
        )
    for seq, (working, raw, normalised) in enumerate(scores, start=1):
        valid = raw is not None
        session.add(
            Checkpoint(
                run_id=run.id,
                seq=seq,
                source="cli",
                submitted_at=start + timedelta(seconds=working),
                working_s=working,
                snapshot_sha256="0" * 64,
                status=CheckpointStatus.scored if valid else CheckpointStatus.invalid,
                scored_at=start + timedelta(seconds=working + 30),
                score=raw,
                score_normalized=normalised,
                valid=valid,
                message={"note": f"entry {seq}"},
                details={"ms": seq},
            )
        )
    session.flush()
    return run


def rate(session: Session, expert_id: int, cents: int, currency: str = "USD") -> None:
    session.add(
        ExpertRate(
            expert_id=expert_id,
            hourly_cents=cents,
            currency=currency,
            effective_from=T0 - timedelta(days=30),
            created_at=T0 - timedelta(days=30),
        )
    )
    session.flush()


def wipe(engine: Engine) -> None:
    """Empty every table, as between tests (for round trips into a fresh database)."""
    empty_tables(engine)


@pytest.fixture
def expert(make_user):
    return make_user(Role.expert, email="ada@example.org", name="Ada Lovelace")
