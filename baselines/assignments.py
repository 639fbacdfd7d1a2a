"""Which environment an expert is to work on, under what time limit and AI-tool policy."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, Session, SQLModel, select

from baselines import audit
from baselines.errors import DomainError, NotFound
from baselines.users import Role, User
from timetracking.utc import UTCDateTime

DEFAULT_TIME_LIMIT_S = 8 * 3600


class AiTools(StrEnum):
    """Vivaria's human-baseline settings packs, by name, so results can be split by them."""

    none = "NO_AI_TOOLS"
    available = "AI_TOOLS_AVAILABLE"


class AssignmentStatus(StrEnum):
    assigned = "assigned"
    closed = "closed"


class Assignment(SQLModel, table=True):
    __tablename__ = "assignments"

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(foreign_key="users.id", index=True)
    # "<family>/<task>" as the catalogue names it.
    environment: str = Field(max_length=200)
    environment_version: str = Field(default="", max_length=64)
    time_limit_s: int = DEFAULT_TIME_LIMIT_S
    ai_tools: AiTools = Field(default=AiTools.none, sa_type=String(32))
    status: AssignmentStatus = Field(default=AssignmentStatus.assigned, sa_type=String(16))
    assigned_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(sa_type=UTCDateTime)


def create(
    session: Session,
    *,
    expert: User,
    environment: str,
    time_limit_s: int,
    ai_tools: AiTools,
    actor: User,
    now: datetime,
    environment_version: str = "",
) -> Assignment:
    if expert.role != Role.expert or expert.disabled:
        raise DomainError("Only active experts can be assigned an environment.", field="expert")
    if not 60 <= time_limit_s <= 7 * 24 * 3600:
        raise DomainError("The time limit must be between 1 minute and 7 days.", field="time_limit")
    row = Assignment(
        expert_id=expert.id,
        environment=environment,
        environment_version=environment_version,
        time_limit_s=time_limit_s,
        ai_tools=ai_tools,
        assigned_by_id=actor.id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="assignment.create",
        obj=row,
        now=now,
        after={
            "expert_id": expert.id,
            "environment": environment,
            "time_limit_s": time_limit_s,
            "ai_tools": ai_tools,
        },
    )
    return row


def for_expert(session: Session, expert_id: int) -> list[Assignment]:
    query = select(Assignment).where(Assignment.expert_id == expert_id).order_by(Assignment.id)
    return list(session.exec(query))


def get_for(session: Session, assignment_id: int, expert: User) -> Assignment:
    """The expert's own assignment; anyone else's is reported as not found."""
    row = session.get(Assignment, assignment_id)
    if row is None or row.expert_id != expert.id:
        raise NotFound("No such assignment.")
    return row
