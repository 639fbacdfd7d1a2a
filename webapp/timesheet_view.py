"""What a timesheet page shows: its lines grouped by day then run, each with the stretch of the
day the run covered (shown in the viewer's zone), the day's length where the clocks changed,
the totals, the adjustments with their reasons, and what the sheet is worth and whether it was
paid (``pay_of``)."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from baselines.runs import Run
from baselines.users import User
from payments import pricing
from payments.amounts import hours_text
from payments.batches import LineStatus, PayoutLine
from payments.pricing import Part
from timetracking import adjustments, pay_periods, timesheets
from timetracking.adjustments import Adjustment
from timetracking.timesheet_lines import Line
from timetracking.timesheets import Timesheet, TimesheetStatus, Totals


@dataclass
class Entry:
    line: Line
    run: Run
    start: datetime  # the part of the day the run covered (UTC; templates show it local)
    end: datetime


@dataclass
class Day:
    day: date
    start: datetime
    end: datetime
    entries: list[Entry] = field(default_factory=list)

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    @property
    def totals(self) -> Totals:
        return timesheets.totals(e.line for e in self.entries)


@dataclass
class SheetView:
    sheet: Timesheet
    expert: User
    days: list[Day]
    totals: Totals
    adjustments: list[Adjustment]
    start: datetime
    end: datetime
    decided_by: User | None


def sheet_totals(session: Session, sheet: Timesheet, now: datetime) -> Totals:
    """The totals a list shows: frozen ones once submitted, else as of now."""
    if sheet.status in timesheets.FROZEN:
        return Totals(sheet.working_s, sheet.idle_s)
    return timesheets.totals(timesheets.compute(session, sheet, now))


def build(session: Session, sheet: Timesheet, now: datetime) -> SheetView:
    found = timesheets.lines(session, sheet, now)
    runs = {line.run_id: session.get(Run, line.run_id) for line in found}
    by_day: dict[date, Day] = {}
    for line in found:
        if line.day not in by_day:
            start, end = pay_periods.bounds(line.day, line.day + timedelta(days=1), sheet.timezone)
            by_day[line.day] = Day(line.day, start, end)
        day, run = by_day[line.day], runs[line.run_id]
        stop = min(run.finished_at or now, now)
        day.entries.append(Entry(line, run, max(day.start, run.started_at), min(day.end, stop)))
    start, end = timesheets.bounds_of(sheet)
    return SheetView(
        sheet=sheet,
        expert=session.get(User, sheet.expert_id),
        days=[by_day[d] for d in sorted(by_day)],
        totals=timesheets.totals(found),
        adjustments=adjustments.for_runs(session, sorted(runs)),
        start=start,
        end=end,
        decided_by=session.get(User, sheet.decided_by_id) if sheet.decided_by_id else None,
    )


@dataclass(frozen=True)
class Pay:
    """What a sheet is worth and where its payment stands.

    ``amount_cents`` is None when some work has no rate yet (``problem`` says which). Before
    approval it is an estimate at today's rates; once approved the rates known then fix it
    (``final``), and once in a payout batch the batch's line is the amount paid."""

    sheet_status: str
    seconds: int
    currency: str
    amount_cents: int | None
    parts: tuple[Part, ...]
    final: bool
    problem: str = ""
    line: PayoutLine | None = None

    @property
    def hours(self) -> str:
        """Decimal hours, as the payout CSV shows them ("5.42")."""
        return hours_text(self.seconds)

    @property
    def paid(self) -> bool:
        return self.line is not None and self.line.status == LineStatus.paid

    @property
    def state(self) -> str:
        """paid, being paid, payment failed, approved, submitted, returned or open."""
        if self.line is not None:
            named = {LineStatus.paid: "paid", LineStatus.failed: "payment failed"}
            return named.get(self.line.status, "being paid")
        named = {
            TimesheetStatus.approved: "approved",
            TimesheetStatus.submitted: "submitted",
            TimesheetStatus.rejected: "returned",
        }
        return named.get(self.sheet_status, "open")


def payout_line(session: Session, sheet: Timesheet) -> PayoutLine | None:
    query = select(PayoutLine).where(PayoutLine.timesheet_id == sheet.id)
    return session.exec(query).first()


def pay_of(session: Session, sheet: Timesheet, now: datetime) -> Pay:
    """The sheet's amount (integer cents) and payment state, for the expert and for finance."""
    final = sheet.status == TimesheetStatus.approved
    line = payout_line(session, sheet) if final else None
    if line is not None:
        parts = tuple(Part(**part) for part in line.parts)
        return Pay(sheet.status, line.seconds, line.currency, line.amount_cents, parts, True,
                   line=line)  # fmt: skip
    found = None if sheet.status in timesheets.FROZEN else timesheets.compute(session, sheet, now)
    try:
        priced = pricing.price(session, sheet, found)
    except pricing.Unpriced as exc:
        seconds = sheet_totals(session, sheet, now).working_s
        return Pay(sheet.status, seconds, "", None, (), final, problem=exc.message)
    return Pay(sheet.status, priced.seconds, priced.currency, priced.amount_cents, priced.parts,
               final)  # fmt: skip
