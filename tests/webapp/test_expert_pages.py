"""The expert's pages as a newcomer meets them (issue 17): instructions rendered from Markdown and
safe, with what the run's machine has; the dashboard lists the expert's own runs (scores hidden
where the task hides them); Stop asks first and says what is left; a failure reaches the expert
in plain words while staff read the technical reason; the run page speaks to staff as staff and
goes back where they came from; notes are refused with a message, never cut."""

import re
import shutil
from datetime import timedelta
from html import unescape

import pytest
from sqlmodel import Session, select

from baselines import checkpoints, run_notices
from baselines.assignments import Assignment
from baselines.checkpoints import Checkpoint, CheckpointStatus, Note
from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from fleet.hosts import DriverKind, Host, HostStatus
from tests.conftest import fixed_now, login, post_form
from tests.ide.servers import free_port
from tests.live_runs import PROBE_FAMILIES
from timetracking.utc import utcnow
from webapp import markdown

NOW = utcnow().replace(microsecond=0)
TAR_NOISE = "tar: ./solution: Cannot open: Permission denied\ntar: Exiting with failure status"
USER_CLASH = "the host already has a user bl-run-2; remove it or use another host"


def _assignment(engine, expert: User, environment="triton_cumsum/main", retries=0) -> int:
    with Session(engine) as s:
        row = Assignment(
            expert_id=expert.id,
            environment=environment,
            time_limit_s=8 * 3600,
            retries_granted=retries,
            created_at=NOW,
        )
        s.add(row)
        s.commit()
        return row.id


def _run(engine, expert: User, **fields) -> int:
    values = {
        "environment": "triton_cumsum/main",
        "status": RunStatus.active,
        "started_at": NOW - timedelta(minutes=30),
        "time_limit_s": 8 * 3600,
        **fields,
    }
    with Session(engine) as s:
        run = Run(expert_id=expert.id, created_at=NOW - timedelta(hours=1), **values)
        s.add(run)
        s.commit()
        return run.id


def _host(engine, gpus: list[dict]) -> int:
    with Session(engine) as s:
        host = Host(name="gpu-01", driver=DriverKind.ssh, address="127.0.0.1",
                    status=HostStatus.ready, gpus=gpus, created_at=NOW)  # fmt: skip
        s.add(host)
        s.commit()
        return host.id


def _scores(engine, run_id: int, *scores: float) -> None:
    with Session(engine) as s:
        for seq, score in enumerate(scores, 1):
            s.add(Checkpoint(run_id=run_id, seq=seq, source="cli", submitted_at=NOW,
                             working_s=60.0 * seq, snapshot_sha256="0" * 64,
                             status=CheckpointStatus.scored, score=score, valid=True))  # fmt: skip
        s.commit()


TIMES = "\N{MULTIPLICATION SIGN}"
H100 = {"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_mb": 81559}


# --- 1. instructions ----------------------------------------------------------------------------


def test_markdown_is_rendered_and_a_script_or_javascript_link_comes_out_inert():
    html = markdown.render(
        "# Task\n\nRun `task score`.\n\n<script>alert(1)</script>\n\n"
        "[bad](javascript:alert(1)) [also bad](JAVASCRIPT:alert(2)) [data](data:text/html,x)"
        ' <a href="javascript:alert(3)">raw</a> <img src=x onerror=alert(4)>'
        " [good](https://example.org/doc) [mail](mailto:a@example.org) [portal](/admin)"
    )
    assert "<h3>Task</h3>" in html and "<code>task score</code>" in html  # under the page's h2
    assert "<script" not in html and "<img" not in html and '<a href="javascript' not in html
    assert "&lt;script&gt;" in html  # shown as text, not run
    hrefs = [part.split('"', 1)[0] for part in html.split('href="')[1:]]
    assert hrefs == ["https://example.org/doc", "mailto:a@example.org"]
    assert 'rel="noopener noreferrer nofollow"' in html


def test_the_assignment_page_renders_the_instructions_and_says_the_run_has_no_gpu(
    client, engine, make_user
):
    expert = make_user(Role.expert)
    assignment_id = _assignment(engine, expert)
    login(client, expert)
    page = client.get(f"/assignments/{assignment_id}").text
    assert '<div class="markdown" id="instructions-text"><h3>Optimize a kernel' in page
    assert page.count("<h1") == 1  # the page's own title; the instructions' headings sit below
    assert "<code>prefix_sum</code>" in page and "# Optimize" not in page
    # No host has a GPU here: the page says what the run will have, whatever the text promises.
    notice = unescape(page.split('id="machine-notice"', 1)[1].split("</p>", 1)[0])
    assert "A run of this task gets no GPU here" in notice and "not comparable" in notice


def test_with_a_gpu_host_the_run_page_names_the_gpu(client, engine, make_user):
    expert = make_user(Role.expert)
    host_id = _host(engine, [H100, {**H100, "index": 1}])
    assignment_id = _assignment(engine, expert)
    run_id = _run(engine, expert, assignment_id=assignment_id, host_id=host_id, gpu_indices=[1])
    login(client, expert)
    page = unescape(client.get(f"/runs/{run_id}").text)
    assert f"This run has 1 {TIMES} NVIDIA H100 80GB HBM3 on host gpu-01." in page
    assert f"This run has 1 {TIMES} NVIDIA H100 80GB HBM3" in unescape(
        client.get(f"/assignments/{assignment_id}").text
    )


# --- 2. the dashboard's runs --------------------------------------------------------------------


def test_the_dashboard_lists_the_experts_own_runs_with_scores_unless_hidden(
    app, client, engine, make_user
):
    expert, other = make_user(Role.expert), make_user(Role.expert)
    fixed_now(app, NOW)
    live = _run(engine, expert)
    _scores(engine, live, 1.5, 0.7, 1.2)  # the triton task's score is a time: lower is better
    clash = f"Host gpu-01 could not start the workspace: {USER_CLASH}"
    failed = _run(engine, expert, status=RunStatus.failed, started_at=None, finished_at=NOW,
                  status_reason=clash)  # fmt: skip
    hidden = _run(engine, expert, environment="scaling_law/main", status=RunStatus.finished,
                  finished_at=NOW - timedelta(minutes=5))  # fmt: skip
    _scores(engine, hidden, 0.9123)
    theirs = _run(engine, other)
    login(client, expert)
    page = client.get("/dashboard").text
    rows = {
        n: page.split(f'id="run-{n}"', 1)[1].split("</tr>", 1)[0] for n in (live, failed, hidden)
    }
    assert f'id="run-{theirs}"' not in page
    best, last = rows[live].split('<td class="num">')[3:5]
    assert "0:30:00" in rows[live] and best.startswith("0.7<") and last.startswith("1.2<")
    assert "Open run" in rows[live] and f'href="/runs/{live}"' in rows[live]
    assert "failed" in rows[failed] and "bl-run-2" not in page
    assert "could not be prepared" in rows[failed]
    assert "hidden until review" in rows[hidden] and "0.9123" not in page


# --- 3. Stop asks first -------------------------------------------------------------------------


def test_stop_asks_first_and_says_the_run_ends_for_good_and_what_is_left(client, engine, make_user):
    expert = make_user(Role.expert)
    assignment_id = _assignment(engine, expert)
    run_id = _run(engine, expert, assignment_id=assignment_id)
    login(client, expert)
    run_page = client.get(f"/runs/{run_id}").text
    assert f'<form method="get" action="/runs/{run_id}/stop"' in run_page
    confirm = unescape(client.get(f"/runs/{run_id}/stop").text)
    assert "This ends the run for good." in confirm
    assert "This assignment allows 1 run, and this one is run 1 of them." in confirm
    assert "After it you have no start left" in confirm
    # A Stop that did not come through the confirmation stops nothing: it asks.
    answer = post_form(client, f"/runs/{run_id}/stop", {}, f"/runs/{run_id}")
    assert answer.status_code == 303 and answer.headers["location"] == f"/runs/{run_id}/stop"
    with Session(engine) as s:
        assert s.get(Run, run_id).status == RunStatus.active


def test_the_confirmation_counts_the_runs_left_and_a_staff_view_names_the_expert(
    client, engine, make_user
):
    expert = make_user(Role.expert, name="Ida Expert")
    coordinator = make_user(Role.coordinator)
    assignment_id = _assignment(engine, expert, retries=2)
    run_id = _run(engine, expert, assignment_id=assignment_id)
    login(client, expert)
    assert "After it you have 2 starts left." in client.get(f"/runs/{run_id}/stop").text
    client.cookies.clear()
    login(client, coordinator)
    page = unescape(client.get(f"/runs/{run_id}/stop").text)
    assert "Stop Ida Expert\N{RIGHT SINGLE QUOTATION MARK}s run of triton_cumsum/main?" in page
    assert "Ida Expert has used 1, so 2 starts are left after this one." in page


# --- 4. failures: plain words for the expert, the reason for staff ------------------------------


@pytest.mark.parametrize(
    ("fields", "technical"),
    [
        ({"status": RunStatus.failed, "started_at": None,
          "status_reason": f"Host gpu-01 could not start the workspace: {USER_CLASH}"}, "bl-run-2"),
        ({"status": RunStatus.active, "lost_at": NOW,
          "status_reason": f"Your workspace on host gpu-01 was lost, and restarting it failed:"
                           f" {TAR_NOISE}"}, "Cannot open"),
        ({"status": RunStatus.active,
          "status_reason": f"Restarting the IDE failed: {TAR_NOISE}"}, "Cannot open"),
        ({"status": RunStatus.finished, "finished_at": NOW,
          "status_reason": f"Stopped by the expert. The workspace had been lost on gpu-01:"
                           f" {TAR_NOISE}"},
         "Cannot open"),
    ],
    ids=["failed start", "lost and restart failed", "IDE restart failed", "ended after loss"],
)  # fmt: skip
def test_the_expert_never_reads_the_technical_reason_and_staff_do(
    client, engine, make_user, fields, technical
):
    expert = make_user(Role.expert)
    coordinator = make_user(Role.coordinator)
    run_id = _run(engine, expert, **fields)
    login(client, expert)
    mine = client.get(f"/runs/{run_id}")
    assert mine.status_code == 200
    assert technical not in unescape(mine.text) and "gpu-01" not in unescape(mine.text)
    with Session(engine) as s:
        said = run_notices.for_expert(s.get(Run, run_id))
    assert said is not None and said.what in unescape(mine.text)
    assert technical not in unescape(client.get("/dashboard").text)
    client.cookies.clear()
    login(client, coordinator)
    theirs = unescape(client.get(f"/runs/{run_id}").text)
    assert technical in theirs


def test_each_start_failure_gets_its_own_advice():
    cases = {
        "No ready host has 1 free GPU right now. Try again in a few minutes.": "Wait a few",
        "The start was interrupted (the platform restarted). Press Start again.": "restarted",
        "The IDE did not start within 60 s. Host gpu-01 may be overloaded; try again.": "too long",
        "Starting the workspace failed unexpectedly (KeyError).": "platform's side",
        "": "platform's side",
    }
    for reason, words in cases.items():
        run = Run(expert_id=1, created_at=NOW, status=RunStatus.failed, status_reason=reason)
        notice = run_notices.for_expert(run)
        assert words in notice.text, reason
        assert "gpu-01" not in notice.text and "KeyError" not in notice.text


# --- 7. staff wording and Back -----------------------------------------------------------------


def test_staff_read_whose_run_it_is_and_back_goes_to_their_list(client, engine, make_user):
    expert = make_user(Role.expert, name="Ida Expert")
    coordinator = make_user(Role.coordinator)
    host_id = _host(engine, [])
    run_id = _run(engine, expert, host_id=host_id, workspace_path="/home/bl-run-9")
    login(client, coordinator)
    page = unescape(client.get(f"/runs/{run_id}").text)
    assert "Your workspace is ready" not in page and "your home folder" not in page
    said = re.sub(r"<[^>]+>", "", page.split('id="staff-view">', 1)[1].split("</p>", 1)[0])
    assert (
        said == f"Run #{run_id} of Ida Expert ({expert.email}), on host gpu-01 in /home/bl-run-9."
    )
    assert '<a href="/coordinator/runs" id="back-link">← Workspaces</a>' in page
    came_from = unescape(client.get(f"/runs/{run_id}?next=/coordinator/assignments").text)
    assert '<a href="/coordinator/assignments" id="back-link">← Back</a>' in came_from
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        page = client.get(f"/runs/{run_id}", params={"next": evil}).text
        assert 'href="/coordinator/runs" id="back-link"' in page, evil
    client.cookies.clear()
    login(client, expert)
    page = unescape(client.get(f"/runs/{run_id}").text)
    assert '<a href="/dashboard" id="back-link">← Dashboard</a>' in page
    assert "Your workspace is ready" in page


# --- 8. notes -----------------------------------------------------------------------------------


def _notes(engine, run_id: int) -> list[str]:
    with Session(engine) as s:
        return [n.text for n in s.exec(select(Note).where(Note.run_id == run_id))]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "Write something first: an empty note is not saved."),
        ("   \n  ", "Write something first: an empty note is not saved."),
        ("x" * 20_000, "A note holds at most 10,000 characters; this one has 20,000."),
    ],
    ids=["empty", "blank", "too long"],
)
def test_a_note_that_cannot_be_saved_is_refused_beside_the_field_and_kept(
    client, engine, make_user, text, said
):
    expert = make_user(Role.expert)
    run_id = _run(engine, expert)
    login(client, expert)
    answer = post_form(client, f"/runs/{run_id}/notes", {"text": text}, f"/runs/{run_id}")
    assert answer.status_code == 400
    field = answer.text.split('id="note-text"', 1)[1]
    assert 'aria-invalid="true"' in field.split(">", 1)[0]
    assert said in field.split('id="note_text-error"', 1)[1].split("</p>", 1)[0]
    if text.strip():
        assert text in field  # what was typed is still there, whole
    assert _notes(engine, run_id) == []


def test_a_note_of_exactly_the_limit_is_saved_whole(client, engine, make_user):
    expert = make_user(Role.expert)
    run_id = _run(engine, expert)
    login(client, expert)
    text = "y" * checkpoints.NOTE_MAX
    answer = post_form(client, f"/runs/{run_id}/notes", {"text": text}, f"/runs/{run_id}")
    assert answer.status_code == 303
    assert _notes(engine, run_id) == [text]


# --- 5. the IDE's refusals are portal pages -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "title", "retry"),
    [
        (RunStatus.active, 502, "The IDE is not answering", True),
        (RunStatus.provisioning, 503, "The workspace is still starting", True),
        (RunStatus.finished, 410, "This run's IDE is closed", False),
    ],
)
def test_an_ide_that_cannot_open_is_a_portal_page_with_the_way_back(
    client, engine, make_user, status, code, title, retry
):
    expert = make_user(Role.expert, name="Ida Expert")
    with Session(engine) as s:
        host = Host(name="local", driver=DriverKind.local, status=HostStatus.ready, created_at=NOW)
        s.add(host)
        s.commit()
        host_id = host.id
    run_id = _run(engine, expert, status=status, host_id=host_id, port=free_port(),
                  started_at=None if status == RunStatus.provisioning else NOW)  # fmt: skip
    login(client, expert)
    answer = client.get(f"/ide/{run_id}/", headers={"accept": "text/html"})
    assert answer.status_code == code
    page = unescape(answer.text)
    assert f"<h1>{title}</h1>" in page
    assert 'href="/static/style.css"' in page  # the portal's own page
    assert "Ida Expert" in page.split("</header>", 1)[0]  # signed in, not the visitor's header
    assert f'id="back-to-run" href="/runs/{run_id}"' in page
    assert ('id="ide-retry"' in page) == retry
    json_answer = client.get(f"/ide/{run_id}/", headers={"accept": "application/json"})
    assert json_answer.status_code == code and "detail" in json_answer.json()


def test_a_family_whose_instructions_carry_a_script_and_a_javascript_link_is_shown_inert(
    client, engine, make_user, settings, tmp_path
):
    """The page end to end: a task family (the probe's copy) whose instructions hold raw HTML,
    a script and javascript: links; the assignment page shows them as text, never as markup."""
    family = tmp_path / "families" / "probe"
    shutil.copytree(PROBE_FAMILIES / "probe", family)
    code = family / "probe.py"
    code.write_text(
        code.read_text().replace(
            'return "Make answer() in solution.py return 1."',
            "return " + repr(EVIL),
        )
    )
    settings.environment_dirs = str(family.parent)
    expert = make_user(Role.expert)
    assignment_id = _assignment(engine, expert, environment="probe/main")
    login(client, expert)
    page = client.get(f"/assignments/{assignment_id}").text
    shown = page.split('id="instructions-text">', 1)[1].split("</section>", 1)[0]
    assert "<h3>Probe</h3>" in shown and "<strong>bold</strong>" in shown
    assert "<script" not in shown and "<img" not in shown and '<a href="javascript' not in shown
    assert "&lt;script&gt;" in shown and "[click](javascript:alert(1))" in shown  # as text
    assert re.findall(r'href="([^"]*)"', shown) == ["https://example.org/"]
    assert '<a href="https://example.org/" rel="noopener noreferrer nofollow"' in shown


EVIL = (
    "# Probe\n\nSome **bold** text.\n\n<script>document.title='owned'</script>\n\n"
    '[click](javascript:alert(1)) <a href="javascript:alert(2)">raw</a>'
    " <img src=x onerror=alert(3)> [ok](https://example.org/)\n"
)


def test_a_refused_note_is_not_reloaded_away_while_a_checkpoint_is_scoring(
    client, engine, make_user
):
    """The run page reloads itself while checkpoints score; with a refused note on it, it
    must not (the reload would lose the text, and GET the form's address)."""
    expert = make_user(Role.expert)
    run_id = _run(engine, expert)
    with Session(engine) as s:
        s.add(Checkpoint(run_id=run_id, seq=1, source="cli", submitted_at=NOW, working_s=60.0,
                         snapshot_sha256="0" * 64, status=CheckpointStatus.queued))  # fmt: skip
        s.commit()
    login(client, expert)
    assert 'http-equiv="refresh"' in client.get(f"/runs/{run_id}").text
    refused = post_form(client, f"/runs/{run_id}/notes", {"text": ""}, f"/runs/{run_id}")
    assert refused.status_code == 400 and 'http-equiv="refresh"' not in refused.text
