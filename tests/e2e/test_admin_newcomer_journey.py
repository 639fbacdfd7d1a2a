"""What a newcomer on the staff side meets (issue 17), in Chromium at 1280 px: a coordinator's
form with several errors gets them all at once; the header stays one line for every role; an
unknown address keeps the signed-in header; the admin reads the audit log as before → after and
narrows it by who, what and which object; the favicon is there."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from baselines.audit import AuditLog
from baselines.runs import Run, RunStatus
from baselines.users import Role
from tests.browser import sign_in
from timetracking.utc import utcnow

# One line of the header: the padding and one line of text (two lines are about 88 px).
ONE_LINE_PX = 60


def nav_lines(page: Page) -> dict:
    """The header's height, how many rows its nav items take, and whether the page is wider
    than the window (the header must never make it so)."""
    expect(page.locator("header.top a.me")).to_be_visible()  # signed in, the page loaded
    page.wait_for_load_state()
    return page.evaluate(
        """() => {
        const header = document.querySelector('header.top');
        const items = [...header.querySelectorAll('nav > a, nav > details > summary')];
        const rows = new Set(items.map(e => Math.round(e.getBoundingClientRect().top)));
        return {height: header.getBoundingClientRect().height, rows: rows.size,
                items: items.length, header_wide: header.scrollWidth > header.clientWidth};
    }"""
    )


def assert_one_line(page: Page, role: str) -> None:
    lines = nav_lines(page)
    assert lines["items"] > 0, role
    assert lines["rows"] == 1 and lines["height"] <= ONE_LINE_PX, (role, lines)
    assert not lines["header_wide"], (role, lines)


def _live_run(engine, expert_id: int) -> int:
    started = utcnow() - timedelta(hours=1)
    with Session(engine) as s:
        run = Run(expert_id=expert_id, environment="demo/main", created_at=started,
                  started_at=started, status=RunStatus.active, time_limit_s=4 * 3600)  # fmt: skip
        s.add(run)
        s.commit()
        return run.id


def test_staff_newcomer_journey(page, new_page, shot, make_user, engine):
    admin = make_user(Role.admin, name="Ada Admin")
    coordinator = make_user(Role.coordinator, name="Cora Coordinator")
    expert = make_user(Role.expert, name="Eve Expert")
    run_id = _live_run(engine, expert.id)
    with Session(engine) as s:  # what a failed start leaves (the system's own entry)
        s.add(AuditLog(at=utcnow(), actor_id=None, action="run.fail", object_type="runs",
                       object_id="99", before={"status": "provisioning"},
                       after={"environment": "demo/main", "host": "gpu-1", "status": "failed",
                              "reason": "No ready host has 1 free GPU."}))  # fmt: skip
        s.commit()

    # --- the coordinator ---------------------------------------------------------------------
    coord = new_page()
    sign_in(coord, coordinator.email)
    assert_one_line(coord, "coordinator")
    shot("coordinator-nav-1280", coord)

    # Minus 30 minutes with no reason: both fields say what is wrong, at once; nothing is granted.
    coord.goto(f"/runs/{run_id}")
    coord.get_by_label("Minutes to add").fill("-30")
    coord.locator("#extend-submit").click()
    minutes = coord.locator(".field").filter(has=coord.get_by_label("Minutes to add"))
    reason = coord.locator("#extend_reason").locator("xpath=..")
    expect(minutes.locator(".field-error")).to_contain_text("at least 1 minute")
    expect(reason.locator(".field-error")).to_have_text("Say why the run gets more time.")
    expect(coord.get_by_label("Minutes to add")).to_have_value("-30")
    minutes.scroll_into_view_if_needed()
    shot("extend-two-errors-at-once", coord)
    coord.get_by_label("Minutes to add").fill("30")
    coord.locator("#extend_reason").fill("The host was down for half an hour.")
    coord.locator("#extend-submit").click()
    expect(coord.locator(".flash")).to_contain_text("30 more minutes")

    # An unknown address: the coordinator's own header, and nothing else said.
    response = coord.goto("/coordinator/no-such-page")
    assert response is not None and response.status == 404
    expect(coord.get_by_role("heading", name="Not found")).to_be_visible()
    expect(coord.locator("header.top")).to_contain_text("Cora Coordinator")
    expect(coord.locator("header.top").get_by_role("link", name="Applications")).to_be_visible()
    expect(coord.get_by_role("link", name="Back to your start page")).to_be_visible()
    expect(coord.locator("header.top").get_by_role("link", name="Sign in")).to_have_count(0)
    shot("coordinator-404-signed-in", coord)

    # --- the admin ---------------------------------------------------------------------------
    sign_in(page, admin.email)
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    assert_one_line(page, "admin")
    shot("admin-nav-1280")
    page.locator("details.menu > summary", has_text="Coordination").click()
    menu = page.locator("details.menu[open] .menu-items")
    expect(menu.get_by_role("link", name="Workspaces")).to_be_visible()
    shot("admin-nav-menu-open")
    page.keyboard.press("Escape")
    expect(page.locator("details.menu[open]")).to_have_count(0)

    page.locator("header.top").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.locator("header.top a[aria-current=page]")).to_have_text("Audit log")
    extension = page.locator("tr", has=page.locator("code", has_text="run.extend_limit"))
    expect(extension).to_contain_text("Cora Coordinator")
    expect(extension.locator(".change.changed")).to_contain_text("4:00:00")
    expect(extension.locator(".change.changed")).to_contain_text("4:30:00")
    expect(extension).to_contain_text("The host was down for half an hour.")
    expect(page.locator("main")).not_to_contain_text('{"')  # no raw JSON anywhere
    shot("audit-log-before-after")

    # Narrow by who: the coordinator's name.
    page.get_by_label("Who").fill("cora")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit-count")).to_have_text("1 entry matches the filters.")
    expect(page.locator("tbody tr")).to_have_count(1)
    shot("audit-filtered-by-who")

    # By what: a system failure, through its action link, then that object's history.
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Action").fill("run.")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    failure = page.locator("tr", has=page.locator("code", has_text="run.fail"))
    expect(failure).to_contain_text("system")
    expect(failure).to_contain_text("gpu-1")
    expect(failure.locator(".change.changed")).to_contain_text("provisioning")
    shot("audit-filtered-by-action")
    failure.get_by_role("link", name="its history").click()
    expect(page).to_have_url(re.compile(r"object=runs&object_id=99"))
    expect(page.get_by_label("Object")).to_have_value("runs")
    expect(page.get_by_label("Number")).to_have_value("99")
    expect(page.locator("tbody tr")).to_have_count(1)
    shot("audit-one-objects-history")

    # Another form with several faults (finance's rate, through the admin's Finance menu).
    page.locator("details.menu > summary", has_text="Finance").click()
    page.locator("details.menu[open]").get_by_role("link", name="Rates").click()
    expect(page.locator("details.menu.current > summary")).to_have_text("Finance")
    page.get_by_label("Hourly rate").fill("sixty")
    page.get_by_label("Effective from (optional)").fill("2020-01-01")
    page.get_by_label("Effective from (optional)").evaluate(
        "e => { e.type = 'text'; e.value = 'May 1st'; }"
    )
    page.get_by_role("button", name="Save rate").click()
    for field in ("expert", "rate", "effective_from"):
        expect(page.locator(f"#{field}-error")).to_be_visible()
    expect(page.locator(".error-count")).to_have_text(
        "3 fields need a change: each says why below."
    )
    shot("rate-form-three-errors")

    # The admin's unknown address, too.
    response = page.goto("/admin/secret-settings")
    assert response is not None and response.status == 404
    expect(page.locator("header.top")).to_contain_text("Ada Admin")
    expect(page.locator("main")).to_contain_text("There is no page at this address.")
    assert_one_line(page, "admin")
    shot("admin-404-signed-in")

    # The favicon: linked from every page, and /favicon.ico answers with an icon.
    icons = page.locator("link[rel=icon]")
    expect(icons).to_have_count(2)
    assert page.request.get("/favicon.ico").headers["content-type"] == "image/x-icon"
    assert page.request.get("/static/favicon.svg").ok

    # Narrower windows: the admin's menus still fit at 1024; on a phone the pages move to a
    # row of their own and nothing runs off the side, the audit log's rows included.
    for width in (1024, 390):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto("/admin/audit")
        lines = nav_lines(page)
        assert not lines["header_wide"], (width, lines)
        assert lines["rows"] <= (1 if width == 1024 else 2), (width, lines)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, (width, wide)
        shot(f"admin-audit-{width}")
    coord.set_viewport_size({"width": 1024, "height": 800})
    coord.goto("/coordinator/applications")
    lines = nav_lines(coord)
    assert lines["rows"] == 1 and not lines["header_wide"], lines  # its own row, one line
    shot("coordinator-nav-1024", coord)


@pytest.mark.parametrize("role", [Role.expert, Role.finance, Role.analyst])
def test_every_roles_header_is_one_line_at_1280(page, shot, make_user, role):
    user = make_user(role, name=f"Pat {role.value.title()}")
    sign_in(page, user.email)
    assert_one_line(page, role.value)
    shot(f"{role.value}-nav-1280")
