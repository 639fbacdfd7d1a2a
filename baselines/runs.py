"""A run is one attempt at an assignment: where its workspace lives and what state it is in.

The workspace fields (host, GPUs, port, unix user, runtime state) are what a platform restart
needs to re-attach to a live workspace instead of starting it again.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, String, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from baselines.errors import NotFound
from baselines.users import Role, User
from timetracking.utc import UTCDateTime


class RunStatus(StrEnum):
    """A run's place in its life; only baselines.run_states moves a run between them."""

    provisioning = "provisioning"
    # Submitted to a scheduler (a Slurm job waiting for its GPUs): live, but no clock yet.
    pending = "pending"
    active = "active"
    stopping = "stopping"
    finished = "finished"
    failed = "failed"


LIVE = (RunStatus.provisioning, RunStatus.pending, RunStatus.active, RunStatus.stopping)
# Live and not yet ending: a Stop, a `task` call or an activity report may still come.
OPEN = (RunStatus.provisioning, RunStatus.pending, RunStatus.active)
ENDED = (RunStatus.finished, RunStatus.failed)


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    # One run per attempt number of an assignment: two simultaneous Starts cannot both insert.
    __table_args__ = (UniqueConstraint("assignment_id", "attempt", name="uq_run_attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(foreign_key="users.id", index=True)
    assignment_id: int | None = Field(default=None, foreign_key="assignments.id", index=True)
    # 1 for the assignment's first run, 2 for the next (see baselines.assignments.begin_run).
    attempt: int = 1
    environment: str = Field(default="", max_length=200)
    # The task folder's hash when the run started (environments.versions): which task it was.
    environment_version: str = Field(default="", max_length=64)
    # A GPU task run without a GPU (a GPU-less fleet): its scores are not comparable.
    cpu_mode: bool = False
    ai_tools: str = Field(default="NO_AI_TOOLS", max_length=32)
    status: RunStatus = Field(default=RunStatus.provisioning, sa_type=String(16), index=True)
    status_reason: str = Field(default="", max_length=2000)
    host_id: int | None = Field(default=None, foreign_key="hosts.id", index=True)
    gpu_indices: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    port: int | None = None
    unix_user: str = Field(default="", max_length=32)
    # The run's code-server admits only requests carrying this (as its session cookie, which
    # the portal's proxy and the front proxy add): other users on the host cannot open it.
    ide_key: str = Field(default="", max_length=64)
    workspace_path: str = Field(default="", max_length=500)
    runtime: str = Field(default="", max_length=16)
    # What the runtime needs to find the workspace again (pid, container name).
    runtime_state: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    archive_path: str = Field(default="", max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_activity_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # ``task submit``: the final checkpoint is in; the run ends once it is scored.
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A Stop asked for while checkpoints were still queued: it happens once they are scored.
    stop_requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The task's aggregation over the score log, stored when the run ends.
    final_score: float | None = None
    final_score_normalized: float | None = None
    # Working seconds allowed, from the assignment when the run began (extensions add to it,
    # timetracking.limits); None: no limit.
    time_limit_s: int | None = None
    # A coordinator replaced its work periods (timetracking.overrides): analysts may leave it out.
    overridden: bool = False
    # A Stop whose archive or removal failed (fleet.workspaces.clean_up): the workspace stays
    # on its host, and its leases with it, until a retry (the scheduler's) succeeds.
    cleanup_pending: bool = Field(default=False, index=True)
    cleanup_attempts: int = 0
    cleanup_next_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cleanup_error: str = Field(default="", max_length=2000)
    # The workspace vanished from its host behind the platform's back (baselines.workspace_loss):
    # the clock is paused (reason ``lost``) until it is restarted from the last checkpoint.
    lost_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Lease(SQLModel, table=True):
    """A GPU or a port held by a live run. The unique key makes two runs holding the same one
    impossible, also when they start at the same moment in different processes. It names the
    machine (fleet.machines), not the host record: two records for one machine share its GPUs
    and ports."""

    __tablename__ = "leases"
    __table_args__ = (UniqueConstraint("machine", "kind", "value", name="uq_lease_machine"),)

    id: int | None = Field(default=None, primary_key=True)
    host_id: int = Field(foreign_key="hosts.id", index=True)
    # ``local`` or the SSH server's normalised ``address:port`` (fleet.machines.machine).
    machine: str = Field(max_length=300)
    kind: str = Field(max_length=8)  # "gpu" or "port"
    value: int
    run_id: int = Field(foreign_key="runs.id", index=True)


def visible_to(session: Session, run_id: int, user: User) -> Run:
    """The run, if this user may see it: its expert, or a coordinator or admin."""
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound("No such run.")
    if run.expert_id != user.id and user.role not in (Role.coordinator, Role.admin):
        raise NotFound("No such run.")
    return run


def live_for_expert(session: Session, expert_id: int) -> list[Run]:
    query = select(Run).where(Run.expert_id == expert_id, Run.status.in_(LIVE))
    return list(session.exec(query))


def live(session: Session) -> list[Run]:
    return list(session.exec(select(Run).where(Run.status.in_(LIVE)).order_by(Run.id)))
