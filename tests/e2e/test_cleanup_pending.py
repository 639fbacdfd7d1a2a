"""A Stop whose clean-up failed, as a coordinator sees it: the live-workspaces page lists it under
"Clean-ups pending" with the host, the reason, the tries and the next try, the run page says the
workspace and its GPUs and port stay on the host; once the host answers again the scheduler's
round cleans up and both pages say nothing more about it.

The host is a real sshd on loopback of its own, killed and started again; the scheduler's round
is called by hand, its due time moved to now as if the wait had passed.
"""

import os
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from baselines.runs import Run
from baselines.users import Role
from fleet.testing_sshd import start_sshd
from tests.browser import sign_in
from tests.hosts import ready_host
from tests.live_runs import PROBE_FAMILIES, started_run
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


@pytest.fixture
def settings(settings):
    settings.environment_dirs = str(PROBE_FAMILIES)
    return settings


@pytest.fixture
def own_sshd(tmp_path):
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()


def test_a_coordinator_sees_a_pending_clean_up_until_it_succeeds(
    app, engine, make_user, live_server, own_sshd, page: Page, shot
) -> None:
    ready_host(engine, "ssh", sshd=own_sshd)
    expert = make_user(Role.expert, name="Sam Stopped")
    coordinator = make_user(Role.coordinator, name="Cora Coordinator")
    jobs = app.state.workspaces
    with started_run(app, engine, expert.id, "probe/main", ready=False) as run:
        own_sshd.crash()
        with Session(engine) as s:
            jobs.request_stop(s, s.get(Run, run.id), "Stopped by the expert.")
        jobs.wait(run.id, timeout=120)

        sign_in(page, coordinator.email)
        page.goto("/coordinator/runs")
        row = page.locator("#cleanups tr", has_text=f"#{run.id}")
        expect(row).to_contain_text("clean-up pending on host ssh-host:")
        expect(row.locator("td").nth(3)).to_have_text("1")
        shot("live-list-clean-up-pending")
        page.goto(f"/runs/{run.id}")
        notice = page.locator("#cleanup-pending")
        expect(notice).to_contain_text("Clean-up pending on host ssh-host:")
        expect(notice).to_contain_text("next try at")
        expect(notice).to_contain_text("stay held, until it succeeds")
        shot("run-page-clean-up-pending")

        own_sshd.restart()
        with Session(engine) as s:
            row_ = s.get(Run, run.id)
            row_.cleanup_next_at = utcnow() - timedelta(seconds=1)
            s.add(row_)
            s.commit()
        app.state.scheduler.workspaces()

        page.goto("/coordinator/runs")
        expect(page.locator("#cleanups")).to_have_count(0)
        page.goto(f"/runs/{run.id}")
        expect(page.locator("#cleanup-pending")).to_have_count(0)
        shot("run-page-cleaned-up")
        with Session(engine) as s:
            assert s.get(Run, run.id).archive_path
