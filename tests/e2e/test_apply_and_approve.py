"""The main journey: a person applies, a coordinator approves them with a rate, they see it."""

import re

from playwright.sync_api import expect

from baselines.users import Role
from tests.browser import sign_in
from tests.conftest import PASSWORD

EXPERT_PASSWORD = "a long enough password"


def test_apply_then_coordinator_approves_with_rate(page, new_page, shot, make_user):
    # A person finds the portal and applies.
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Measure how well people do")
    shot("landing")
    page.locator("header").get_by_role("link", name="Apply", exact=True).click()
    expect(page).to_have_url(re.compile(r"/apply$"))
    expect(page.get_by_role("heading", name="Apply as an expert")).to_be_visible()
    page.get_by_label("Full name").fill("Grace Hopper")
    page.get_by_label("Email").fill("grace@example.org")
    page.get_by_label("Password").fill(EXPERT_PASSWORD)
    page.get_by_label("Background").fill("Compilers, then ten years of distributed training.")
    page.get_by_label("Links").fill("https://github.com/grace\nhttps://example.org/papers")
    page.get_by_label("Availability").fill("Weekdays, 8-hour blocks")
    page.get_by_label("my working time is measured").check()
    page.get_by_label("snapshots of my task folder").check()
    shot("application-filled")
    page.get_by_role("button", name="Send application").click()

    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("status")).to_have_text(
        "Thank you. Your application is in; a coordinator will review it."
    )
    expect(page.get_by_role("heading", name="Hello, Grace Hopper")).to_be_visible()
    application = page.locator("#application")
    expect(application.locator(".badge")).to_have_text("pending")
    expect(application).to_contain_text("A coordinator will review it")
    expect(page.locator("#assignments")).to_contain_text("once you are approved")
    shot("dashboard-pending")

    # A coordinator, on another computer, reviews it.
    coordinator = make_user(Role.coordinator, name="Cora Coordinator")
    staff = new_page()
    sign_in(staff, coordinator.email, PASSWORD)
    expect(staff).to_have_url(re.compile(r"/coordinator/applications$"))
    staff.locator("header nav").get_by_role("link", name="Applications").click()
    expect(staff.get_by_role("heading", name="Applications")).to_be_visible()
    row = staff.get_by_role("row").filter(has_text="grace@example.org")
    expect(row).to_contain_text("Grace Hopper")
    expect(row.locator(".badge")).to_have_text("pending")
    expect(staff.locator("nav.tabs a.active")).to_contain_text("Pending 1")
    shot("coordinator-applications", staff)
    row.get_by_role("link", name="Review").click()

    expect(staff.get_by_role("heading", level=1)).to_contain_text("Grace Hopper")
    expect(staff.get_by_text("Compilers, then ten years of distributed training.")).to_be_visible()
    expect(staff.get_by_role("link", name="https://github.com/grace")).to_be_visible()
    expect(staff.get_by_text("time tracking: yes; snapshots: yes")).to_be_visible()
    shot("coordinator-application", staff)

    # A rate that is not an amount is refused, with the reason next to the rate field.
    staff.get_by_label("Hourly rate").fill("abc")
    staff.get_by_role("button", name="Approve").click()
    rate_field = staff.locator(".field").filter(has=staff.get_by_label("Hourly rate"))
    expect(rate_field.locator(".field-error")).to_have_text(
        "Enter an hourly rate between 0.01 and 100,000.00, like 45 or 45.50."
    )
    expect(staff.get_by_label("Hourly rate")).to_have_attribute("aria-invalid", "true")
    expect(staff.get_by_label("Hourly rate")).to_have_value("abc")
    expect(staff.get_by_role("heading", level=1).locator(".badge")).to_have_text("pending")
    shot("coordinator-rate-error", staff)

    staff.get_by_label("Hourly rate").fill("60.00")
    staff.get_by_label("Currency").select_option("USD")
    staff.get_by_role("button", name="Approve").click()
    expect(staff.get_by_role("status")).to_have_text("Grace Hopper is approved.")
    expect(staff.get_by_role("heading", level=1).locator(".badge")).to_have_text("approved")
    expect(staff.get_by_text("Hourly rate: 60.00 USD")).to_be_visible()
    expect(staff.get_by_text("by Cora Coordinator")).to_be_visible()
    shot("coordinator-approved", staff)

    # The expert signs in again, elsewhere, and sees the decision and the rate.
    expert = new_page()
    sign_in(expert, "grace@example.org", EXPERT_PASSWORD)
    expect(expert).to_have_url(re.compile(r"/dashboard$"))
    application = expert.locator("#application")
    expect(application.locator(".badge")).to_have_text("approved")
    expect(application.locator("strong")).to_have_text("60.00 USD")
    expect(application).to_contain_text("You are approved to take part, at 60.00 USD an hour.")
    expect(expert.locator("#assignments")).to_contain_text("No environment is assigned to you yet")
    shot("expert-approved", expert)
