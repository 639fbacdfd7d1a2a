"""The GPU hosts the platform may place workspaces on, and how a coordinator registers one.

A host's SSH key is pinned when it is registered (given up front, or fetched and confirmed by its
fingerprint) and never replaced silently: a different key later refuses the connection.
"""

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import JSON, Column, String
from sqlmodel import Field as Col
from sqlmodel import Session, SQLModel, select

from baselines import audit
from baselines.errors import Conflict, DomainError, NotFound
from baselines.users import User
from timetracking.utc import UTCDateTime


class HostStatus(StrEnum):
    ready = "ready"
    draining = "draining"  # live workspaces stay; no new ones
    down = "down"


class DriverKind(StrEnum):
    local = "local"
    ssh = "ssh"


class Host(SQLModel, table=True):
    __tablename__ = "hosts"

    id: int | None = Col(default=None, primary_key=True)
    name: str = Col(max_length=64, unique=True, index=True)
    driver: DriverKind = Col(sa_type=String(16))
    address: str = Col(default="", max_length=255)
    port: int = 22
    username: str = Col(default="root", max_length=64)
    # A path on the portal machine to the private key (never the key itself in the database).
    key_path: str = Col(default="", max_length=1000)
    # The pinned host key as an OpenSSH public-key line; empty only for the local driver.
    host_key: str = Col(default="", max_length=2000)
    # Which backend runs its workspaces (fleet.backends.registry), and that backend's own
    # settings (its ``Settings``: a container's image, a cluster's partition, the Python that
    # runs task families), as JSON.
    backend: str = Col(default="process", max_length=32)
    settings: dict[str, Any] = Col(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # How many workspaces may run at once when a task needs no GPU.
    max_workspaces: int = 4
    status: HostStatus = Col(default=HostStatus.down, sa_type=String(16), index=True)
    status_reason: str = Col(default="not checked yet", max_length=1000)
    draining: bool = False
    gpus: list[dict[str, Any]] = Col(default_factory=list, sa_column=Column(JSON, nullable=False))
    disk_free_gb: float | None = None
    last_seen: datetime | None = Col(default=None, sa_type=UTCDateTime)
    created_at: datetime = Col(sa_type=UTCDateTime)


class HostCreate(BaseModel):
    """What registering a host asks for; the host key is pinned separately (see ``pin``)."""

    name: str = Field(min_length=1, max_length=64)
    driver: DriverKind = DriverKind.ssh
    address: str = Field(default="", max_length=255)
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(default="root", min_length=1, max_length=64)
    key_path: str = Field(default="", max_length=1000)
    backend: str = Field(default="process", max_length=32)
    settings: dict[str, Any] = Field(default_factory=dict)
    max_workspaces: int = Field(default=4, ge=1, le=256)

    @field_validator("name", "address", "key_path", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", value):
            raise ValueError(
                "Use lowercase letters, digits and dashes, starting with a letter or digit"
            )
        return value

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_-]*", value):
            raise ValueError("Not a unix user name (lowercase letters, digits, _ and -)")
        return value

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        from fleet.backends.registry import BACKENDS

        if value not in BACKENDS:
            raise ValueError(f"Choose one of: {', '.join(BACKENDS)}")
        return value

    def problems(self) -> dict[str, str]:
        """Cross-field checks pydantic cannot say next to one field: what the way of reaching
        the host needs, and the backend's own settings."""
        from fleet.backends import registry

        errors = registry.reach(self.driver).problems(self)
        return {**errors, **registry.settings_problems(self.backend, self.settings)}


def add(
    session: Session, data: HostCreate, host_key: str, actor: User | None, now: datetime
) -> Host:
    if session.exec(select(Host).where(Host.name == data.name)).first():
        raise Conflict("A host with this name exists.", field="name")
    from fleet.backends import registry

    if registry.reach(data.driver).pins_key:
        if not host_key.strip():
            raise DomainError("Pin the host key before adding an SSH host.", field="host_key")
        from fleet.drivers.ssh import parse_key_line  # paramiko only where SSH hosts are added

        try:
            parse_key_line(host_key)
        except ValueError:
            raise DomainError(
                "The host key is not an OpenSSH public-key line.", field="host_key"
            ) from None
    settings = registry.backend_class(data.backend).Settings.model_validate(data.settings)
    fields = data.model_dump() | {"settings": settings.model_dump()}
    host = Host(**fields, host_key=host_key.strip(), created_at=now)
    session.add(host)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id if actor else None,
        action="host.add",
        obj=host,
        now=now,
        after={
            "name": host.name,
            "driver": host.driver,
            "address": host.address,
            "port": host.port,
            "backend": host.backend,
            "host_key": host.host_key[:80],
        },
    )
    return host


def get(session: Session, host_id: int) -> Host:
    host = session.get(Host, host_id)
    if host is None:
        raise NotFound("No such host.")
    return host


def by_name(session: Session, name: str) -> Host | None:
    return session.exec(select(Host).where(Host.name == name)).first()


def set_draining(
    session: Session, host: Host, draining: bool, actor: User | None, now: datetime
) -> None:
    if host.draining == draining:
        return
    host.draining = draining
    if draining:
        host.status = HostStatus.draining
        host.status_reason = "draining: no new workspaces"
    elif host.status == HostStatus.draining:
        host.status = HostStatus.ready
        host.status_reason = "ok"
    session.add(host)
    audit.record(
        session,
        actor_id=actor.id if actor else None,
        action="host.drain" if draining else "host.undrain",
        obj=host,
        now=now,
        before={"draining": not draining},
        after={"draining": draining},
    )


def all_hosts(session: Session) -> list[Host]:
    return list(session.exec(select(Host).order_by(Host.name)))
