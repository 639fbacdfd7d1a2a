"""Assignments in the browser: a coordinator assigns the kernel task to two experts with a note
and a due date (after a refusal for ticking nobody) and previews a balanced plan; the expert
reads the assignment with its instructions and the note; another expert cannot open it.
Nobody presses Start here: starting workspaces has journeys of its own."""

import re
from datetime import timedelta

from playwright.sync_api import expect
from sqlmodel import Session

from baselines import applications
from baselines.users import Role, User
from tests.browser import sign_in
from timetracking.utc import utcnow

ENV = "triton_cumsum/main"
NOTE = "Profile before you write Triton. Ask in the channel if scoring looks off."


def _approved(engine, make_user, coordinator: User, name: str, email: str) -> User:
    expert = make_user(Role.expert, email=email, name=name)
    with Session(engine) as s:
        application = applications.for_user(s, expert.id)
        applications.approve(s, application, s.get(User, coordinator.id), utcnow())
        s.commit()
    return expert


def test_coordinator_assigns_and_expert_reads_the_instructions(
    page, new_page, shot, make_user, engine
):
    coordinator = make_user(Role.coordinator, name="Cora Coordinator")
    ida = _approved(engine, make_user, coordinator, "Ida Expert", "ida@example.org")
    bo = _approved(engine, make_user, coordinator, "Bo Expert", "bo@example.org")
    _approved(engine, make_user, coordinator, "Lin Expert", "lin@example.org")
    due = (utcnow() + timedelta(days=14)).date().isoformat()

    sign_in(page, coordinator.email)
    page.locator("header").get_by_role("link", name="Assignments").click()
    expect(page.get_by_role("heading", name="Assignments", exact=True)).to_be_visible()

    # Nobody ticked: refused next to the experts, what was typed is kept.
    page.get_by_label("Environment").select_option(ENV)
    page.get_by_label("Due date (optional)").fill(due)
    page.get_by_label("Note to the expert (optional)").fill(NOTE)
    page.get_by_role("button", name="Assign").click()
    experts = page.locator("fieldset#experts")
    expect(experts.locator(".field-error")).to_have_text("Tick at least one expert.")
    expect(page.get_by_label("Note to the expert (optional)")).to_have_value(NOTE)
    expect(page.get_by_label("Environment")).to_have_value(ENV)
    expect(page.locator("#assignment-list")).to_have_count(0)
    shot("assign-nobody-ticked")

    page.get_by_label("Ida Expert (ida@example.org)").check()
    page.get_by_label("Bo Expert (bo@example.org)").check()
    page.get_by_role("button", name="Assign").click()
    expect(page.get_by_role("status")).to_have_text(f"{ENV} assigned to Bo Expert and Ida Expert.")
    listing = page.locator("#assignment-list tbody tr")
    expect(listing).to_have_count(2)
    for name in ("Ida Expert", "Bo Expert"):
        row = listing.filter(has_text=name)
        expect(row).to_contain_text(ENV)
        expect(row).to_contain_text(due)
        expect(row).to_contain_text("0 / 1")
        expect(row.get_by_role("button", name="Cancel")).to_be_visible()
    shot("assigned-to-two")

    # A balanced plan for one more run of the task: only Lin does not have it yet.
    page.get_by_role("link", name="Make a balanced plan").click()
    expect(page.get_by_role("heading", name="Balanced plan")).to_be_visible()
    expect(page.get_by_label("Lin Expert (lin@example.org)")).to_be_checked()  # all by default
    page.get_by_label(ENV).check()
    page.get_by_label("Runs per task").fill("1")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#plan-preview")
    expect(preview.locator("#plan-pairs tbody tr")).to_have_count(1)
    expect(preview.locator("#plan-pairs tbody tr")).to_contain_text("Lin Expert")
    lin_counts = preview.locator("#plan-counts tbody tr").filter(has_text="Lin Expert")
    expect(lin_counts.locator("td")).to_have_text(["Lin Expert", "0", "1", "1"])
    expect(preview.get_by_role("button", name="Create this assignment")).to_be_visible()
    shot("plan-preview")

    # Ida reads her assignment: the note on the dashboard, the instructions on its page.
    ida_page = new_page()
    sign_in(ida_page, ida.email)
    expect(ida_page).to_have_url(re.compile(r"/dashboard$"))
    mine = ida_page.locator("#assignments")
    expect(mine.get_by_role("cell", name=ENV)).to_contain_text("Profile before you write Triton.")
    expect(mine.get_by_role("button", name="Start")).to_be_visible()
    shot("expert-dashboard", ida_page)
    mine.get_by_role("link", name=ENV).click()
    expect(ida_page.get_by_role("heading", level=1)).to_contain_text(ENV)
    expect(ida_page.locator("#note")).to_have_text(NOTE)
    expect(ida_page.locator("#terms")).to_contain_text(f"{due} (end of the day, UTC)")
    expect(ida_page.locator("#terms")).to_contain_text("0 of 1 used")
    expect(ida_page.locator("#instructions")).to_contain_text("prefix_sum")
    expect(ida_page.get_by_role("button", name="Start")).to_be_visible()
    shot("expert-assignment", ida_page)
    ida_assignment = ida_page.url

    # Bo has his own, but Ida's does not exist for him.
    bo_page = new_page()
    sign_in(bo_page, bo.email)
    expect(bo_page.locator("#assignments").get_by_role("cell", name=ENV)).to_be_visible()
    response = bo_page.goto(ida_assignment)
    assert response is not None and response.status == 404
    expect(bo_page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(bo_page.locator("main")).not_to_contain_text("prefix_sum")
    shot("other-expert-404", bo_page)
