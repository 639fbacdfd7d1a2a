"""Finance's payout pages: build a batch from a period's approved timesheets, review it, approve
it, pay it (Stripe, or a bank run from the CSV marked paid), and download its CSVs; the same CSVs
for scripts under /api/v1."""

from datetime import date

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, select

from baselines.errors import DomainError
from baselines.users import Role, User
from payments import batches, exports, paying
from payments.batches import Method, PayoutBatch
from timetracking.timesheets import Timesheet, TimesheetStatus
from webapp import lists, paging, stripe_setup
from webapp.auth.sessions import flash
from webapp.deps import FinanceUser, NowDep, RowId, SessionDep, SettingsDep, TokenUser
from webapp.forms import Problems, field_error, text_fields
from webapp.routes import pages_router
from webapp.settings import Settings
from webapp.templating import render

router = pages_router(prefix="/finance/payouts")
api = APIRouter(prefix="/api/v1/payouts", tags=["payouts"])


def payable_periods(session: Session) -> list[tuple[date, int]]:
    """Periods with approved timesheets no batch holds yet, and how many."""
    taken = select(batches.PayoutLine.timesheet_id)
    query = select(Timesheet.period_start).where(
        Timesheet.status == TimesheetStatus.approved, Timesheet.id.not_in(taken)
    )
    counts: dict[date, int] = {}
    for start in session.exec(query):
        counts[start] = counts.get(start, 0) + 1
    return sorted(counts.items(), reverse=True)


def _methods(settings: Settings) -> list[str]:
    return [Method.stripe, Method.csv] if settings.stripe_enabled else [Method.csv]


def _list(request, session, settings, status_code=200, errors=None, values=None):
    page = paging.page_of(request, session, lists.payout_batches())
    totals = {b.id: _totals(session, b) for b in page.items}
    context = {
        "page": page,
        "batches": page.items,
        "totals": totals,
        "periods": payable_periods(session),
        "methods": _methods(settings),
        "stripe": settings.stripe_enabled,
        "errors": errors or {},
        "values": values or {},
    }
    return render(request, "finance/payouts.html", context, status_code=status_code)


def _totals(session: Session, batch: PayoutBatch) -> dict[str, int]:
    sums: dict[str, int] = {}
    for line in batches.lines(session, batch.id):
        sums[line.currency] = sums.get(line.currency, 0) + line.amount_cents
    return sums


@router.get("")
def list_batches(request: Request, user: FinanceUser, session: SessionDep, settings: SettingsDep):
    return _list(request, session, settings)


@router.post("")
async def build_batch(
    request: Request, user: FinanceUser, session: SessionDep, settings: SettingsDep, now: NowDep
):
    form = text_fields(await request.form(), "period", "method")
    problems = Problems()  # every field's message at once
    try:
        try:
            period = date.fromisoformat(form["period"])
        except ValueError:
            problems.add("period", "Choose a pay period.")
        if form["method"] not in _methods(settings):
            problems.add("method", "Choose how the batch is paid.")
        problems.raise_any()
        batch, skipped = batches.build(session, period, Method(form["method"]), user, now)
    except DomainError as exc:
        session.rollback()
        if exc.field is None:
            raise
        return _list(request, session, settings, 400, field_error(exc), form)
    flash(request, f"Batch {batch.id} drafted. Review it, then approve it.")
    for reason in skipped:
        flash(request, f"Left out: {reason}", "error")
    return RedirectResponse(f"/finance/payouts/{batch.id}", status_code=303)


def _page(request, session, settings, batch, status_code=200, errors=None):
    lines = batches.lines(session, batch.id)
    people = {u.id: u for u in session.exec(select(User).where(User.role == Role.expert))}
    context = {
        "batch": batch,
        "lines": lines,
        "people": people,
        "totals": _totals(session, batch),
        "stripe": settings.stripe_enabled,
        "errors": errors or {},
    }
    return render(request, "finance/payout.html", context, status_code=status_code)


@router.get("/{batch_id}")
def show_batch(
    request: Request, batch_id: RowId, user: FinanceUser, session: SessionDep, settings: SettingsDep
):
    return _page(request, session, settings, batches.get(session, batch_id))


@router.post("/{batch_id}/approve")
async def approve_batch(
    request: Request,
    batch_id: RowId,
    user: FinanceUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    """Approve a draft once finance ticked the box that states its lines and total."""
    batch = batches.get(session, batch_id)
    form = text_fields(await request.form(), "confirm")
    if batch.status == batches.BatchStatus.draft and form["confirm"] != "yes":
        error = "Tick the box to confirm the total you approve; nothing was approved."
        return _page(request, session, settings, batch, 400, {"confirm": error})
    batches.approve(session, batch, user, now)
    flash(request, f"Batch {batch_id} approved; it can be paid now.")
    return RedirectResponse(f"/finance/payouts/{batch_id}", status_code=303)


@router.post("/{batch_id}/discard")
def discard_batch(request: Request, batch_id: RowId, user: FinanceUser, session: SessionDep,
                  now: NowDep):  # fmt: skip
    batches.discard(session, batches.get(session, batch_id), user, now)
    flash(request, f"Batch {batch_id} discarded; its timesheets can be batched again.")
    return RedirectResponse("/finance/payouts", status_code=303)


@router.post("/{batch_id}/pay")
def pay_batch(
    request: Request,
    batch_id: RowId,
    user: FinanceUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    if not settings.stripe_enabled:
        raise HTTPException(status_code=409, detail="Stripe is not configured; pay from the CSV.")
    batch = batches.get(session, batch_id)
    outcome = paying.pay_by_stripe(session, batch, stripe_setup.gateway(settings), user, now)
    flash(request, f"Batch {batch_id}: {outcome.summary()}.", "error" if outcome.failed else "ok")
    return RedirectResponse(f"/finance/payouts/{batch_id}", status_code=303)


@router.post("/{batch_id}/mark-paid")
async def mark_paid(
    request: Request,
    batch_id: RowId,
    user: FinanceUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    batch = batches.get(session, batch_id)
    form = text_fields(await request.form(), "reference")
    try:
        outcome = paying.mark_paid(session, batch, form["reference"], user, now)
    except DomainError as exc:
        session.rollback()
        if exc.field is None:
            raise
        return _page(request, session, settings, batch, 400, field_error(exc))
    flash(request, f"Batch {batch_id}: {outcome.summary()}.")
    return RedirectResponse(f"/finance/payouts/{batch_id}", status_code=303)


EXPORTS = {"batch": (exports.batch_csv, ""), "detail": (exports.detail_csv, "-detail")}


def _export(session: Session, batch_id: int, kind: str) -> Response:
    """One of the batch's CSVs as a download; the page and the API serve the same bytes."""
    batch = batches.get(session, batch_id)
    make, suffix = EXPORTS[kind]
    return Response(
        make(session, batch).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="payout-batch-{batch.id}{suffix}.csv"'
        },
    )


@router.get("/{batch_id}/batch.csv")
def batch_csv(batch_id: RowId, user: FinanceUser, session: SessionDep):
    return _export(session, batch_id, "batch")


@router.get("/{batch_id}/detail.csv")
def detail_csv(batch_id: RowId, user: FinanceUser, session: SessionDep):
    return _export(session, batch_id, "detail")


def finance_token(user: TokenUser) -> User:
    if user.role not in (Role.finance, Role.admin):
        raise HTTPException(status_code=403, detail="Your role cannot open this page.")
    return user


@api.get("/{batch_id}/batch.csv", dependencies=[Depends(finance_token)])
def api_batch_csv(batch_id: RowId, session: SessionDep):
    return _export(session, batch_id, "batch")


@api.get("/{batch_id}/detail.csv", dependencies=[Depends(finance_token)])
def api_detail_csv(batch_id: RowId, session: SessionDep):
    return _export(session, batch_id, "detail")
