"""Approving several submitted timesheets at once, from the review list: the chosen sheets with
what each costs and the total, a confirmation that states them, then all of them or none.

The confirmation form carries what it showed (each sheet's amount); if a sheet was decided or
its amount changed meanwhile, nothing is approved and the page is shown again as it is now.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from baselines.users import User
from timetracking import timesheets
from timetracking.timesheets import Timesheet, TimesheetStatus
from webapp import timesheet_view
from webapp.timesheet_view import Pay

MAX_CHOSEN = 200


def expected(pay: Pay) -> str:
    """What an approval form showed of a sheet's amount, sent back with the confirmation."""
    return "unpriced" if pay.amount_cents is None else f"{pay.amount_cents} {pay.currency}"


@dataclass
class Choice:
    rows: list[tuple[Timesheet, User, Pay]] = field(default_factory=list)
    decided: list[Timesheet] = field(default_factory=list)  # chosen, but no longer submitted

    @property
    def sums(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for _, _, pay in self.rows:
            if pay.amount_cents is not None:
                totals[pay.currency] = totals.get(pay.currency, 0) + pay.amount_cents
        return totals

    @property
    def unpriced(self) -> int:
        return sum(1 for _, _, pay in self.rows if pay.amount_cents is None)

    @property
    def seconds(self) -> int:
        return sum(pay.seconds for _, _, pay in self.rows)

    def shown(self) -> str:
        """The confirmation's record of what it states: "id=amount" for each sheet."""
        return ",".join(f"{sheet.id}={expected(pay)}" for sheet, _, pay in self.rows)


def chosen_ids(values: list[str]) -> list[int]:
    """The sheet ids ticked on the list (numbers only, each once, at most ``MAX_CHOSEN``)."""
    ids: list[int] = []
    for value in values:
        if value.isdigit() and int(value) not in ids and len(ids) < MAX_CHOSEN:
            ids.append(int(value))
    return ids


def choose(session: Session, ids: list[int], user: User, now: datetime) -> Choice:
    """The chosen sheets this reviewer may see, priced; those already decided set apart."""
    choice = Choice()
    for sheet_id in ids:
        sheet = timesheets.visible_to(session, sheet_id, user)
        if sheet.status != TimesheetStatus.submitted:
            choice.decided.append(sheet)
            continue
        expert = session.get(User, sheet.expert_id)
        choice.rows.append((sheet, expert, timesheet_view.pay_of(session, sheet, now)))
    return choice


def approve_all(session: Session, choice: Choice, user: User, now: datetime) -> None:
    """Approve every chosen sheet in the caller's transaction; the first that cannot be (a
    Conflict: decided by someone else a moment ago) leaves the caller to roll all back."""
    for sheet, _, _ in choice.rows:
        timesheets.approve(session, sheet, user, now)
