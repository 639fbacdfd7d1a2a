"""Long lists in the browser: a coordinator pages through 60 applications (the "All" tab stays
chosen on every page) and 60 ended runs, and mistypes a page number; finance pages through 55
timesheets waiting for review. Pages hold 50 rows, so each list has a second page."""

import re
from datetime import UTC, date, datetime, timedelta

from playwright.sync_api import expect
from sqlmodel import Session

from baselines.applications import Application, ApplicationStatus
from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from tests.browser import sign_in
from timetracking.timesheets import Timesheet, TimesheetStatus

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def shown(first: int, last: int, total: int) -> str:
    """The pager's words for the rows on a page (an en dash between the numbers)."""
    return f"Rows {first}\u2013{last} of {total}"


def _seed(engine) -> None:
    """60 experts, each with an application (every third one approved), a finished run, and
    (the first 55) a submitted timesheet; inserted straight into the database."""
    with Session(engine) as s:
        experts = [
            User(
                email=f"long{i:02d}@example.org",
                name=f"Expert {i:02d}",
                role=Role.expert,
                password_hash="",
                created_at=T0,
            )
            for i in range(60)
        ]
        s.add_all(experts)
        s.flush()
        for i, e in enumerate(experts):
            s.add(
                Application(
                    user_id=e.id, background="Kernels and training loops.", availability="any",
                    consent_time_tracking=True, consent_snapshots=True,
                    submitted_at=T0 + timedelta(minutes=i),
                    status=ApplicationStatus.approved if i % 3 == 0 else ApplicationStatus.pending,
                )
            )  # fmt: skip
            s.add(
                Run(expert_id=e.id, environment="triton_cumsum/main", status=RunStatus.finished,
                    created_at=T0, started_at=T0, finished_at=T0 + timedelta(hours=1))
            )  # fmt: skip
            if i < 55:
                s.add(
                    Timesheet(expert_id=e.id, period_start=date(2026, 11, 2),
                              period_end=date(2026, 11, 9), status=TimesheetStatus.submitted,
                              submitted_at=T0, working_s=3600, created_at=T0)
                )  # fmt: skip
        s.commit()


def test_coordinator_and_finance_page_through_long_lists(page, new_page, shot, engine, make_user):
    _seed(engine)
    coordinator, finance = make_user(Role.coordinator), make_user(Role.finance)

    # Applications: the All tab, 60 rows, newest first.
    sign_in(page, coordinator.email)
    page.goto("/coordinator/applications")
    page.get_by_role("link", name=re.compile(r"^All")).click()
    pager = page.get_by_role("navigation", name="Pages")
    expect(pager).to_contain_text(shown(1, 50, 60) + " (page 1 of 2)")
    rows = page.locator("#applications tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("Expert 59")
    shot("applications-page-1")
    pager.get_by_role("link", name="Next →").click()
    expect(page).to_have_url(re.compile(r"status=all&page=2$"))
    expect(pager).to_contain_text(shown(51, 60, 60) + " (page 2 of 2)")
    expect(rows).to_have_count(10)
    expect(rows.last).to_contain_text("Expert 00")
    expect(page.locator("nav.tabs a.active")).to_have_text(re.compile(r"^All"))
    expect(pager.get_by_role("link", name="Next →")).to_have_count(0)
    shot("applications-page-2")
    pager.get_by_role("link", name="← Previous").click()
    expect(pager).to_contain_text(shown(1, 50, 60))

    # A page that is not there: the last one, and a line that says so.
    page.goto("/coordinator/applications?status=all&page=7")
    expect(page.get_by_role("status")).to_have_text("There is no page 7; this is the last page, 2.")
    expect(rows).to_have_count(10)
    page.goto("/coordinator/applications?status=pending&page=two")
    expect(page.get_by_role("status")).to_have_text("'two' is not a page number; this is page 1.")
    expect(pager).to_contain_text(shown(1, 40, 40))
    shot("applications-bad-page")

    # Ended runs, the latest first, below the (empty) live list.
    page.goto("/coordinator/runs")
    ended = page.get_by_role("navigation", name="Ended run pages")
    expect(ended).to_contain_text(shown(1, 50, 60))
    expect(page.locator("#ended-runs tbody tr")).to_have_count(50)
    ended.get_by_role("link", name="Next →").click()
    expect(ended).to_contain_text(shown(51, 60, 60) + " (page 2 of 2)")
    expect(page.locator("#ended-runs tbody tr")).to_have_count(10)
    shot("ended-runs-page-2")

    # Finance: the timesheets waiting for review, every one of them reachable.
    other = new_page()
    sign_in(other, finance.email)
    other.goto("/review/timesheets")
    other.get_by_role("link", name=re.compile(r"^Submitted")).click()
    review = other.get_by_role("navigation", name="Pages")
    expect(review).to_contain_text(shown(1, 50, 55))
    expect(other.locator("#review-list tbody tr")).to_have_count(50)
    shot("review-page-1", other)
    review.get_by_role("link", name="Next →").click()
    expect(other).to_have_url(re.compile(r"status=submitted&page=2$"))
    expect(review).to_contain_text(shown(51, 55, 55) + " (page 2 of 2)")
    expect(other.locator("#review-list tbody tr")).to_have_count(5)
    shot("review-page-2", other)
