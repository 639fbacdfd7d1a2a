"""Who can sign in, in which role, and the shapes of a user the API may show."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import String
from sqlmodel import Field, Session, SQLModel, select

from baselines.errors import Conflict, DomainError, FieldErrors
from baselines.passwords import hash_password, password_problem
from timetracking.utc import UTCDateTime


class Role(StrEnum):
    expert = "expert"
    coordinator = "coordinator"
    finance = "finance"
    analyst = "analyst"
    admin = "admin"


STAFF_ROLES = (Role.coordinator, Role.finance, Role.analyst, Role.admin)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(max_length=200)
    # Stored as plain text, not a database enum, so adding a role needs no type migration.
    role: Role = Field(sa_type=String(20))
    # None until the person sets one through a one-time link (staff created by an admin).
    password_hash: str | None = Field(default=None, max_length=255)
    disabled: bool = False
    # Bumped when the password changes or the account is disabled: older sessions stop working.
    session_epoch: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    # IANA name; times are shown to this person in it (stored times stay UTC).
    timezone: str = Field(default="UTC", max_length=64)


class UserPublic(BaseModel):
    """What the API shows of a user: never the password hash."""

    id: int
    email: str
    name: str
    role: Role


def normalize_email(email: str) -> str:
    return email.strip().lower()


def get_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalize_email(email))).first()


def account_problems(session: Session, email: str, password: str | None) -> dict[str, str]:
    """What stops an account being made with this email and password (a taken email, a weak
    password), one message per field; empty when neither does. An empty email or a password of
    None is not checked, so a form can ask about the fields it has valid values for."""
    problems: dict[str, str] = {}
    if email and get_by_email(session, email) is not None:
        problems["email"] = "An account with this email already exists."
    if password is not None and (problem := password_problem(password)):
        problems["password"] = problem
    return problems


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    role: Role,
    password: str | None,
    now: datetime,
) -> User:
    """Add an account; raises Conflict for a taken email, DomainError for a weak password
    (FieldErrors for both)."""
    email = normalize_email(email)
    problems = account_problems(session, email, password)
    if "email" in problems and "password" not in problems:
        raise Conflict(problems["email"], field="email")
    if problems:
        raise FieldErrors(problems)
    user = User(
        email=email,
        name=name.strip(),
        role=role,
        password_hash=hash_password(password) if password is not None else None,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    if problem := password_problem(password):
        raise DomainError(problem, field="password")
    user.password_hash = hash_password(password)
    user.session_epoch += 1
