"""Preparing a host in the browser, on this machine: a coordinator opens the hosts page, sees the
local host not prepared yet, presses Prepare, and reads each task family's outcome there before
anyone is assigned: the probe and kernel families installed, and a family whose install() raises
failed, with its reason. Preparing runs in the background: the list shows each family installing
and refreshes itself until every one has its outcome."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from baselines.users import Role
from tests.browser import sign_in
from tests.hosts import ready_host
from tests.live_runs import PROBE_FAMILIES

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="installs families as root")
BROKEN = Path(__file__).resolve().parents[1] / "fleet" / "broken_families"


@pytest.fixture
def settings(settings):
    settings.environment_dirs = os.pathsep.join([str(PROBE_FAMILIES), str(BROKEN)])
    return settings


def test_coordinator_prepares_a_host_and_sees_each_familys_outcome(engine, make_user, page, shot):
    ready_host(engine)
    coordinator = make_user(Role.coordinator, name="Cora Coordinator")
    sign_in(page, coordinator.email)
    page.goto("/coordinator/hosts")
    row = page.get_by_role("row").filter(has_text="this machine")
    families = row.locator(".host-families")
    expect(families).to_contain_text("not prepared yet")
    shot("hosts-not-prepared")

    row.get_by_role("button", name="Prepare").click()
    # The page answers at once; the families install in the background and the list follows.
    expect(page.get_by_role("status")).to_contain_text("Preparing local: installing ")
    families = page.get_by_role("row").filter(has_text="this machine").locator(".host-families")
    shot("hosts-preparing")
    settled = families.locator(".family.failed").filter(has_text="broken_install")
    expect(settled).to_be_visible(timeout=300_000)  # no reload: the list refreshes itself
    expect(families.locator(".family.pending")).to_have_count(0, timeout=300_000)
    expect(families.locator(".family.installed").filter(has_text="probe")).to_contain_text(
        ": installed"
    )
    expect(families.locator(".family.installed").filter(has_text="triton_cumsum")).to_be_visible()
    expect(families.locator(".family.failed")).to_contain_text(
        "install() failed: RuntimeError: the weights server is unreachable"
    )
    shot("hosts-prepared")
