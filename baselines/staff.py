"""Account administration: staff accounts, role changes, disabling, all audited."""

from datetime import datetime

from pydantic import BaseModel, EmailStr, Field, field_validator
from sqlmodel import Session

from baselines import audit
from baselines.errors import Conflict, DomainError
from baselines.users import STAFF_ROLES, Role, User, create_user


class StaffCreate(BaseModel):
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    role: Role

    @field_validator("name", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("role")
    @classmethod
    def _staff_only(cls, value: Role) -> Role:
        if value not in STAFF_ROLES:
            raise ValueError("Experts join through the application form; pick a staff role")
        return value


def create_staff(
    session: Session,
    data: StaffCreate,
    actor: User | None,
    now: datetime,
    password: str | None = None,
) -> User:
    """A staff account; without a password it waits for its set-password link."""
    user = create_user(
        session, email=str(data.email), name=data.name, role=data.role, password=password, now=now
    )
    audit.record(
        session,
        actor_id=actor.id if actor else None,
        action="user.create",
        obj=user,
        now=now,
        after={"email": user.email, "role": user.role},
    )
    return user


def _not_self(user: User, actor: User, what: str) -> None:
    if user.id == actor.id:
        raise Conflict(f"You cannot {what} your own account; ask another admin.")


def change_role(session: Session, user: User, role: Role, actor: User, now: datetime) -> None:
    _not_self(user, actor, "change the role of")
    if user.role == Role.expert or role not in STAFF_ROLES:
        # An expert's account carries an application, a rate and runs; staff accounts have none.
        raise Conflict("Roles change only between staff roles; experts join through applying.")
    if role == user.role:
        return
    before = {"role": user.role}
    user.role = role
    user.session_epoch += 1  # pages open under the old role must not keep working
    session.add(user)
    audit.record(
        session,
        actor_id=actor.id,
        action="user.role",
        obj=user,
        now=now,
        before=before,
        after={"role": role},
    )


def set_disabled(session: Session, user: User, disabled: bool, actor: User, now: datetime) -> None:
    _not_self(user, actor, "disable or enable")
    if user.disabled == disabled:
        return
    user.disabled = disabled
    user.session_epoch += 1
    session.add(user)
    audit.record(
        session,
        actor_id=actor.id,
        action="user.disable" if disabled else "user.enable",
        obj=user,
        now=now,
        before={"disabled": not disabled},
        after={"disabled": disabled},
    )


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise DomainError(f"'{value[:20]}' is not a role.", field="role") from None
