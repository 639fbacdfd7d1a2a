"""Issue 17, finance and sign-in as a newcomer meets them, in Chromium.

Finance reviews a week with what it costs, is refused approving without ticking the confirmation
that states the amount, approves, drafts and confirms a payout batch and marks it paid; the expert
then sees the rate, hours, amount and "paid on <date>" with the reference. Finance approves two
chosen sheets after a page stating their total. Finance types bad rates and gets one message
stating the rule. An attacker's guesses pause the attacker's address while the owner signs in
from home; guesses from many addresses make the owner wait seconds on a new laptop, not at all
in the browser they signed in with before. The live server trusts X-Forwarded-For from
127.0.0.1 only, as from Caddy in front, so each browser context claims its own client address
through it.
"""

import re
from datetime import UTC, date, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlmodel import Session

from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from payments import rates
from tests.browser import sign_in
from tests.conftest import PASSWORD, fixed_now
from timetracking import timesheets
from timetracking.pauses import Pause, PauseReason
from timetracking.pay_periods import PayCalendar

WEEK = date(2026, 11, 16)
LABEL = "2026-11-16 to 2026-11-22"
MONDAY = datetime(2026, 11, 16, 9, tzinfo=UTC)
RULE = "Enter an hourly rate between 0.01 and 100,000.00, like 45 or 45.50."


def _submitted_week(engine, expert: User, finance: User) -> None:
    """Two runs (5:25:00 worked after 20 idle minutes) at 62.50 EUR an hour, submitted."""
    with Session(engine) as s:
        ada = s.get(User, expert.id)
        rates.set_rate(s, ada, 6250, "EUR", s.get(User, finance.id), MONDAY - timedelta(days=30),
                       effective_from=MONDAY - timedelta(days=30))  # fmt: skip
        for day, hours in ((0, 3.5), (2, 2.25)):
            start = MONDAY + timedelta(days=day)
            run = Run(expert_id=ada.id, environment="triton_cumsum/main",
                      status=RunStatus.finished, created_at=start, started_at=start,
                      finished_at=start + timedelta(hours=hours))  # fmt: skip
            s.add(run)
            s.flush()
            if day == 0:
                idle = start + timedelta(hours=1)
                s.add(Pause(run_id=run.id, started_at=idle, ended_at=idle + timedelta(minutes=20),
                            reason=PauseReason.idle))  # fmt: skip
        sheet = timesheets.sheet_for(s, ada.id, WEEK, PayCalendar(), MONDAY)
        s.commit()
        timesheets.submit(s, sheet, "Kernel week.", MONDAY + timedelta(days=8), ada)
        s.commit()


def test_finance_sees_costs_confirms_and_the_expert_sees_paid(page, new_page, shot, make_user,
                                                              engine):  # fmt: skip
    expert = make_user(Role.expert, name="Ada Expert", email="ada@example.org")
    finance = make_user(Role.finance, name="Fin Ance")
    _submitted_week(engine, expert, finance)

    sign_in(page, finance.email)
    page.locator("header").get_by_role("link", name="Timesheets").click()
    row = page.locator("#review-list tbody tr").filter(has_text="Ada Expert")
    expect(row).to_contain_text("62.50 EUR/h")
    expect(row).to_contain_text("338.54 EUR")
    expect(page.locator("#review-total")).to_contain_text("Waiting for approval: 1 timesheet")
    expect(page.locator("#review-sum")).to_have_text("338.54 EUR")
    shot("review-with-costs")

    row.get_by_role("link", name="Review").click()
    expect(page.locator("#pay-amount")).to_contain_text("338.54 EUR")
    confirm = page.get_by_label(
        f"I approve Ada Expert's 5:25:00 of working time (5.42 h) for {LABEL}: 338.54 EUR"
        " at 62.50 EUR/h."
    )
    expect(confirm).not_to_be_checked()
    page.get_by_role("button", name="Approve 338.54 EUR").click()  # not ticked
    expect(page.locator("#confirm-error")).to_have_text(
        "Tick the box to confirm what you approve; nothing was approved."
    )
    expect(page.locator("h1 .badge")).to_have_text("submitted")
    shot("approve-unconfirmed")
    confirm.check()
    shot("approve-confirm-ticked")
    page.get_by_role("button", name="Approve 338.54 EUR").click()
    expect(page.get_by_role("status")).to_contain_text("approved; it is locked now")
    expect(page.locator("#pay-state")).to_have_text("approved paid with the next payout")
    shot("timesheet-approved")

    page.locator("header").get_by_role("link", name="Payouts").click()
    page.get_by_label("Pay period").select_option(WEEK.isoformat())
    page.get_by_label("Paid by").select_option("csv")
    page.get_by_role("button", name="Draft batch").click()
    page.get_by_role("button", name="Approve batch").click()  # not ticked
    expect(page.locator("#confirm-error")).to_contain_text("Tick the box")
    expect(page.locator("h1 .badge")).to_have_text("draft")
    shot("batch-approve-unconfirmed")
    page.get_by_label(
        "I approve paying 1 timesheet of the period from 2026-11-16, 338.54 EUR in total, by a"
        " bank run from the CSV."
    ).check()
    page.get_by_role("button", name="Approve batch").click()
    expect(page.locator("h1 .badge")).to_have_text("approved")
    page.get_by_label("Bank run reference").fill("SEPA-2026-47")
    page.get_by_role("button", name="Mark paid").click()
    expect(page.get_by_role("status")).to_contain_text("1 paid")

    ada = new_page()
    sign_in(ada, expert.email)
    ada.locator("header").get_by_role("link", name="Timesheets").click()
    mine = ada.locator("#timesheets tbody tr").filter(has_text=LABEL)
    expect(mine.locator("td.amount")).to_have_text("338.54 EUR")
    expect(mine.locator("td.pay-state")).to_contain_text("paid on")
    expect(mine.locator("td.pay-state")).to_contain_text("reference SEPA-2026-47")
    shot("expert-list-paid", ada)
    mine.get_by_role("link", name="Open").click()
    expect(ada.locator("#pay-rate")).to_have_text("62.50 EUR/h")
    expect(ada.locator("#working-total")).to_have_text("5:25:00 (5.42 h)")
    expect(ada.locator("#pay-amount")).to_have_text("338.54 EUR")
    expect(ada.locator("#pay-state")).to_have_text(
        re.compile(r"^paid on \d{4}-\d\d-\d\d \d\d:\d\d \w+, reference SEPA-2026-47$")
    )
    shot("expert-sheet-paid", ada)


def test_finance_approves_chosen_timesheets_after_confirming_the_total(page, shot, make_user,
                                                                      engine):  # fmt: skip
    finance = make_user(Role.finance, name="Fin Ance")
    for name, email in (("Ada Expert", "ada@example.org"), ("Bea Expert", "bea@example.org")):
        _submitted_week(engine, make_user(Role.expert, name=name, email=email), finance)
    sign_in(page, finance.email)
    page.goto("/review/timesheets")
    expect(page.locator("#review-sum")).to_have_text("677.08 EUR")
    page.get_by_role("button", name="Approve chosen…").click()  # none ticked
    expect(page.get_by_role("alert")).to_have_text(
        "Choose the timesheets to approve: tick them in the list."
    )
    page.get_by_label(f"Choose Ada Expert, {LABEL}").check()
    page.get_by_label(f"Choose Bea Expert, {LABEL}").check()
    shot("review-chosen")
    page.get_by_role("button", name="Approve chosen…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Approve 2 timesheets")
    expect(page.locator("#chosen-total")).to_have_text("677.08 EUR")
    page.get_by_role("button", name="Approve 2 timesheets").click()  # not ticked
    expect(page.locator("#confirm-error")).to_have_text(
        "Tick the box to confirm what you approve. Nothing was approved."
    )
    shot("confirm-chosen-unticked")
    page.get_by_label(
        "I approve these 2 timesheets: 10:50:00 of working time, 677.08 EUR in total."
    ).check()
    page.get_by_role("button", name="Approve 2 timesheets").click()
    expect(page.get_by_role("status")).to_have_text("Approved 2 timesheets, 677.08 EUR in total.")
    expect(page.locator("#review-list")).to_have_count(0)
    page.goto("/review/timesheets?status=approved")
    expect(page.locator("#review-sum")).to_have_text("677.08 EUR")
    shot("approved-tab")


def test_every_bad_rate_gets_the_rule(page, shot, make_user):
    ada = make_user(Role.expert, name="Ada Expert")
    finance = make_user(Role.finance)
    sign_in(page, finance.email)
    page.goto("/finance")
    rate = page.get_by_label("Hourly rate")
    field = page.locator(".field").filter(has=rate)
    for bad in ("-10", "0", "99999999999", "45.505", "sixty", ""):
        page.get_by_label("Expert").select_option(str(ada.id))
        rate.fill(bad)
        page.get_by_role("button", name="Save rate").click()
        expect(field.locator(".field-error")).to_have_text(RULE)
        expect(rate).to_have_value(bad)
        expect(page.locator("#rates")).to_contain_text("not set")
        if bad == "-10":
            shot("rate-negative")
    rate.fill("45.50")
    page.get_by_role("button", name="Save rate").click()
    expect(page.get_by_role("status")).to_have_text("New rate for Ada Expert saved.")
    expect(page.locator("#rates")).to_contain_text("45.50 USD")
    shot("rate-saved")


def _from(page: Page, address: str) -> Page:
    """This browser's requests reach the app through the trusted proxy as ``address``."""
    page.set_extra_http_headers({"X-Forwarded-For": address})
    return page


def _try(page: Page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_the_owner_signs_in_while_an_attacker_is_throttled(app, page, new_page, shot,
                                                           make_user):  # fmt: skip
    owner = make_user(Role.expert, name="Olive Owner", email="olive@example.org")
    start = datetime.now(UTC).replace(microsecond=0)
    fixed_now(app, start)
    attacker = _from(page, "203.0.113.5")
    for n in range(6):
        _try(attacker, owner.email, f"guess {n}")
    expect(attacker.get_by_role("alert")).to_have_text(
        "Too many failed sign-ins from your network, so sign-in from here is paused. Try again"
        " in about 15 minutes. If you forgot your password, ask your coordinator for a reset"
        " link."
    )
    shot("attacker-throttled", attacker)
    _try(attacker, owner.email, PASSWORD)  # even the right password, from there
    expect(attacker.get_by_role("alert")).to_contain_text("Too many failed sign-ins")

    home = _from(new_page(), "198.51.100.7")
    _try(home, owner.email, PASSWORD)
    expect(home).to_have_url(re.compile(r"/dashboard$"))
    shot("owner-signed-in", home)

    # Guesses from many addresses: the account is slowed by seconds, then lets the owner in.
    bots = new_page()
    for n in range(11):
        _try(_from(bots, f"192.0.2.{n + 10}"), owner.email, "guess")
    laptop = _from(new_page(), "198.51.100.8")
    _try(laptop, owner.email, PASSWORD)
    expect(laptop.get_by_role("alert")).to_have_text(
        "Too many failed sign-ins for this email address from several places, so each try must"
        " wait a little. Try again in 2 seconds."
    )
    shot("owner-slowed", laptop)
    # The browser the owner signed in with before (a device cookie) is not slowed at all.
    home.get_by_role("button", name="Sign out").click()
    _try(home, owner.email, PASSWORD)
    expect(home).to_have_url(re.compile(r"/dashboard$"))
    # And on the new laptop the owner waits the two seconds, then signs in.
    fixed_now(app, start + timedelta(seconds=2))
    laptop.get_by_label("Password").fill(PASSWORD)
    laptop.get_by_role("button", name="Sign in").click()
    expect(laptop).to_have_url(re.compile(r"/dashboard$"))
