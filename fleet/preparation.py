"""Preparing a host: every catalogued task family installed on it, its ``install()`` run, before
anyone is assigned there, and what came of each one kept per host and family.

A family's ``install()`` may fetch or build things for minutes, and may fail. Done at preparation,
the first expert's Start does not wait for it (a Start still installs what is missing, as a
fallback), and a coordinator reads "install() failed: <reason>" on the hosts page instead of an
expert meeting it at Start.

The hosts page prepares in the background (``begin`` marks each family's row pending, then
``prepare`` with ``commit_each`` settles the rows one by one, so the page shows progress); the
command line prepares in the foreground.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from baselines import audit
from baselines.users import User
from environments import task_settings
from environments.catalogue import Catalogue, Family
from fleet import task_runs
from fleet.backends import registry
from fleet.drivers.base import Driver, HostError, HostUnreachable
from fleet.hosts import Host
from timetracking.utc import UTCDateTime

INSTALL_FAILED = "the task family's install failed: "  # how task_runs says install() raised


class HostFamily(SQLModel, table=True):
    """The outcome of installing one family (at one version) on one host, the latest kept."""

    __tablename__ = "host_families"
    __table_args__ = (UniqueConstraint("host_id", "family"),)

    id: int | None = Field(default=None, primary_key=True)
    host_id: int = Field(foreign_key="hosts.id", index=True)
    family: str = Field(max_length=200)
    version: str = Field(max_length=64)
    ok: bool
    # What went wrong ("install() failed: …"), or a note on a good one.
    reason: str = Field(default="", max_length=2000)
    prepared_at: datetime = Field(sa_type=UTCDateTime)
    # A Prepare is installing it now (since prepared_at); ok and reason are the last outcome.
    pending: bool = False

    @property
    def said(self) -> str:
        if self.pending:
            return "installing…"
        if not self.ok:
            return self.reason
        return f"installed ({self.reason})" if self.reason else "installed"

    @property
    def summary(self) -> str:
        """As the hosts page and the CLI say it: "triton_cumsum 2c376e7e: installed"."""
        return f"{self.family} {self.version[:8]}: {self.said}"


@dataclass(frozen=True)
class Outcome:
    family: Family
    ok: bool
    reason: str = ""


def install_one(session: Session, driver: Driver, host: Host, family: Family) -> Outcome:
    """Install ``family`` on the host with its effective settings, as a Start would (its first
    task names it to the helper; ``install()`` is the family's, not a task's)."""
    if not family.tasks:
        return Outcome(family, False, "the family has no tasks")
    task = family.tasks[0]
    launch = task_runs.launch_for(family, task, task_settings.effective(session, family, task))
    try:
        backend = registry.build(host, driver)
        task_runs.install_for(backend, launch)
    except HostUnreachable:
        raise  # every family would say the same: the host's problem, not theirs
    except HostError as exc:
        text = str(exc)
        reason = text.removeprefix(INSTALL_FAILED)
        said = f"install() failed: {reason}" if reason != text else f"not installed: {text}"
        return Outcome(family, False, said[:2000])
    return Outcome(family, True, backend.family_note())


def begin(session: Session, host: Host, catalogue: Catalogue, now: datetime) -> list[HostFamily]:
    """Mark every catalogued family's row on ``host`` pending (the caller commits), so the
    hosts page shows a Prepare under way before the background job gets to each family."""
    kept = {row.family: row for row in for_host(session, host.id)}
    rows = []
    for family in catalogue.families:
        row = kept.get(family.name) or HostFamily(
            host_id=host.id, family=family.name, version="", ok=False, prepared_at=now
        )
        row.version, row.pending, row.prepared_at = family.version, True, now
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def preparing(session: Session, host_id: int) -> bool:
    """Whether a Prepare of this host is under way (some row still pending)."""
    return any(row.pending for row in for_host(session, host_id))


def prepare(
    session: Session,
    host: Host,
    driver: Driver,
    catalogue: Catalogue,
    actor: User | None,
    now: datetime,
    *,
    clock: Callable[[], datetime] | None = None,
    commit_each: bool = False,
) -> list[HostFamily]:
    """Install every catalogued family on ``host`` and record each outcome; families no longer
    catalogued lose their rows. The caller commits, unless ``commit_each``: then each family's
    outcome is committed as it comes (the background Prepare). HostUnreachable when the host
    did not answer: nothing is recorded (pending rows stay for ``abandon``)."""
    rows, kept = [], {row.family: row for row in for_host(session, host.id)}
    for family in catalogue.families:
        outcome = install_one(session, driver, host, family)
        row = kept.pop(family.name, None) or HostFamily(
            host_id=host.id, family=family.name, version="", ok=False, prepared_at=now
        )
        row.version, row.ok, row.reason = family.version, outcome.ok, outcome.reason
        row.prepared_at, row.pending = clock() if clock else now, False
        session.add(row)
        rows.append(row)
        if commit_each:
            session.commit()
    for gone in kept.values():
        session.delete(gone)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id if actor else None,
        action="host.prepare",
        obj=host,
        now=clock() if clock else now,
        after={row.family: row.summary for row in rows},
    )
    return rows


def abandon(session: Session, host_id: int, reason: str, now: datetime) -> None:
    """A background Prepare that could not go on (the host did not answer, the job failed):
    each family still pending says why it was not installed (the caller commits)."""
    for row in for_host(session, host_id):
        if row.pending:
            row.pending, row.ok, row.reason, row.prepared_at = False, False, reason[:2000], now
            session.add(row)


def for_host(session: Session, host_id: int) -> list[HostFamily]:
    rows = session.exec(select(HostFamily).where(HostFamily.host_id == host_id))
    return sorted(rows, key=lambda row: row.family)


def by_host(session: Session) -> dict[int, list[HostFamily]]:
    """Every host's outcomes, for the hosts page."""
    found: dict[int, list[HostFamily]] = {}
    for row in session.exec(select(HostFamily).order_by(HostFamily.family)):
        found.setdefault(row.host_id, []).append(row)
    return found
