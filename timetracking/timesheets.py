"""Timesheets: an expert's working time per pay period, submitted by the expert, approved or
returned by a coordinator or finance; approved ones are locked and feed payments.

An open sheet's lines are computed from the stored pauses whenever it is shown
(timetracking.timesheet_lines); submitting freezes them into rows, with the totals. A correction
of a run's work periods recomputes the submitted and open sheets it touches
(``refresh_for_run``) and is refused where an approved sheet covers it (``check_unlocked``).
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import String, UniqueConstraint, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from baselines import audit
from baselines.errors import Conflict, DomainError, NotFound
from baselines.runs import LIVE, Run
from baselines.users import Role, User
from timetracking import pauses, pay_periods, timesheet_lines, zones
from timetracking.pay_periods import PayCalendar, PaySettings
from timetracking.timesheet_lines import Line
from timetracking.utc import UTCDateTime


class TimesheetStatus(StrEnum):
    open = "open"  # the period is running or ended; the expert has not submitted it
    submitted = "submitted"
    approved = "approved"  # locked: feeds payments
    rejected = "rejected"  # back to the expert, with the reason


class Timesheet(SQLModel, table=True):
    __tablename__ = "timesheets"
    __table_args__ = (UniqueConstraint("expert_id", "period_start", name="uq_timesheet_period"),)

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(foreign_key="users.id", index=True)
    # The pay period [period_start, period_end) as dates in the pay time zone.
    period_start: date
    period_end: date
    # The zone those dates are days of (the pay time zone when the sheet was made), so a later
    # change of the setting never moves an existing sheet's days.
    timezone: str = Field(default="UTC", max_length=64)
    status: TimesheetStatus = Field(default=TimesheetStatus.open, sa_type=String(16), index=True)
    # Whole seconds, frozen from the lines when submitted (what approval and pay rest on).
    working_s: int = 0
    idle_s: int = 0
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expert_comment: str = Field(default="", max_length=2000)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by_id: int | None = Field(default=None, foreign_key="users.id")
    decision_reason: str = Field(default="", max_length=2000)
    created_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def last_day(self) -> date:
        return self.period_end - timedelta(days=1)

    @property
    def label(self) -> str:
        """``2024-03-04 to 2024-03-10``: the period's days, both included."""
        return f"{self.period_start:%Y-%m-%d} to {self.last_day:%Y-%m-%d}"

    @property
    def unit(self) -> str:
        return "week" if (self.period_end - self.period_start).days == 7 else "pay period"


class TimesheetLine(SQLModel, table=True):
    """One run on one day of the period: working, idle and otherwise paused seconds."""

    __tablename__ = "timesheet_lines"
    __table_args__ = (UniqueConstraint("timesheet_id", "run_id", "day", name="uq_timesheet_line"),)

    id: int | None = Field(default=None, primary_key=True)
    timesheet_id: int = Field(foreign_key="timesheets.id", index=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    day: date
    working_s: int = 0
    idle_s: int = 0
    paused_s: int = 0  # manual pauses, scoring, overrides: stopped time that is not idle
    overridden: bool = False


REVIEWERS = (Role.coordinator, Role.finance, Role.admin)
# Lines are stored (frozen) once submitted; before that they are computed when asked for.
FROZEN = (TimesheetStatus.submitted, TimesheetStatus.approved)
EDITABLE = (TimesheetStatus.open, TimesheetStatus.rejected)
MAX_TEXT = 2000


@dataclass(frozen=True)
class Totals:
    working_s: int = 0
    idle_s: int = 0
    paused_s: int = 0


def totals(lines: Iterable[Line]) -> Totals:
    lines = list(lines)
    return Totals(
        sum(line.working_s for line in lines),
        sum(line.idle_s for line in lines),
        sum(line.paused_s for line in lines),
    )


def bounds_of(sheet: Timesheet) -> tuple[datetime, datetime]:
    """The UTC instants the sheet's period begins and ends."""
    return pay_periods.bounds(sheet.period_start, sheet.period_end, sheet.timezone)


# --- finding and making sheets -----------------------------------------------------------------


def _find(session: Session, expert_id: int, period_start: date) -> Timesheet | None:
    query = select(Timesheet).where(
        Timesheet.expert_id == expert_id, Timesheet.period_start == period_start
    )
    return session.exec(query).first()


def sheet_for(
    session: Session, expert_id: int, period_start: date, calendar: PayCalendar, now: datetime
) -> Timesheet:
    """The expert's sheet for the period starting that day, made (open) if there is none. Two
    requests making the same one at once: the second reads the first's (the unique key)."""
    start, end = calendar.period_of(period_start)
    if start != period_start:
        raise DomainError(f"{period_start} is not the first day of a pay period ({start} is).")
    found = _find(session, expert_id, start)
    if found is not None:
        return found
    sheet = Timesheet(
        expert_id=expert_id,
        period_start=start,
        period_end=end,
        timezone=calendar.timezone,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(sheet)
    except IntegrityError:
        found = _find(session, expert_id, start)
        if found is None:
            raise
        return found
    return sheet


def visible_to(session: Session, sheet_id: int, user: User) -> Timesheet:
    """The sheet, if this user may see it: its expert, or a reviewer."""
    sheet = session.get(Timesheet, sheet_id)
    if sheet is None or (user.role not in REVIEWERS and sheet.expert_id != user.id):
        raise NotFound("No such timesheet.")
    return sheet


def counts(session: Session) -> dict[str, int]:
    found = {s.value: 0 for s in TimesheetStatus}
    for status in session.exec(select(Timesheet.status)):
        found[status] += 1
    return found


# --- lines ---------------------------------------------------------------------------------------


def compute(session: Session, sheet: Timesheet, now: datetime) -> list[Line]:
    """The sheet's lines as the stored pauses give them now (nothing is stored)."""
    return timesheet_lines.expert_lines(
        session, sheet.expert_id, sheet.period_start, sheet.period_end, sheet.timezone, now
    )


def stored_lines(session: Session, sheet: Timesheet) -> list[Line]:
    query = select(TimesheetLine).where(TimesheetLine.timesheet_id == sheet.id)
    return [
        Line(r.run_id, r.day, r.working_s, r.idle_s, r.paused_s, r.overridden)
        for r in session.exec(query.order_by(TimesheetLine.day, TimesheetLine.run_id))
    ]


def lines(session: Session, sheet: Timesheet, now: datetime) -> list[Line]:
    """What the sheet shows: its frozen lines once submitted, else the lines as of now."""
    return stored_lines(session, sheet) if sheet.status in FROZEN else compute(session, sheet, now)


def _store_lines(session: Session, sheet: Timesheet, found: list[Line]) -> None:
    for row in session.exec(select(TimesheetLine).where(TimesheetLine.timesheet_id == sheet.id)):
        session.delete(row)
    session.flush()
    for line in found:
        session.add(
            TimesheetLine(
                timesheet_id=sheet.id,
                run_id=line.run_id,
                day=line.day,
                working_s=line.working_s,
                idle_s=line.idle_s,
                paused_s=line.paused_s,
                overridden=line.overridden,
            )
        )
    session.flush()


# --- the review cycle ----------------------------------------------------------------------------


def _state(sheet: Timesheet) -> dict[str, Any]:
    return {"status": str(sheet.status), "working_s": sheet.working_s, "idle_s": sheet.idle_s}


def _not_now(sheet: Timesheet, action: str) -> str:
    if sheet.status == TimesheetStatus.approved:
        return "This timesheet is approved and locked."
    if sheet.status == TimesheetStatus.submitted:
        return "This timesheet is submitted already and waits for review."
    if sheet.status == TimesheetStatus.rejected:
        return f"This timesheet was returned to the expert; it can be {action} once resubmitted."
    return f"This timesheet has not been submitted yet; it can be {action} once it is."


def _move(
    session: Session,
    sheet: Timesheet,
    allowed: tuple[TimesheetStatus, ...],
    to: TimesheetStatus,
    action: str,
    **values: Any,
) -> None:
    """Change the status only if it still is one of ``allowed`` in the database, so two people
    deciding at once cannot both succeed (the second gets a Conflict)."""
    if sheet.status not in allowed:
        raise Conflict(_not_now(sheet, action))
    moved = session.execute(
        update(Timesheet)
        .where(Timesheet.id == sheet.id, Timesheet.status.in_([str(s) for s in allowed]))
        .values(status=str(to), **values)
    )
    session.refresh(sheet)
    if moved.rowcount != 1:
        raise Conflict(_not_now(sheet, action))


def submit_problem(
    session: Session, sheet: Timesheet, now: datetime, viewer_zone: str | None
) -> str | None:
    """Why the expert cannot submit the sheet now, or None. Times are shown in their zone."""
    if sheet.status not in EDITABLE:
        return _not_now(sheet, "submitted")
    _, end = bounds_of(sheet)
    if now < end:
        return (
            f"This {sheet.unit} ends on {zones.local(end, viewer_zone)} (your time);"
            " submit it then."
        )
    query = select(Run.id).where(
        Run.expert_id == sheet.expert_id,
        Run.status.in_([str(s) for s in LIVE]),
        Run.started_at.is_not(None),
        Run.started_at < end,
    )
    live = session.exec(query.order_by(Run.id)).first()
    if live is not None:
        return (
            f"Run {live} is still open; submit once it has ended, so this {sheet.unit}'s time"
            " is final."
        )
    return None


def submit(session: Session, sheet: Timesheet, comment: str, now: datetime, actor: User) -> None:
    """The expert submits the ended period: its lines are computed and frozen with the totals.
    A returned sheet is submitted again the same way (its lines recomputed)."""
    if actor.id != sheet.expert_id:
        raise NotFound("No such timesheet.")
    comment = comment.strip()
    if len(comment) > MAX_TEXT:
        raise DomainError(f"Keep the comment under {MAX_TEXT} characters.", field="comment")
    problem = submit_problem(session, sheet, now, actor.timezone)
    if problem:
        raise Conflict(problem)
    found = compute(session, sheet, now)
    sum_ = totals(found)
    before = _state(sheet)
    _move(
        session,
        sheet,
        EDITABLE,
        TimesheetStatus.submitted,
        "submitted",
        submitted_at=now,
        expert_comment=comment,
        working_s=sum_.working_s,
        idle_s=sum_.idle_s,
    )
    _store_lines(session, sheet, found)
    after = {**_state(sheet), "lines": len(found)}
    if comment:
        after["comment"] = comment
    audit.record(
        session,
        actor_id=actor.id,
        action="timesheet.submit",
        obj=sheet,
        now=now,
        before=before,
        after=after,
    )


def _check_reviewer(sheet: Timesheet, actor: User) -> None:
    if actor.role not in REVIEWERS:
        raise Conflict("Only coordinators, finance and admins decide on timesheets.")
    if actor.id == sheet.expert_id:
        raise Conflict("Nobody decides on their own timesheet.")


def approve(session: Session, sheet: Timesheet, actor: User, now: datetime) -> None:
    """Approve a submitted sheet: from now on it is locked and may be paid."""
    _check_reviewer(sheet, actor)
    before = _state(sheet)
    _move(
        session,
        sheet,
        (TimesheetStatus.submitted,),
        TimesheetStatus.approved,
        "approved",
        decided_at=now,
        decided_by_id=actor.id,
        decision_reason="",
    )
    audit.record(
        session,
        actor_id=actor.id,
        action="timesheet.approve",
        obj=sheet,
        now=now,
        before=before,
        after=_state(sheet),
    )


def reject(session: Session, sheet: Timesheet, actor: User, reason: str, now: datetime) -> None:
    """Return a submitted sheet to the expert, saying why; they may submit it again."""
    _check_reviewer(sheet, actor)
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why, so the expert knows what to fix.", field="reason")
    if len(reason) > MAX_TEXT:
        raise DomainError(f"Keep the reason under {MAX_TEXT} characters.", field="reason")
    before = _state(sheet)
    _move(
        session,
        sheet,
        (TimesheetStatus.submitted,),
        TimesheetStatus.rejected,
        "rejected",
        decided_at=now,
        decided_by_id=actor.id,
        decision_reason=reason,
    )
    audit.record(
        session,
        actor_id=actor.id,
        action="timesheet.reject",
        obj=sheet,
        now=now,
        before=before,
        after={**_state(sheet), "reason": reason},
    )


# --- corrections -------------------------------------------------------------------------------


def _overlaps(start: datetime, end: datetime, first: datetime, finish: datetime) -> bool:
    """Whether [start, end] meets [first, finish) (an empty span: whether it lies inside)."""
    if start == end:
        return first <= start < finish
    return start < finish and end > first


def check_unlocked(session: Session, run: Run, span_start: datetime, span_end: datetime) -> None:
    """Refuse (Conflict) a change of the run's time in [span_start, span_end] where one of its
    expert's approved timesheets covers any of it: approved time is locked."""
    query = select(Timesheet).where(
        Timesheet.expert_id == run.expert_id, Timesheet.status == TimesheetStatus.approved
    )
    for sheet in session.exec(query.order_by(Timesheet.period_start)):
        first, finish = bounds_of(sheet)
        if _overlaps(span_start, span_end, first, finish):
            raise Conflict(
                f"The timesheet for {sheet.label} ({sheet.timezone}) is approved and locked;"
                f" run {run.id}'s time in that {sheet.unit} cannot change any more."
            )


def refresh_for_run(session: Session, run: Run, now: datetime) -> None:
    """Recompute the sheets of the run's expert whose periods the run touches, after its pauses
    changed: a submitted sheet gets new lines and totals (audited); an open or returned one its
    totals; an approved one never changes. In the caller's transaction."""
    if run.started_at is None:
        return
    stop = max(min(run.finished_at or now, now), run.started_at)
    query = select(Timesheet).where(
        Timesheet.expert_id == run.expert_id, Timesheet.status != TimesheetStatus.approved
    )
    for sheet in session.exec(query.order_by(Timesheet.period_start)).all():
        first, finish = bounds_of(sheet)
        if not _overlaps(run.started_at, stop, first, finish):
            continue
        found = compute(session, sheet, now)
        sum_ = totals(found)
        if sheet.status == TimesheetStatus.submitted:
            if found == stored_lines(session, sheet):
                continue
            before = _state(sheet)
            _move(
                session,
                sheet,
                (TimesheetStatus.submitted,),
                TimesheetStatus.submitted,
                "recomputed",
                working_s=sum_.working_s,
                idle_s=sum_.idle_s,
            )
            _store_lines(session, sheet, found)
            audit.record(
                session,
                actor_id=None,
                action="timesheet.recompute",
                obj=sheet,
                now=now,
                before=before,
                after={**_state(sheet), "run_id": run.id},
            )
        else:
            sheet.working_s, sheet.idle_s = sum_.working_s, sum_.idle_s
            session.add(sheet)
    session.flush()


# --- making the sheets of ended periods ----------------------------------------------------------


def _unmade(
    session: Session, calendar: PayCalendar, now: datetime, expert_id: int | None = None
) -> list[tuple[int, date]]:
    """(expert, period start) of every ended period in which the expert worked at least a
    second and that has no sheet yet."""
    made = set(session.exec(select(Timesheet.expert_id, Timesheet.period_start)).all())
    query = select(Run).where(Run.started_at.is_not(None))
    if expert_id is not None:
        query = query.where(Run.expert_id == expert_id)
    candidates: dict[tuple[int, date], list[Run]] = defaultdict(list)
    for run in session.exec(query.order_by(Run.id)):
        last = min(run.finished_at or now, now)
        for start in calendar.starts(run.started_at, max(last, run.started_at)):
            end = start + timedelta(days=calendar.days)
            if (run.expert_id, start) in made:
                continue
            if pay_periods.midnight(end, calendar.timezone) > now:
                continue
            candidates[(run.expert_id, start)].append(run)
    found, rows = [], {}
    for (expert, start), runs in sorted(candidates.items()):
        first, finish = pay_periods.bounds(
            start, start + timedelta(days=calendar.days), calendar.timezone
        )
        for run in runs:
            if run.id not in rows:
                rows[run.id] = pauses.for_run(session, run.id)
            clock = timesheet_lines.RunClock(run, rows[run.id], now)
            if clock.working(finish) - clock.working(first) >= 1:
                found.append((expert, start))
                break
    return found


def open_for_expert(
    session: Session, expert_id: int, calendar: PayCalendar, now: datetime
) -> Timesheet:
    """Make the expert's sheets of ended periods they worked in, and the current period's;
    the current one is returned. The caller commits."""
    for expert, start in _unmade(session, calendar, now, expert_id):
        sheet_for(session, expert, start, calendar, now)
    current, _ = calendar.period_at(now)
    return sheet_for(session, expert_id, current, calendar, now)


def rollover(session: Session, now: datetime, settings: PaySettings) -> int:
    """The scheduled job: an open sheet for every expert and ended period with working time,
    so they appear for submission and review. Idempotent; commits. Returns how many it made."""
    calendar = PayCalendar.of(settings)
    made = 0
    for expert, start in _unmade(session, calendar, now):
        sheet_for(session, expert, start, calendar, now)
        made += 1
    session.commit()
    return made
