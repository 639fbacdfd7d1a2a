"""Timesheets in the browser: an expert with one finished run last week opens Timesheets, sees
the hours and submits; a coordinator tries to reject without a reason (the error is beside the
field), then rejects with one; the expert reads it and submits again; finance approves, and the
sheet is approved with no forms left on it. The portal's clock is fixed at a Wednesday."""

import re
from datetime import UTC, datetime

from playwright.sync_api import expect
from sqlmodel import Session

from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from tests.browser import sign_in
from tests.conftest import fixed_now
from timetracking.pauses import Pause, PauseReason

NOW = datetime(2024, 3, 13, 10, 0, tzinfo=UTC)  # Wednesday; the week of 03-04 has ended
WEEK = "2024-03-04 to 2024-03-10"
REASON = "Wednesday's late pause looks off; please check it."


def _at(text: str) -> datetime:
    return datetime.fromisoformat(f"2024-{text}").replace(tzinfo=UTC)


def _seed_run(engine, expert: User) -> Run:
    """Wednesday 20:00 to Thursday 02:00 UTC: 20 min idle, a 20 min break across midnight,
    43 s of scoring. Worked: 3:30:00 on Wednesday, 1:49:17 on Thursday."""
    with Session(engine) as s:
        s.get(User, expert.id).timezone = "Europe/Berlin"
        run = Run(
            expert_id=expert.id,
            environment="triton_cumsum/main",
            status=RunStatus.finished,
            created_at=_at("03-06 19:58"),
            started_at=_at("03-06 20:00"),
            finished_at=_at("03-07 02:00"),
        )
        s.add(run)
        s.flush()
        for start, end, reason in [
            ("03-06 21:00", "03-06 21:20", PauseReason.idle),
            ("03-06 23:50", "03-07 00:10", PauseReason.manual),
            ("03-07 01:00:07", "03-07 01:00:50", PauseReason.scoring),
        ]:
            s.add(Pause(run_id=run.id, started_at=_at(start), ended_at=_at(end), reason=reason))
        s.commit()
        s.refresh(run)
        s.expunge(run)
        return run


def test_expert_submits_coordinator_returns_finance_approves(
    app, page, new_page, shot, make_user, engine
):
    fixed_now(app, NOW)
    expert = make_user(Role.expert, name="Ida Expert", email="ida@example.org")
    coordinator = make_user(Role.coordinator, name="Cora Coordinator")
    finance = make_user(Role.finance, name="Finn Finance")
    run = _seed_run(engine, expert)

    # The expert finds last week's timesheet with its hours.
    sign_in(page, expert.email)
    page.locator("header").get_by_role("link", name="Timesheets").click()
    expect(page.get_by_role("heading", name="Your timesheets")).to_be_visible()
    last_week = page.locator("#timesheets tbody tr").filter(has_text=WEEK)
    expect(last_week.locator("td")).to_have_text(
        [WEEK, "5:19:17", "0:20:00", "no rate yet", "open not submitted yet", "Review and submit"]
    )
    expect(page.locator("#timesheets tbody tr").filter(has_text="this week")).to_contain_text(
        "0:00:00"
    )
    shot("expert-timesheets")
    last_week.get_by_role("link", name="Review and submit").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Ida Expert, {WEEK}")
    expect(page.locator("#working-total")).to_have_text("5:19:17 (5.32 h)")
    expect(page.locator("#idle-total")).to_have_text("0:20:00")
    wednesday = page.locator(f"#line-{run.id}-2024-03-06")
    expect(wednesday.locator("td.num")).to_have_text(["3:30:00", "0:20:00", "0:10:00"])
    # Shown in her zone (Berlin, an hour ahead of the UTC pay days).
    expect(wednesday.locator("td.span")).to_have_text(
        "2024-03-06 21:00 CET to 2024-03-07 01:00 CET"
    )
    thursday = page.locator(f"#line-{run.id}-2024-03-07")
    expect(thursday.locator("td.num")).to_have_text(["1:49:17", "0:00:00", "0:10:43"])
    page.get_by_label("Comment for the reviewer (optional)").fill("One long evening.")
    page.get_by_role("button", name="Submit timesheet").click()
    expect(page.get_by_role("status")).to_have_text(f"Timesheet for {WEEK} submitted for review.")
    expect(page.locator("h1 .badge")).to_have_text("submitted")
    expect(page.locator("#submit")).to_have_count(0)
    shot("expert-submitted")
    sheet_url = page.url

    # The coordinator returns it: first without a reason (refused beside the field), then with.
    cora = new_page()
    sign_in(cora, coordinator.email)
    cora.locator("header").get_by_role("link", name="Timesheets").click()
    row = cora.locator("#review-list tbody tr").filter(has_text="Ida Expert")
    expect(row).to_contain_text(WEEK)
    expect(row).to_contain_text("5:19:17")
    shot("review-list", cora)
    row.get_by_role("link", name="Review").click()
    expect(cora.locator("#expert-comment")).to_have_text("One long evening.")
    cora.get_by_role("button", name="Reject").click()
    expect(cora.locator("#reason-error")).to_have_text("Say why, so the expert knows what to fix.")
    expect(cora.get_by_label("Reason (shown to the expert)")).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(cora.locator("h1 .badge")).to_have_text("submitted")
    shot("reject-without-reason", cora)
    cora.get_by_label("Reason (shown to the expert)").fill(REASON)
    cora.get_by_role("button", name="Reject").click()
    expect(cora.get_by_role("status")).to_have_text(f"Timesheet for {WEEK} returned to the expert.")
    expect(cora.locator("h1 .badge")).to_have_text("rejected")
    expect(cora.locator("#decide")).to_have_count(0)

    # The expert reads why and submits again.
    page.goto(sheet_url)
    expect(page.locator("#rejection")).to_contain_text("Returned by Cora Coordinator")
    expect(page.locator("#rejection blockquote")).to_have_text(REASON)
    shot("expert-sees-rejection")
    page.get_by_label("Comment for the reviewer (optional)").fill(
        "Checked: the break really ended at 01:10 my time."
    )
    page.get_by_role("button", name="Submit timesheet").click()
    expect(page.locator("h1 .badge")).to_have_text("submitted")

    # Finance approves; the sheet is locked: approved, no forms on it for anyone.
    finn = new_page()
    sign_in(finn, finance.email)
    finn.locator("header").get_by_role("link", name="Timesheets").click()
    finn.locator("#review-list tbody tr").filter(has_text="Ida Expert").get_by_role(
        "link", name="Review"
    ).click()
    expect(finn.locator("#expert-comment")).to_contain_text("Checked: the break")
    finn.get_by_label("I approve Ida Expert's 5:19:17 of working time").check()
    finn.get_by_role("button", name="Approve").click()
    expect(finn.get_by_role("status")).to_have_text(
        f"Timesheet for {WEEK} approved; it is locked now."
    )
    expect(finn.locator("h1 .badge")).to_have_text("approved")
    expect(finn.locator("#decision")).to_contain_text("by Finn Finance")
    expect(finn.locator("main form")).to_have_count(0)
    shot("finance-approved", finn)

    page.goto(sheet_url)
    expect(page.locator("h1 .badge")).to_have_text("approved")
    expect(page.locator("#working-total")).to_have_text("5:19:17 (5.32 h)")
    expect(page.locator("main form")).to_have_count(0)
    page.locator("header").get_by_role("link", name="Timesheets").click()
    expect(page.locator("#timesheets tbody tr").filter(has_text=WEEK)).to_contain_text("approved")
    expect(page).to_have_url(re.compile(r"/timesheets$"))
    shot("expert-approved")
