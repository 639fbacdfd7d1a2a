"""Pay in the browser: finance approves a submitted timesheet, drafts a payout batch for the
week, checks it, approves it, downloads its CSVs (whose total is the stored hours times the rate,
to the cent), is refused "mark paid" without a reference, then marks it paid; an expert onboards
to Stripe through the stand-in's hosted page and comes back ready to be paid."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import expect
from pydantic import SecretStr
from sqlmodel import Session

from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from payments import rates
from payments.amounts import amount_cents
from tests.browser import sign_in
from tests.stripe_standin import API_KEY, WEBHOOK_SECRET, StripeStandIn
from timetracking import timesheets
from timetracking.pauses import Pause, PauseReason
from timetracking.pay_periods import PayCalendar

WEEK = date(2026, 11, 16)


@pytest.fixture
def standin():
    with StripeStandIn() as server:
        yield server


@pytest.fixture
def settings(settings, standin):
    settings.stripe_secret_key = SecretStr(API_KEY)
    settings.stripe_webhook_secret = SecretStr(WEBHOOK_SECRET)
    settings.stripe_api_base = standin.url
    return settings


def _submitted_week(engine, expert: User, finance: User) -> int:
    """Two runs in the week of 16 November (one with a 20-minute idle pause), submitted."""
    monday = datetime(2026, 11, 16, 9, tzinfo=UTC)
    with Session(engine) as s:
        ada = s.get(User, expert.id)
        rates.set_rate(s, ada, 6250, "EUR", s.get(User, finance.id), monday - timedelta(days=30),
                       effective_from=monday - timedelta(days=30))  # fmt: skip
        for day, hours in ((0, 3.5), (2, 2.25)):
            start = monday + timedelta(days=day)
            run = Run(expert_id=ada.id, environment="triton_cumsum/main",
                      status=RunStatus.finished, created_at=start, started_at=start,
                      finished_at=start + timedelta(hours=hours))  # fmt: skip
            s.add(run)
            s.flush()
            if day == 0:
                s.add(Pause(run_id=run.id, started_at=start + timedelta(hours=1),
                            ended_at=start + timedelta(hours=1, minutes=20),
                            reason=PauseReason.idle))  # fmt: skip
        sheet = timesheets.sheet_for(s, ada.id, WEEK, PayCalendar(), monday)
        s.commit()
        timesheets.submit(s, sheet, "Kernel week.", monday + timedelta(days=8), ada)
        s.commit()
        return sheet.id


def test_finance_pays_a_week_and_an_expert_onboards_to_stripe(
    page, new_page, shot, make_user, engine, standin
):
    expert = make_user(Role.expert, name="Ada Expert", email="ada@example.org")
    finance = make_user(Role.finance, name="Fin Ance")
    sheet_id = _submitted_week(engine, expert, finance)
    worked = 3.5 * 3600 - 20 * 60 + 2.25 * 3600  # 5:25:00

    sign_in(page, finance.email)
    page.locator("header").get_by_role("link", name="Timesheets").click()
    page.locator("tr", has_text="Ada Expert").get_by_role("link", name="Review").click()
    expect(page.locator("body")).to_contain_text("5:25:00")
    page.get_by_label("I approve Ada Expert's 5:25:00 of working time").check()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("approved")
    shot("timesheet-approved")

    page.locator("header").get_by_role("link", name="Payouts").click()
    page.get_by_role("button", name="Draft batch").click()  # no period chosen
    expect(page.locator("#period-error")).to_have_text("Choose a pay period.")
    page.get_by_label("Pay period").select_option(WEEK.isoformat())
    page.get_by_label("Paid by").select_option("csv")
    page.get_by_role("button", name="Draft batch").click()
    expected = amount_cents(int(worked), 6250)  # 5.41666 h at 62.50 = 338.54
    expect(page.locator("#batch-total")).to_have_text(f"{expected // 100}.{expected % 100:02d} EUR")
    expect(page.locator("#payout-lines")).to_contain_text("Ada Expert")
    shot("batch-draft")
    page.get_by_label("I approve paying 1 timesheet").check()
    page.get_by_role("button", name="Approve batch").click()
    expect(page.get_by_role("status")).to_contain_text("approved")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text("utf-8"))))
    assert [(r["name"], r["hours"], r["rate"], r["currency"], r["amount"]) for r in rows] == [
        ("Ada Expert", "5.42", "62.50", "EUR", "338.54")
    ]
    with page.expect_download() as download:
        page.get_by_role("link", name="Download detail CSV").click()
    detail = list(csv.DictReader(io.StringIO(download.value.path().read_text("utf-8"))))
    assert sum(int(r["seconds"]) for r in detail) == worked
    assert "idle 1200" in detail[0]["pause_reasons"]

    page.get_by_role("button", name="Mark paid").click()
    expect(page.locator("#reference-error")).to_contain_text("bank run's reference")
    shot("mark-paid-without-reference")
    page.get_by_label("Bank run reference").fill("SEPA-2026-47")
    page.get_by_role("button", name="Mark paid").click()
    expect(page.get_by_role("status")).to_contain_text("1 paid")
    expect(page.locator("#payout-lines")).to_contain_text("SEPA-2026-47")
    shot("batch-paid")
    with Session(engine) as s:
        assert s.get(timesheets.Timesheet, sheet_id).status == "approved"

    # The expert gets paid by Stripe from now on: onboarding on Stripe's (stand-in) page.
    mine = new_page()
    sign_in(mine, expert.email)
    mine.goto("/account")
    mine.get_by_role("button", name="Get paid with Stripe").click()
    expect(mine.get_by_role("heading", name="Stripe onboarding")).to_be_visible()
    shot("stripe-onboarding", mine)
    mine.get_by_role("button", name="Submit details").click()
    expect(mine.get_by_role("status")).to_contain_text("Your Stripe account is ready")
    expect(mine.locator("#stripe-status")).to_have_text("ready")
    shot("stripe-ready", mine)
