"""Timesheet pages: the expert's periods and submitting one; the staff's review list with approve
and return; one JSON view of a sheet for scripts."""

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel
from sqlmodel import Session

from baselines.errors import DomainError
from baselines.users import Role, User
from payments.money import format_cents
from timetracking import timesheets
from timetracking.pay_periods import PayCalendar
from timetracking.timesheets import Timesheet, TimesheetStatus
from webapp import lists, paging, timesheet_approval, timesheet_view
from webapp.auth.sessions import flash
from webapp.deps import (
    ExpertUser,
    NowDep,
    ReviewerUser,
    RowId,
    SessionDep,
    SettingsDep,
    TokenUser,
    require,
)
from webapp.forms import field_error, text_fields
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router()
api = APIRouter(prefix="/api/v1", tags=["timesheets"])

# The expert whose sheet it is, or a reviewer.
SheetViewer = Annotated[User, Depends(require(Role.expert, *timesheets.REVIEWERS))]
REVIEW_TABS = ("submitted", "open", "rejected", "approved", "all")


@router.get("/timesheets")
def my_timesheets(
    request: Request, user: ExpertUser, session: SessionDep, settings: SettingsDep, now: NowDep
):
    """Every period the expert worked in, and the current one (made here if the rollover job
    has not made them yet)."""
    current = timesheets.open_for_expert(session, user.id, PayCalendar.of(settings), now)
    session.commit()
    page = paging.page_of(request, session, lists.expert_timesheets(user.id))
    rows = [
        (
            sheet,
            timesheet_view.sheet_totals(session, sheet, now),
            timesheet_view.pay_of(session, sheet, now),
        )
        for sheet in page.items
    ]
    return render(request, "timesheets/list.html", {"page": page, "rows": rows, "current": current})


def _detail(
    request: Request,
    session: Session,
    sheet: Timesheet,
    user: User,
    now: datetime,
    status_code: int = 200,
    **extra,
):
    view = timesheet_view.build(session, sheet, now)
    pay = timesheet_view.pay_of(session, sheet, now)
    mine = sheet.expert_id == user.id
    context = {
        "view": view,
        "sheet": sheet,
        "mine": mine,
        "reviewer": user.role in timesheets.REVIEWERS and not mine,
        "submit_problem": (
            timesheets.submit_problem(session, sheet, now, user.timezone) if mine else None
        ),
        "pay": pay,
        "expected": timesheet_approval.expected(pay),
        "values": {},
        "errors": {},
    }
    context.update(extra)
    return render(request, "timesheets/show.html", context, status_code=status_code)


@router.get("/timesheets/{sheet_id}")
def show(request: Request, sheet_id: RowId, user: SheetViewer, session: SessionDep, now: NowDep):
    sheet = timesheets.visible_to(session, sheet_id, user)
    return _detail(request, session, sheet, user, now)


async def _act(request: Request, sheet_id: int, user: User, session, now, fields, act):
    """Carry out ``act(sheet, form)`` and commit; or undo it and show the sheet again with the
    error next to its field (400) or above the forms (the error's own status)."""
    form = text_fields(await request.form(), *fields)
    sheet = timesheets.visible_to(session, sheet_id, user)
    try:
        act(sheet, form)
    except DomainError as exc:
        session.rollback()
        session.refresh(sheet)
        status = 400 if exc.field else exc.status_code
        return sheet, _detail(
            request, session, sheet, user, now, status, values=form, errors=field_error(exc)
        )
    session.commit()
    return sheet, None


@router.post("/timesheets/{sheet_id}/submit")
async def submit(
    request: Request, sheet_id: RowId, user: ExpertUser, session: SessionDep, now: NowDep
):
    def act(sheet, form):
        timesheets.submit(session, sheet, form["comment"], now, user)

    sheet, shown = await _act(request, sheet_id, user, session, now, ("comment",), act)
    if shown is not None:
        return shown
    flash(request, f"Timesheet for {sheet.label} submitted for review.")
    return RedirectResponse(f"/timesheets/{sheet.id}", status_code=303)


@router.get("/review/timesheets")
def review(
    request: Request,
    user: ReviewerUser,
    session: SessionDep,
    now: NowDep,
    status: str = "submitted",
):
    return _review_page(request, session, now, status)


def _review_page(request: Request, session: Session, now: datetime, status: str,
                 status_code: int = 200, errors: dict[str, str] | None = None):  # fmt: skip
    """The list of one tab, each sheet with what it costs and the tab's total."""
    if status not in REVIEW_TABS:
        status = "submitted"
    chosen = None if status == "all" else TimesheetStatus(status)
    page = paging.page_of(request, session, lists.timesheets(chosen))
    rows = [
        (
            sheet,
            expert,
            timesheet_view.sheet_totals(session, sheet, now),
            timesheet_view.pay_of(session, sheet, now),
        )
        for sheet, expert in page.items
    ]
    sums: dict[str, int] = {}
    for *_, pay in rows:
        if pay.amount_cents is not None:
            sums[pay.currency] = sums.get(pay.currency, 0) + pay.amount_cents
    context = {
        "page": page,
        "rows": rows,
        "sums": sums,
        "unpriced": sum(1 for *_, pay in rows if pay.amount_cents is None),
        "status": status,
        "tabs": REVIEW_TABS,
        "counts": timesheets.counts(session),
        "errors": errors or {},
    }
    return render(request, "timesheets/review.html", context, status_code=status_code)


@router.post("/review/timesheets/approve")
async def approve_chosen(request: Request, user: ReviewerUser, session: SessionDep, now: NowDep):
    """Approve the sheets ticked on the review list: first a page that states them and their
    total with a box to tick; with it ticked (and nothing changed since), all of them at once."""
    form = await request.form()
    ids = timesheet_approval.chosen_ids([str(v) for v in form.getlist("sheet")])
    if not ids:
        error = {"__all__": "Choose the timesheets to approve: tick them in the list."}
        return _review_page(request, session, now, "submitted", 400, error)
    choice = timesheet_approval.choose(session, ids, user, now)
    confirming = form.get("step") == "confirm"
    error, status_code = "", 200
    if choice.decided:
        labels = ", ".join(f"{s.label} ({s.status})" for s in choice.decided)
        error = f"Decided meanwhile, so left out: {labels}. Check the rest and confirm again."
        status_code = 409
    elif confirming and form.get("shown") != choice.shown():
        error = "An amount changed since the page was shown (a rate was set meanwhile); check"
        error += " the new amounts and confirm again."
        status_code = 400
    elif confirming and form.get("confirm") != "yes":
        error, status_code = "Tick the box to confirm what you approve.", 400
    elif confirming:
        try:
            timesheet_approval.approve_all(session, choice, user, now)
        except DomainError:
            session.rollback()
            raise
        session.commit()
        total = " and ".join(format_cents(c, cur) for cur, c in choice.sums.items())
        count = len(choice.rows)
        sheets = f"{count} timesheet{'s' if count != 1 else ''}"
        flash(request, f"Approved {sheets}{', ' + total + ' in total' if total else ''}.")
        return RedirectResponse("/review/timesheets", status_code=303)
    if error:
        error += " Nothing was approved."
    context = {"choice": choice, "errors": {"confirm": error} if error else {}}
    return render(request, "timesheets/approve.html", context, status_code=status_code)


@router.post("/review/timesheets/{sheet_id}/approve")
async def approve(
    request: Request, sheet_id: RowId, user: ReviewerUser, session: SessionDep, now: NowDep
):
    def act(sheet, form):
        """Nothing is approved unless the form's box was ticked for the amount still due."""
        if sheet.status == TimesheetStatus.submitted:
            if form["confirm"] != "yes":
                raise DomainError(
                    "Tick the box to confirm what you approve; nothing was approved.",
                    field="confirm",
                )
            pay = timesheet_view.pay_of(session, sheet, now)
            if form["expected"] and form["expected"] != timesheet_approval.expected(pay):
                raise DomainError(
                    "The amount changed since this page was shown (a rate was set meanwhile);"
                    " check the new amount and confirm again. Nothing was approved.",
                    field="confirm",
                )
        timesheets.approve(session, sheet, user, now)

    fields = ("confirm", "expected")
    sheet, shown = await _act(request, sheet_id, user, session, now, fields, act)
    if shown is not None:
        return shown
    flash(request, f"Timesheet for {sheet.label} approved; it is locked now.")
    return RedirectResponse(f"/timesheets/{sheet.id}", status_code=303)


@router.post("/review/timesheets/{sheet_id}/reject")
async def reject(
    request: Request, sheet_id: RowId, user: ReviewerUser, session: SessionDep, now: NowDep
):
    def act(sheet, form):
        timesheets.reject(session, sheet, user, form["reason"], now)

    sheet, shown = await _act(request, sheet_id, user, session, now, ("reason",), act)
    if shown is not None:
        return shown
    flash(request, f"Timesheet for {sheet.label} returned to the expert.")
    return RedirectResponse(f"/timesheets/{sheet.id}", status_code=303)


# --- JSON ------------------------------------------------------------------------------------


class TimesheetLinePublic(BaseModel):
    run_id: int
    day: date
    working_s: int
    idle_s: int
    paused_s: int
    overridden: bool


class AdjustmentPublic(BaseModel):
    run_id: int
    kind: str
    at: datetime
    by: str
    reason: str
    working_before_s: float | None
    working_after_s: float | None
    added_s: int | None


class TimesheetPublic(BaseModel):
    id: int
    expert_id: int
    period_start: date
    period_end: date  # exclusive
    timezone: str
    status: TimesheetStatus
    working_s: int
    idle_s: int
    paused_s: int
    submitted_at: datetime | None
    expert_comment: str
    decided_at: datetime | None
    decided_by_id: int | None
    decision_reason: str
    # What it is worth (integer cents; None while some work has no rate): an estimate at today's
    # rates until approved. payment: open, returned, submitted, approved, being paid,
    # payment failed or paid.
    amount_cents: int | None
    currency: str
    amount_final: bool
    payment: str
    paid_at: datetime | None
    payout_reference: str
    lines: list[TimesheetLinePublic]
    adjustments: list[AdjustmentPublic]


def api_viewer(user: TokenUser) -> User:
    if user.role not in (Role.expert, *timesheets.REVIEWERS):
        raise HTTPException(status_code=403, detail="Your role cannot open this page.")
    return user


@api.get("/timesheets/{sheet_id}", response_model=TimesheetPublic)
def sheet_json(
    sheet_id: RowId,
    user: Annotated[User, Depends(api_viewer)],
    session: SessionDep,
    now: NowDep,
) -> TimesheetPublic:
    """A timesheet with its lines (frozen once submitted, else as of now) and adjustments."""
    sheet = timesheets.visible_to(session, sheet_id, user)
    session.commit()  # the token's last use, now that the answer is given
    view = timesheet_view.build(session, sheet, now)
    pay = timesheet_view.pay_of(session, sheet, now)
    lines = [entry.line for day in view.days for entry in day.entries]
    return TimesheetPublic(
        id=sheet.id,
        expert_id=sheet.expert_id,
        period_start=sheet.period_start,
        period_end=sheet.period_end,
        timezone=sheet.timezone,
        status=sheet.status,
        working_s=view.totals.working_s,
        idle_s=view.totals.idle_s,
        paused_s=view.totals.paused_s,
        submitted_at=sheet.submitted_at,
        expert_comment=sheet.expert_comment,
        decided_at=sheet.decided_at,
        decided_by_id=sheet.decided_by_id,
        decision_reason=sheet.decision_reason,
        amount_cents=pay.amount_cents,
        currency=pay.currency,
        amount_final=pay.final,
        payment=pay.state,
        paid_at=pay.line.paid_at if pay.paid else None,
        payout_reference=pay.line.reference if pay.paid else "",
        lines=[TimesheetLinePublic(**asdict(line)) for line in lines],
        adjustments=[
            AdjustmentPublic(
                run_id=a.run_id,
                kind=a.kind,
                at=a.at,
                by=a.by,
                reason=a.reason,
                working_before_s=a.before_s,
                working_after_s=a.after_s,
                added_s=a.added_s,
            )
            for a in view.adjustments
        ],
    )
