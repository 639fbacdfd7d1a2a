"""What an approved timesheet is worth: its days' working seconds at the rates then known.

Each line (a run on a day) is paid at the rate in effect when that day began, for the run's
environment, among the rates set before the sheet was approved. Seconds are summed per rate and
each sum is priced once, rounded half up to the cent, so a sheet at one rate is exactly
seconds x rate / 3600 and the total is the sum of its parts to the cent.
"""

from collections import defaultdict
from dataclasses import dataclass

from sqlmodel import Session, select

from baselines.errors import DomainError
from baselines.runs import Run
from payments import rates
from payments.amounts import amount_cents
from payments.rates import ExpertRate
from timetracking import pay_periods, timesheets
from timetracking.timesheet_lines import Line
from timetracking.timesheets import Timesheet, TimesheetStatus


@dataclass(frozen=True)
class Part:
    environment: str  # "" for the general rate
    hourly_cents: int
    seconds: int
    amount_cents: int


@dataclass(frozen=True)
class Priced:
    currency: str
    seconds: int
    amount_cents: int
    parts: tuple[Part, ...]

    def parts_json(self) -> list[dict]:
        return [p.__dict__ for p in self.parts]


class Unpriced(DomainError):
    """A sheet with work at no known rate: finance must set one before it is paid."""

    status_code = 409


def rated_lines(
    session: Session, sheet: Timesheet, lines: list[Line] | None = None
) -> list[tuple[Line, Run, ExpertRate]]:
    """Each worked line of the sheet (its stored lines unless ``lines`` are given) with its run
    and the rate it is paid at: the rates known when it was approved, or, before that, today's
    (an estimate of what approving it now would pay)."""
    history = rates.history(session, sheet.expert_id)
    given = timesheets.stored_lines(session, sheet) if lines is None else lines
    found = [line for line in given if line.working_s > 0]
    known_by = sheet.decided_at if sheet.status == TimesheetStatus.approved else None
    runs = {
        run.id: run
        for run in session.exec(select(Run).where(Run.id.in_({line.run_id for line in found})))
    }
    rated = []
    for line in found:
        run = runs[line.run_id]
        day_start = pay_periods.midnight(line.day, sheet.timezone)
        rate = rates.rate_at(history, run.environment, day_start, known_by=known_by)
        if rate is None:
            known = f" by {known_by:%Y-%m-%d %H:%M} UTC" if known_by else ""
            raise Unpriced(
                f"No hourly rate was set{known} for work on {line.day:%Y-%m-%d}"
                f" in {run.environment}; set one on the Rates page."
            )
        rated.append((line, run, rate))
    return rated


def price(session: Session, sheet: Timesheet, lines: list[Line] | None = None) -> Priced:
    seconds: dict[tuple[str, int, str], int] = defaultdict(int)
    for line, _, rate in rated_lines(session, sheet, lines):
        seconds[(rate.environment or "", rate.hourly_cents, rate.currency)] += line.working_s
    currencies = {currency for _, _, currency in seconds}
    if len(currencies) > 1:
        raise Unpriced(f"This sheet's rates are in {', '.join(sorted(currencies))}; use one.")
    parts = tuple(
        Part(environment, hourly, total, amount_cents(total, hourly))
        for (environment, hourly, _), total in sorted(seconds.items())
    )
    return Priced(
        currency=next(iter(currencies), "USD"),
        seconds=sum(p.seconds for p in parts),
        amount_cents=sum(p.amount_cents for p in parts),
        parts=parts,
    )
