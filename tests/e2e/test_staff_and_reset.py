"""An admin adds a finance account; its owner sets a password from the one-time link and works."""

import re
from urllib.parse import urlsplit

from playwright.sync_api import expect
from sqlmodel import Session

from baselines import applications
from baselines.users import Role, User
from payments import rates
from tests.browser import sign_in
from tests.conftest import PASSWORD
from timetracking.utc import utcnow

NEW_PASSWORD = "ledgers balance at dawn"


def approve_with_rate(engine, expert: User, reviewer: User, cents: int, currency: str) -> None:
    with Session(engine) as s:
        application = applications.for_user(s, expert.id)
        applications.approve(s, application, reviewer, utcnow())
        rates.set_rate(s, expert, cents, currency, reviewer, utcnow())
        s.commit()


def test_admin_adds_finance_account_which_sets_its_password(
    page, new_page, shot, make_user, engine
):
    admin = make_user(Role.admin, name="Ada Admin")
    coordinator = make_user(Role.coordinator)
    approved = make_user(Role.expert, name="Alan Approved")
    make_user(Role.expert, name="Penny Pending")
    approve_with_rate(engine, approved, coordinator, 4550, "EUR")

    sign_in(page, admin.email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    shot("admin-accounts")

    # A bad email is refused, with the reason next to the email field; the name is kept.
    form = page.locator("form[action='/admin/users']")
    form.get_by_label("Name").fill("Fiona Finance")
    form.get_by_label("Email").fill("fiona-at-example")
    form.get_by_label("Role").select_option("finance")
    form.get_by_role("button", name="Add account").click()
    email_field = page.locator(".field").filter(has=page.get_by_label("Email"))
    expect(email_field.locator(".field-error")).to_have_text("Enter a valid email address.")
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_have_value("Fiona Finance")
    expect(page.get_by_label("Role", exact=True)).to_have_value("finance")
    expect(page.get_by_role("cell", name="Fiona Finance")).to_have_count(0)
    shot("admin-bad-email")

    page.get_by_label("Email").fill("fiona@example.org")
    page.get_by_role("button", name="Add account").click()
    expect(page.get_by_role("heading", name="Set-password link for Fiona Finance")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Send this link to fiona@example.org yourself.")
    link = page.get_by_label("Set-password link").input_value()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/reset/[\w-]{20,}", link), link
    shot("admin-reset-link")

    page.get_by_role("link", name="Back").click()
    fiona = page.get_by_role("row").filter(has_text="fiona@example.org")
    expect(fiona.locator(".badge")).to_have_text("awaiting password")
    expect(fiona.get_by_role("combobox")).to_have_value("finance")
    shot("admin-accounts-with-fiona")

    # Fiona opens the link on her own computer.
    fiona_page = new_page()
    fiona_page.goto(urlsplit(link).path)
    expect(fiona_page.get_by_role("heading", name="Set your password")).to_be_visible()
    expect(fiona_page.get_by_text("For fiona@example.org. This link works once.")).to_be_visible()
    fiona_page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    fiona_page.get_by_label("New password again").fill(NEW_PASSWORD + "!")
    fiona_page.get_by_role("button", name="Set password").click()
    again = fiona_page.locator(".field").filter(has=fiona_page.get_by_label("New password again"))
    expect(again.locator(".field-error")).to_have_text("The two passwords differ.")
    expect(fiona_page.get_by_label("New password again")).to_have_attribute("aria-invalid", "true")
    shot("reset-mismatch", fiona_page)

    fiona_page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    fiona_page.get_by_label("New password again").fill(NEW_PASSWORD)
    fiona_page.get_by_role("button", name="Set password").click()
    expect(fiona_page).to_have_url(re.compile(r"/login$"))
    expect(fiona_page.get_by_role("status")).to_have_text(
        "Your password is set. Sign in with it now."
    )
    shot("reset-done-login", fiona_page)

    # The link worked once only.
    fiona_page.goto(urlsplit(link).path)
    expect(fiona_page.get_by_role("heading", level=1)).to_have_text("Link no longer valid")
    shot("reset-link-used", fiona_page)

    sign_in(fiona_page, "fiona@example.org", NEW_PASSWORD)
    expect(fiona_page).to_have_url(re.compile(r"/finance$"))
    expect(fiona_page.get_by_role("heading", name="Experts and rates")).to_be_visible()
    expect(fiona_page.locator("header .who")).to_contain_text("Fiona Finance")
    alan = fiona_page.get_by_role("row").filter(has_text="Alan Approved")
    expect(alan.locator(".badge")).to_have_text("approved")
    expect(alan.locator("td.num")).to_have_text("45.50 EUR")
    penny = fiona_page.get_by_role("row").filter(has_text="Penny Pending")
    expect(penny.locator(".badge")).to_have_text("pending")
    expect(penny.locator("td.num")).to_have_text("not set")
    shot("finance-rates", fiona_page)

    # The admin finds all of it in the audit log.
    page.locator("header nav").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    table = page.locator("table.audit")
    for action in ("user.create", "password_reset.issue", "password_reset.redeem"):
        expect(table.get_by_role("row").filter(has_text=action)).not_to_have_count(0)
    create_row = (
        table.get_by_role("row").filter(has_text="user.create").filter(has_text="fiona@example.org")
    )
    expect(create_row).to_have_count(1)
    expect(create_row).to_contain_text(admin.email)
    expect(create_row.locator(".change", has_text="role")).to_contain_text("finance")
    redeem = table.get_by_role("row").filter(has_text="password_reset.redeem")
    expect(redeem).to_have_count(1)
    expect(redeem.locator("td").nth(1)).to_contain_text("fiona@example.org")
    shot("admin-audit")

    page.get_by_label("Action").fill("password_reset")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"action=password_reset"))
    expect(page.get_by_text("2 entries match the filters.")).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(2)
    shot("admin-audit-filtered")
