"""An expert approved and assigned an environment by a coordinator, as the portal's pages do it:
what a journey sets up before the expert signs in and presses Start."""

from sqlmodel import Session

from baselines import applications, assignments
from baselines.assignments import AiTools
from baselines.users import User
from timetracking.utc import utcnow


def approve_and_assign(
    engine, expert: User, coordinator: User, environment: str, time_limit_s: int = 7200
) -> None:
    """Approve ``expert``'s application and assign them ``environment`` (no AI tools)."""
    with Session(engine) as s:
        actor = s.get(User, coordinator.id)
        applications.approve(s, applications.for_user(s, expert.id), actor, utcnow())
        assignments.create(
            s, expert=s.get(User, expert.id), environment=environment,
            time_limit_s=time_limit_s, ai_tools=AiTools.none, actor=actor, now=utcnow(),
        )  # fmt: skip
        s.commit()
