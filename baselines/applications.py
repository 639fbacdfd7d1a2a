"""How a person applies as an expert and how a coordinator decides on the application."""

from datetime import datetime
from enum import StrEnum
from urllib.parse import urlparse

from pydantic import BaseModel, EmailStr, Field, field_validator
from sqlalchemy import String
from sqlmodel import Field as Column
from sqlmodel import Session, SQLModel, select

from baselines import audit
from baselines.errors import Conflict, DomainError
from baselines.passwords import MAX_LENGTH, MIN_LENGTH
from baselines.users import Role, User, create_user
from timetracking.utc import UTCDateTime


class ApplicationStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class Application(SQLModel, table=True):
    __tablename__ = "applications"

    id: int | None = Column(default=None, primary_key=True)
    user_id: int = Column(foreign_key="users.id", unique=True, index=True)
    background: str = Column(max_length=5000)
    links: str = Column(default="", max_length=2000)
    availability: str = Column(max_length=1000)
    consent_time_tracking: bool
    consent_snapshots: bool
    status: ApplicationStatus = Column(
        default=ApplicationStatus.pending, sa_type=String(20), index=True
    )
    submitted_at: datetime = Column(sa_type=UTCDateTime)
    reviewed_by_id: int | None = Column(default=None, foreign_key="users.id")
    reviewed_at: datetime | None = Column(default=None, sa_type=UTCDateTime)
    rejection_reason: str | None = Column(default=None, max_length=2000)


class ApplicationCreate(BaseModel):
    """What the sign-up form asks for. Both consents are required to take part."""

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    background: str = Field(min_length=20, max_length=5000)
    links: str = Field(default="", max_length=2000)
    availability: str = Field(min_length=1, max_length=1000)
    consent_time_tracking: bool
    consent_snapshots: bool

    @field_validator("name", "background", "availability", "links", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("links")
    @classmethod
    def _links_are_urls(cls, value: str) -> str:
        lines = [line.strip() for line in value.splitlines() if line.strip()]
        for line in lines:
            parsed = urlparse(line)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ValueError(f"'{line[:80]}' is not a web address (one http(s) link a line)")
        return "\n".join(lines)

    @field_validator("consent_time_tracking", "consent_snapshots")
    @classmethod
    def _must_consent(cls, value: bool) -> bool:
        if not value:
            raise ValueError("Taking part requires this consent")
        return value


def submit(session: Session, data: ApplicationCreate, now: datetime) -> Application:
    """Create the expert account and its pending application together, or neither."""
    user = create_user(
        session,
        email=str(data.email),
        name=data.name,
        role=Role.expert,
        password=data.password,
        now=now,
    )
    application = Application(
        user_id=user.id,
        background=data.background,
        links=data.links,
        availability=data.availability,
        consent_time_tracking=data.consent_time_tracking,
        consent_snapshots=data.consent_snapshots,
        submitted_at=now,
    )
    session.add(application)
    session.flush()
    audit.record(
        session,
        actor_id=user.id,
        action="application.submit",
        obj=application,
        now=now,
        after={"status": application.status, "email": user.email},
    )
    return application


def for_user(session: Session, user_id: int) -> Application | None:
    return session.exec(select(Application).where(Application.user_id == user_id)).first()


def _decide(
    session: Session,
    application: Application,
    reviewer: User,
    status: ApplicationStatus,
    now: datetime,
    reason: str | None = None,
) -> None:
    if application.status != ApplicationStatus.pending:
        raise Conflict(f"This application was already {application.status}.")
    before = {"status": application.status}
    application.status = status
    application.reviewed_by_id = reviewer.id
    application.reviewed_at = now
    application.rejection_reason = reason
    session.add(application)
    after: dict[str, object] = {"status": status}
    if reason:
        after["reason"] = reason
    audit.record(
        session,
        actor_id=reviewer.id,
        action=f"application.{status}",
        obj=application,
        now=now,
        before=before,
        after=after,
    )


def approve(session: Session, application: Application, reviewer: User, now: datetime) -> None:
    _decide(session, application, reviewer, ApplicationStatus.approved, now)


def reject(
    session: Session, application: Application, reviewer: User, reason: str, now: datetime
) -> None:
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why, so the applicant knows.", field="reason")
    if len(reason) > 2000:
        raise DomainError("Keep the reason under 2000 characters.", field="reason")
    _decide(session, application, reviewer, ApplicationStatus.rejected, now, reason)
