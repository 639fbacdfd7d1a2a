"""Signing in wrongly, opening a page one may not see, and signing out."""

import re

from playwright.sync_api import expect

from baselines.users import Role
from tests.conftest import PASSWORD


def test_wrong_password_shows_message_and_keeps_email(page, shot, make_user):
    expert = make_user(Role.expert)
    page.goto("/")
    page.locator("header").get_by_role("link", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Email").fill(expert.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Wrong email or password, or the account is disabled."
    )
    expect(page.get_by_label("Email")).to_have_value(expert.email)
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.locator("header .who")).to_contain_text("Sign in")
    shot("login-wrong-password")

    # Leaving both fields empty says which are required, next to each field.
    page.get_by_label("Email").fill("")
    page.get_by_role("button", name="Sign in").click()
    for label in ("Email", "Password"):
        field = page.locator(".field").filter(has=page.get_by_label(label))
        expect(field.locator(".field-error")).to_have_text("Required.")
    shot("login-empty")


def test_expert_is_not_allowed_on_admin_pages_and_can_sign_out(page, shot, make_user):
    expert = make_user(Role.expert, name="Eve Expert")
    page.goto("/admin/users")
    expect(page).to_have_url(re.compile(r"/login\?next=/admin/users$"))
    page.get_by_label("Email").fill(expert.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # Back where they asked to go, which an expert may not see.
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.locator("header nav")).not_to_contain_text("Accounts")
    expect(page.get_by_role("table")).to_have_count(0)
    shot("expert-forbidden")
    response = page.request.get("/admin/users")
    assert response.status == 403

    page.get_by_role("link", name="Back to your start page").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", name="Hello, Eve Expert")).to_be_visible()
    shot("expert-dashboard")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    expect(page.locator("header .who")).to_contain_text("Sign in")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    shot("signed-out")

    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/login\?next=/dashboard$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
