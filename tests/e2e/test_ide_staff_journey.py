"""A coordinator looks in on a live run while IDEs share the portal's origin (the embedded
default): the live-workspaces list and the run page say why there is no IDE for them and what
they can see instead; typing the IDE's address gets the explanation, not VS Code. The expert
opens the same IDE as before. A real workspace on this machine, real code-server, Chromium."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from baselines.users import Role
from tests.browser import sign_in
from tests.families import write_warmup
from tests.live_runs import started_run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


@pytest.fixture
def settings(settings, tmp_path: Path):
    settings.environment_dirs = str(write_warmup(tmp_path / "envs", {"notes.md": "# Notes\n"}))
    return settings


@pytest.fixture
def expert(make_user):
    return make_user(Role.expert, name="Ida Expert")


@pytest.fixture
def run_id(app, engine, expert, live_server) -> int:
    with started_run(app, engine, expert.id, "warmup/main") as run:
        yield run.id


def test_coordinator_is_told_how_to_look_in_and_the_expert_still_works(
    app, make_user, expert, run_id, page: Page, new_page, shot
) -> None:
    coordinator = make_user(Role.coordinator, name="Cora Coordinator")
    sign_in(page, coordinator.email)

    # The live-workspaces list points to the run page, not to the IDE.
    page.goto("/coordinator/runs")
    row = page.locator("#live-runs tr", has_text="Ida Expert")
    expect(row.get_by_role("link", name="IDE: expert only")).to_be_visible()
    expect(row.get_by_role("link", name="Look in")).to_have_count(0)
    shot("live-workspaces")

    # The run page: the note instead of Open IDE, and what is there to see.
    row.get_by_role("link", name="IDE: expert only").click()
    expect(page).to_have_url(re.compile(rf"/runs/{run_id}$"))
    note = page.locator("#ide-staff-note")
    expect(note).to_contain_text("The IDE is the expert's alone on this installation.")
    expect(note).to_contain_text("BASELINER_IDE_URL=https://run-{run}.ide.baseliner.example.org/")
    expect(note).to_contain_text("checkpoint's score, snapshot, diff and scorer output")
    expect(page.locator("#open-ide")).to_have_count(0)
    shot("run-page-note")

    # The IDE's address typed in: the explanation (403), with the way back.
    refused = page.goto(f"/ide/{run_id}/")
    assert refused is not None and refused.status == 403
    expect(page.get_by_role("heading", name="The IDE is the expert's alone here")).to_be_visible()
    expect(page.locator("#ide-staff-refused")).to_contain_text("BASELINER_COOKIE_DOMAIN")
    expect(page.locator(".monaco-workbench")).to_have_count(0)
    shot("ide-refused")
    page.locator("#back-to-run").click()
    expect(page).to_have_url(re.compile(rf"/runs/{run_id}$"))

    # The expert opens VS Code as before.
    expert_page = new_page()
    sign_in(expert_page, expert.email)
    expert_page.goto(f"/runs/{run_id}")
    expect(expert_page.locator("#ide-staff-note")).to_have_count(0)
    with expert_page.context.expect_page() as tab:
        expert_page.locator("#open-ide").click()
    ide = tab.value
    expect(ide).to_have_url(re.compile(rf"/ide/{run_id}/"))
    ide.wait_for_selector(".monaco-workbench", timeout=90_000)  # a busy machine is slow here
    expect(ide.locator(".explorer-folders-view")).to_contain_text("notes.md", timeout=30_000)
    shot("expert-workbench", on=ide)
