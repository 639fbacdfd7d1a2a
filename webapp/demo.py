"""Demo accounts, one per role plus a pending applicant, with fresh passwords on every run, and
a labelled sample of scored runs for the analyst (webapp.demo_sample)."""

import secrets
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from baselines import applications
from baselines.applications import ApplicationCreate
from baselines.staff import StaffCreate, create_staff
from baselines.users import Role, get_by_email, set_password
from payments import rates
from timetracking import pay_periods
from timetracking.pay_periods import PayCalendar
from timetracking.utc import utcnow
from webapp.settings import Settings

DEMO_STAFF = [
    (Role.admin, "admin@demo.baseliner", "Ada Admin"),
    (Role.coordinator, "coordinator@demo.baseliner", "Cora Coordinator"),
    (Role.finance, "finance@demo.baseliner", "Fin Finance"),
    (Role.analyst, "analyst@demo.baseliner", "Ana Analyst"),
]
DEMO_EXPERTS = [
    # (email, name, approved?)
    ("expert@demo.baseliner", "Evan Expert", True),
    ("applicant@demo.baseliner", "Pat Pending", False),
]


def _password() -> str:
    return "demo-" + secrets.token_urlsafe(9)


def seed(
    engine: Engine,
    prefix: str,
    calendar: PayCalendar | None = None,
    *,
    settings: Settings | None = None,
) -> list[tuple[str, str, str]]:
    """Create the demo accounts if missing and give each a new password; returns the logins.
    ``prefix``: the installation's workspace prefix (fleet.naming)."""
    logins: list[tuple[str, str, str]] = []
    now = utcnow()
    with Session(engine) as session:
        admin = None
        for role, email, name in DEMO_STAFF:
            password = _password()
            user = get_by_email(session, email)
            if user is None:
                user = create_staff(
                    session, StaffCreate(email=email, name=name, role=role), None, now, password
                )
            else:
                set_password(user, password)
                session.add(user)
            if role == Role.coordinator:
                admin = user
            logins.append((role.value, email, password))
        for email, name, approved in DEMO_EXPERTS:
            password = _password()
            user = get_by_email(session, email)
            if user is None:
                application = applications.submit(
                    session,
                    ApplicationCreate(
                        name=name,
                        email=email,
                        password=password,
                        background="PhD in ML systems; five years writing CUDA and Triton kernels.",
                        links="https://example.org/" + name.split()[0].lower(),
                        availability="Weekdays, 8 hours at a time",
                        consent_time_tracking=True,
                        consent_snapshots=True,
                    ),
                    now,
                )
                if approved:
                    applications.approve(session, application, admin, now)
                    expert = session.get(type(admin), application.user_id)
                    rates.set_rate(session, expert, 6000, "USD", admin, now,
                                   effective_from=now - timedelta(days=60))  # fmt: skip
                    _assign_kernel_task(session, expert, admin, now)
                    _last_week(session, expert, now, calendar or PayCalendar())
            else:
                set_password(user, password)
                session.add(user)
            logins.append(("expert" if approved else "applicant", email, password))
        _register_local_host(session, now, prefix)
        _sample(session, admin, settings or Settings(), now)
        session.commit()
    return logins


def _sample(session: Session, coordinator, settings: Settings, now: datetime) -> None:
    """The analyst's sample of scored human and agent runs (webapp.demo_sample)."""
    from baselines.checkpointing import snapshot_store
    from environments.catalogue import discover
    from webapp import demo_sample

    demo_sample.seed(
        session,
        coordinator=coordinator,
        catalogue=discover(settings.environment_dirs),
        snapshot_store=snapshot_store(settings),
        now=now,
    )


def _last_week(session: Session, expert, now: datetime, calendar: PayCalendar) -> None:
    """A finished run in the last pay period, with an idle stretch, and its timesheet submitted:
    something for a coordinator or finance to approve and pay in the demo."""
    from baselines import run_states
    from baselines.runs import Run, RunStatus
    from timetracking import timesheets
    from timetracking.pauses import Pause

    this_period, _ = calendar.period_at(now)
    last_period = this_period - timedelta(days=calendar.days)
    start = pay_periods.midnight(last_period + timedelta(days=1), calendar.timezone)
    start += timedelta(hours=9)
    run = Run(
        expert_id=expert.id,
        environment="triton_cumsum/main",
        created_at=start,
        time_limit_s=8 * 3600,
    )
    session.add(run)
    session.flush()
    run_states.move(session, run, RunStatus.active, now=start, actor_id=expert.id)
    ended = start + timedelta(hours=3, minutes=40)
    run_states.move(session, run, RunStatus.finished, reason="Submitted by the expert.", now=ended)
    idle_from = start + timedelta(hours=1, minutes=30)
    idle_to = idle_from + timedelta(minutes=25)
    session.add(Pause(run_id=run.id, started_at=idle_from, ended_at=idle_to, reason="idle"))
    sheet = timesheets.sheet_for(session, expert.id, last_period, calendar, now)
    session.flush()
    timesheets.submit(session, sheet, "Demo week: one run on the kernel task.", now, expert)


def _assign_kernel_task(session: Session, expert, coordinator, now) -> None:
    """The built-in kernel task, ready to Start (on the CPU where this machine has no GPU)."""
    from baselines import assignments
    from environments.catalogue import BUILTIN_DIR, load_family

    family = load_family(BUILTIN_DIR / "triton_cumsum")
    facts = {"triton_cumsum/main": assignments.TaskFacts(version=family.version)}
    assignments.assign_all(
        session,
        [(expert, "triton_cumsum/main")],
        assignments.Terms(note="A demo assignment: press Start, then open the IDE."),
        actor=coordinator,
        now=now,
        facts=facts,
    )


def _register_local_host(session: Session, now, prefix: str) -> None:
    """The embedded default: this machine is the GPU host named ``local``."""
    from fleet import health, hosts
    from fleet.connections import Connections
    from fleet.hosts import HostCreate

    host = hosts.by_name(session, "local")
    if host is None:
        host = hosts.add(session, HostCreate(name="local", driver="local"), "", None, now)
    connections = Connections(prefix)
    health.apply(session, host, health.probe(host, connections), now)
    connections.close()
