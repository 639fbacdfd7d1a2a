"""Debian's Chromium as every browser test launches it (never a downloaded browser), and the
steps every journey shares."""

from playwright.sync_api import Page

from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a person would."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def run_in_terminal(ide: Page, command: str) -> None:
    """Type ``command`` into the IDE's (first) terminal and press Enter, as the expert would."""
    ide.locator(".xterm").first.click()
    ide.keyboard.type(command)
    ide.keyboard.press("Enter")
