"""What a newcomer meets as an expert (issue 17), then a coordinator's look at the same runs.

The expert's dashboard lists their runs (a start that failed on the host, a live one, one whose
scores the task hides); the failed one says in plain words what happened and what to do, while
the coordinator reads the host's technical reason. The assignment shows its instructions rendered
from Markdown, with what this run actually has (CPU mode here: no host has a GPU). Notes that
cannot be saved are refused beside the field, the text kept; a long unbroken note wraps. The IDE
that does not answer is a portal page with a retry and the way back. Stop asks first, saying the
run ends for good and how many starts are left.

The live run has no workspace on this machine (nothing listens on its IDE's port): the pages are
what is walked here; the IDE and scoring journeys have real workspaces.
"""

import re
from datetime import timedelta

from playwright.sync_api import expect
from sqlmodel import Session

from baselines.assignments import Assignment
from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.runs import Run, RunStatus
from baselines.users import Role
from tests.browser import sign_in
from tests.hosts import ready_host
from tests.ide.servers import free_port
from timetracking import activity
from timetracking.utc import utcnow

USER_CLASH = (
    "Host local could not start the workspace: the host already has a user bl-run-2; remove it"
    " or use another host"
)


def _world(engine, expert, coordinator) -> dict[str, int]:
    host = ready_host(engine)  # this machine: no GPU, so GPU tasks run in CPU mode
    now = utcnow()
    with Session(engine) as s:
        triton = Assignment(
            expert_id=expert.id,
            environment="triton_cumsum/main",
            time_limit_s=8 * 3600,
            created_at=now - timedelta(days=1),
            assigned_by_id=coordinator.id,
            note="Start whenever you like.",
        )
        scaling = Assignment(
            expert_id=expert.id,
            environment="scaling_law/main",
            time_limit_s=8 * 3600,
            created_at=now - timedelta(days=3),
        )
        s.add_all([triton, scaling])
        s.flush()
        hidden = Run(
            expert_id=expert.id,
            assignment_id=scaling.id,
            environment="scaling_law/main",
            status=RunStatus.finished,
            status_reason="Submitted by the expert.",
            created_at=now - timedelta(days=2),
            started_at=now - timedelta(days=2),
            finished_at=now - timedelta(days=2) + timedelta(hours=3, minutes=12),
            cpu_mode=True,
        )
        failed = Run(
            expert_id=expert.id,
            assignment_id=triton.id,
            attempt=1,
            environment="triton_cumsum/main",
            status=RunStatus.failed,
            status_reason=USER_CLASH,
            host_id=host.id,
            created_at=now - timedelta(hours=2),
            finished_at=now - timedelta(hours=2),
        )
        live = Run(
            expert_id=expert.id,
            assignment_id=triton.id,
            attempt=2,
            environment="triton_cumsum/main",
            status=RunStatus.active,
            host_id=host.id,
            port=free_port(),
            cpu_mode=True,
            created_at=now - timedelta(minutes=47),
            started_at=now - timedelta(minutes=46),
            time_limit_s=8 * 3600,
        )
        s.add_all([hidden, failed, live])
        s.flush()
        s.add(
            Checkpoint(
                run_id=hidden.id,
                seq=1,
                source="cli",
                submitted_at=now - timedelta(days=2),
                working_s=9000.0,
                snapshot_sha256="0" * 64,
                status=CheckpointStatus.scored,
                score=0.4321,
                valid=True,
                message={"valid": True},
            )
        )
        ids = {"triton": triton.id, "hidden": hidden.id, "failed": failed.id, "live": live.id}
        s.commit()
        activity.record(s, live.id, now, "ide")
    return ids


def test_a_newcomer_expert_and_the_coordinator_looking_on(page, new_page, shot, make_user, engine):
    expert = make_user(Role.expert, name="Nia Newcomer", email="nia@example.org")
    coordinator = make_user(Role.coordinator, name="Cora Coordinator")
    ids = _world(engine, expert, coordinator)
    live, failed, hidden = ids["live"], ids["failed"], ids["hidden"]

    # The dashboard: the expert's runs, the failed start in plain words, hidden scores hidden.
    sign_in(page, expert.email)
    runs = page.locator("#runs-table")
    expect(runs.locator(f"#run-{live}")).to_contain_text("active")
    expect(runs.locator(f"#run-{live}")).to_contain_text("0:46:")
    expect(runs.locator(f"#run-{failed}")).to_contain_text("could not be prepared")
    expect(runs.locator(f"#run-{hidden}")).to_contain_text("hidden until review")
    expect(runs.locator(f"#run-{hidden}")).to_contain_text("3:12:00")
    expect(page.locator("body")).not_to_contain_text("bl-run-2")
    expect(page.locator("body")).not_to_contain_text("0.4321")
    shot("dashboard-with-runs")

    runs.locator(f"#run-{failed}").get_by_role("link", name="View").click()
    expect(page.locator("#run-reason")).to_contain_text("nothing you did")
    expect(page.locator("#run-reason")).to_contain_text("ask them before you start again")
    expect(page.locator("body")).not_to_contain_text("bl-run-2")
    expect(page.locator("#back-link")).to_have_text("← Dashboard")
    shot("failed-run-in-plain-words")
    page.locator("#back-link").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))

    # The instructions: rendered, and the machine as it is (no GPU here, whatever they say).
    page.locator(f"#assignment-{ids['triton']}").get_by_role("link", name="Instructions").click()
    text = page.locator("#instructions-text")
    expect(text.locator("h3").first).to_have_text("Optimize a kernel: a conditional prefix sum")
    expect(text.locator("code").first).to_be_visible()
    expect(text).not_to_contain_text("# Optimize")
    expect(page.locator("#machine-notice")).to_contain_text("This run has no GPU")
    expect(page.locator("#machine-notice")).to_contain_text("not comparable")
    shot("instructions-rendered-cpu-mode")

    # The live run: notes refused beside the field, never cut; a long word wraps.
    page.goto(f"/runs/{live}")
    expect(page.locator("#machine")).to_contain_text("CPU mode")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#note_text-error")).to_have_text(
        "Write something first: an empty note is not saved."
    )
    shot("empty-note-refused")
    long_text = "An idea worth keeping. " * 870  # 20,010 characters
    page.locator("#note-text").fill(long_text)
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#note_text-error")).to_contain_text(
        "A note holds at most 10,000 characters; this one has 20,009."
    )
    assert page.locator("#note-text").input_value() == long_text.strip() or (
        page.locator("#note-text").input_value() == long_text
    )
    expect(page.locator("#notes .note")).to_have_count(0)
    shot("long-note-refused-text-kept")
    page.goto(f"/runs/{live}")
    page.locator("#note-text").fill("x" * 9_000)  # one unbroken word
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("status")).to_have_text("Note added.")
    expect(page.locator("#notes .note")).to_have_count(1)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, f"the page is {width} px wide"
    shot("unbroken-note-wraps")

    # The IDE does not answer: a portal page, its status kept, with a retry and the way back.
    answer = page.goto(f"/ide/{live}/")
    assert answer is not None and answer.status == 502
    expect(page.get_by_role("heading", name="The IDE is not answering")).to_be_visible()
    expect(page.locator("#ide-retry")).to_have_attribute("href", f"/ide/{live}/")
    expect(page.locator("header")).to_contain_text("Nia Newcomer")
    shot("ide-not-answering")
    page.locator("#back-to-run").click()
    expect(page).to_have_url(re.compile(rf"/runs/{live}$"))

    # Stop asks first, and says what it ends and what is left.
    page.get_by_role("button", name="Stop workspace").click()
    expect(page).to_have_url(re.compile(rf"/runs/{live}/stop\??$"))
    expect(page.locator("#stop-consequence")).to_contain_text("This ends the run for good.")
    expect(page.locator("#stop-runs-left")).to_contain_text("allows 1 run")
    expect(page.locator("#stop-runs-left")).to_contain_text("After it you have no start left")
    shot("stop-confirmation")
    page.get_by_role("link", name="Keep working").click()
    expect(page.locator("#run-status")).to_have_text("active")

    # A coordinator looks on: whose run, where, back to their list; the full reason.
    staff = new_page()
    sign_in(staff, coordinator.email)
    staff.goto("/coordinator/runs")
    staff.locator(f"#live-run-{live}").get_by_role("link", name=f"#{live}").click()
    expect(staff.locator("#staff-view")).to_contain_text(f"Run #{live} of Nia Newcomer")
    expect(staff.locator("#staff-view")).to_contain_text("on host local")
    expect(staff.locator("body")).not_to_contain_text("Your workspace is ready")
    expect(staff.locator("#back-link")).to_have_text("← Workspaces")
    shot("coordinator-sees-the-run", staff)
    staff.locator("#back-link").click()
    expect(staff).to_have_url(re.compile(r"/coordinator/runs$"))
    staff.goto(f"/runs/{failed}")
    expect(staff.locator("#run-reason")).to_contain_text("the host already has a user bl-run-2")
    expect(staff.locator("#expert-told")).to_contain_text("could not be prepared")
    shot("coordinator-reads-the-technical-reason", staff)

    # The expert stops for good; the run stays on the dashboard.
    page.get_by_role("button", name="Stop workspace").click()
    page.get_by_role("button", name="Stop for good").click()
    expect(page.locator("#run-status")).to_have_text("finished", timeout=60_000)
    expect(page.locator("#run-ended")).to_contain_text("You stopped it.")
    shot("stopped")
    page.locator("#back-link").click()
    expect(page.locator(f"#run-{live}")).to_contain_text("finished")
    shot("dashboard-after-stop")
