"""The coordinator's assignment pages (assign to many, cancel, grant a retry, the balanced plan)
and the expert's view of an assignment: bad input is refused next to its field and creates
nothing; the expert sees the terms, the note and the task's instructions, and why a Start is
not possible."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from baselines import applications
from baselines.assignments import Assignment, AssignmentStatus
from baselines.audit import AuditLog
from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from tests.conftest import fixed_now, login, post_form
from timetracking.utc import utcnow

ENV = "triton_cumsum/main"
PAGE = "/coordinator/assignments"
PLAN = "/coordinator/assignments/plan"
NOW = datetime(2030, 5, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def coordinator(make_user, app) -> User:
    fixed_now(app, NOW)
    return make_user(Role.coordinator, name="Cora Coordinator")


@pytest.fixture
def approved(engine, make_user, coordinator):
    """``approved("Ida")``: an expert whose application is approved."""

    def make(name: str) -> User:
        expert = make_user(Role.expert, name=name)
        with Session(engine) as s:
            application = applications.for_user(s, expert.id)
            applications.approve(s, application, s.get(User, coordinator.id), utcnow())
            s.commit()
        return expert

    return make


def field_error(html: str, name: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="{name}-error">(.*?)</p>', html, re.S)
    return found.group(1) if found else None


def all_rows(engine, model) -> list:
    with Session(engine) as s:
        return list(s.exec(select(model).order_by(model.id)))


def form(experts: list[User], **changes) -> dict:
    values = {
        "experts": [str(e.id) for e in experts],
        "environment": ENV,
        "time_limit_hours": "",
        "due_date": "",
        "note": "",
        "ai_tools": "NO_AI_TOOLS",
    }
    return {**values, **changes}


def make_assignment(engine, expert: User, coordinator: User, **fields) -> int:
    with Session(engine) as s:
        row = Assignment(
            expert_id=expert.id,
            environment=ENV,
            assigned_by_id=coordinator.id,
            created_at=utcnow(),
            **fields,
        )
        s.add(row)
        s.commit()
        return row.id


def add_run(engine, assignment_id: int, expert: User, status: RunStatus, started: bool) -> int:
    with Session(engine) as s:
        attempt = len(s.exec(select(Run).where(Run.assignment_id == assignment_id)).all()) + 1
        run = Run(
            expert_id=expert.id,
            assignment_id=assignment_id,
            attempt=attempt,
            environment=ENV,
            status=status,
            created_at=utcnow(),
            started_at=utcnow() if started else None,
        )
        s.add(run)
        s.commit()
        return run.id


# --- assigning by hand ---------------------------------------------------------------------------


def test_one_task_to_two_experts_with_note_and_due_date(client, engine, coordinator, approved):
    ida, bo = approved("Ida Expert"), approved("Bo Expert")
    approved("Lin Expert")  # not ticked
    login(client, coordinator)
    data = form([ida, bo], due_date="2030-05-31", note="Use the Triton docs.")
    response = post_form(client, PAGE, data, page=PAGE)
    assert response.status_code == 303, response.text
    assert f"{ENV} assigned to Ida Expert and Bo Expert." in client.get(PAGE).text
    rows = all_rows(engine, Assignment)
    assert [(a.expert_id, a.time_limit_s, a.note) for a in rows] == [
        (ida.id, 8 * 3600, "Use the Triton docs."),  # blank time limit: 8 hours
        (bo.id, 8 * 3600, "Use the Triton docs."),
    ]
    assert {a.due_at for a in rows} == {datetime(2030, 5, 31, 23, 59, 59, tzinfo=UTC)}
    audit = [r for r in all_rows(engine, AuditLog) if r.action == "assignment.create"]
    assert sorted(int(r.object_id) for r in audit) == [a.id for a in rows]


def test_bad_input_is_shown_next_to_each_field_and_nothing_is_made(
    client, engine, coordinator, approved
):
    ida = approved("Ida Expert")
    login(client, coordinator)
    before = len(all_rows(engine, AuditLog))
    cases = [
        (form([]), "experts", "Tick at least one expert."),
        (form([ida], environment="nope/main"), "environment", "No environment named"),
        (form([ida], time_limit_hours="eight"), "time_limit_hours", "Enter the limit in hours"),
        (form([ida], time_limit_hours="200"), "time_limit_hours", "between 1 minute and 7 days"),
        (form([ida], time_limit_hours="nan"), "time_limit_hours", "Enter the limit in hours"),
        (form([ida], due_date="31/05/2030"), "due_date", "Enter a day as YYYY-MM-DD."),
        (form([ida], due_date="2030-05-09"), "due_date", "That day has passed"),
        (form([ida], note="x" * 2001), "note", "Use at most 2000 characters."),
        (form([ida], ai_tools="ALL_THE_AI"), "ai_tools", "Choose a policy."),
        ({**form([ida]), "experts": ["999999"]}, "experts", "Choose among the approved experts"),
    ]
    for data, field, message in cases:
        response = post_form(client, PAGE, data, page=PAGE)
        assert response.status_code == 400, (field, response.text[:300])
        assert message in (field_error(response.text, field) or ""), (field, message)
    # Several faults at once: each next to its field; the ticked expert stays ticked.
    response = post_form(
        client, PAGE, form([ida], time_limit_hours="x", due_date="x", note="n" * 2001), page=PAGE
    )
    assert response.status_code == 400
    assert all(field_error(response.text, f) for f in ("time_limit_hours", "due_date", "note"))
    assert f'value="{ida.id}" checked' in response.text
    assert all_rows(engine, Assignment) == []
    assert len(all_rows(engine, AuditLog)) == before


def test_an_open_assignment_of_the_task_refuses_the_whole_request(
    client, engine, coordinator, approved
):
    ida, bo = approved("Ida Expert"), approved("Bo Expert")
    login(client, coordinator)
    assert post_form(client, PAGE, form([bo]), page=PAGE).status_code == 303
    response = post_form(client, PAGE, form([ida, bo]), page=PAGE)
    assert response.status_code == 400
    assert field_error(response.text, "experts") == f"Bo Expert already has {ENV} open."
    assert [a.expert_id for a in all_rows(engine, Assignment)] == [bo.id]  # Ida got none either


def test_a_disabled_or_unapproved_expert_cannot_be_ticked(
    client, engine, coordinator, approved, make_user
):
    pending = make_user(Role.expert, name="Pat Pending")
    login(client, coordinator)
    response = post_form(client, PAGE, form([pending]), page=PAGE)
    assert response.status_code == 400
    assert "Pat Pending" not in client.get(PAGE).text
    assert all_rows(engine, Assignment) == []


# --- the list, cancel and retry ------------------------------------------------------------------


def test_list_shows_runs_used_and_the_actions_that_apply(client, engine, coordinator, approved):
    ida, bo, lin = approved("Ida Expert"), approved("Bo Expert"), approved("Lin Expert")
    fresh = make_assignment(engine, ida, coordinator, due_at=datetime(2030, 6, 1, tzinfo=UTC))
    used = make_assignment(engine, bo, coordinator)
    add_run(engine, used, bo, RunStatus.finished, started=True)
    failed = make_assignment(engine, lin, coordinator)
    add_run(engine, failed, lin, RunStatus.failed, started=False)  # the platform's fault
    login(client, coordinator)
    html = client.get(PAGE).text

    def row(ident: int) -> str:
        return html.split(f'id="assignment-{ident}"', 1)[1].split("</tr>", 1)[0]

    assert "2030-06-01" in row(fresh) and "0 / 1" in row(fresh)
    assert f"/coordinator/assignments/{fresh}/cancel" in row(fresh)
    assert "retry" not in row(fresh)
    assert "1 / 1" in row(used) and f"/coordinator/assignments/{used}/retry" in row(used)
    assert "cancel" not in row(used)
    assert "0 / 1" in row(failed) and "/cancel" in row(failed)


def test_cancel_with_a_reason_and_grant_a_retry(client, engine, coordinator, approved):
    ida, bo = approved("Ida Expert"), approved("Bo Expert")
    idle = make_assignment(engine, ida, coordinator)
    used = make_assignment(engine, bo, coordinator)
    add_run(engine, used, bo, RunStatus.finished, started=True)
    login(client, coordinator)
    cancelled = post_form(client, f"{PAGE}/{idle}/cancel", {"reason": "Wrong task."}, page=PAGE)
    retried = post_form(client, f"{PAGE}/{used}/retry", {}, page=PAGE)
    assert (cancelled.status_code, retried.status_code) == (303, 303)
    rows = {a.id: a for a in all_rows(engine, Assignment)}
    assert rows[idle].status == AssignmentStatus.cancelled
    assert rows[used].retries_granted == 1
    audit = {r.action: r for r in all_rows(engine, AuditLog)}
    assert audit["assignment.cancel"].after["reason"] == "Wrong task."
    assert audit["assignment.cancel"].actor_id == coordinator.id
    assert audit["assignment.retry"].after == {"retries_granted": 1}
    assert "1 / 2" in client.get(PAGE).text
    # Once a run has started it cannot be cancelled; a cancelled one no longer blocks the task.
    refused = post_form(client, f"{PAGE}/{used}/cancel", {}, page=PAGE)
    assert refused.status_code == 409 and "can no longer be cancelled" in refused.text
    assert post_form(client, PAGE, form([ida]), page=PAGE).status_code == 303


# --- the balanced plan ---------------------------------------------------------------------------


@pytest.fixture
def two_tasks(tmp_path: Path, settings) -> list[str]:
    """A second family on disk beside the built-in triton_cumsum."""
    family = tmp_path / "envs" / "warmup"
    family.mkdir(parents=True)
    (family / "manifest.yaml").write_text("tasks:\n  main:\n    resources:\n      cpus: 1\n")
    (family / "warmup.py").write_text(
        "class TaskFamily:\n    standard_version = '0.5.0'\n"
        "    @staticmethod\n    def get_tasks():\n        return {'main': {}}\n"
        "    @staticmethod\n    def get_instructions(t):\n        return 'Warm up.'\n"
    )
    settings.environment_dirs = str(tmp_path / "envs")
    return [ENV, "warmup/main"]


def plan_form(tasks: list[str], experts: list[User], runs: str, action: str, **more) -> dict:
    return {
        "tasks": tasks,
        "experts": [str(e.id) for e in experts],
        "runs_per_task": runs,
        "time_limit_hours": "4",
        "due_date": "",
        "ai_tools": "NO_AI_TOOLS",
        "note": "",
        "action": action,
        **more,
    }


def test_plan_preview_then_create(client, engine, coordinator, approved, two_tasks):
    ida, bo, lin = approved("Ida Expert"), approved("Bo Expert"), approved("Lin Expert")
    make_assignment(engine, ida, coordinator)  # Ida has triton_cumsum open: load 1, not again
    login(client, coordinator)
    page = client.get(PLAN)
    assert page.status_code == 200
    assert all(f'value="{e.id}" checked' in page.text for e in (ida, bo, lin))  # all by default
    preview = post_form(client, PLAN, plan_form(two_tasks, [ida, bo, lin], "2", "preview"), PLAN)
    assert preview.status_code == 200, preview.text[:500]
    assert "Create these 4 assignments" in preview.text
    pairs = re.findall(r"<tr><td>([\w/]+)</td><td>([\w ]+)</td></tr>", preview.text)
    # Ida already has triton_cumsum; ties in load go to the lower id (Ida, then Bo).
    assert set(pairs) == {
        (ENV, "Bo Expert"),
        (ENV, "Lin Expert"),
        ("warmup/main", "Ida Expert"),
        ("warmup/main", "Bo Expert"),
    }
    assert len(all_rows(engine, Assignment)) == 1  # a preview makes nothing

    made = post_form(client, PLAN, plan_form(two_tasks, [ida, bo, lin], "2", "create"), PLAN)
    assert made.status_code == 303
    rows = all_rows(engine, Assignment)[1:]
    assert sorted((a.environment, a.expert_id) for a in rows) == sorted(
        (t, next(e.id for e in (ida, bo, lin) if e.name == n)) for t, n in pairs
    )
    assert {a.time_limit_s for a in rows} == {4 * 3600}
    loads = {e.id: 0 for e in (ida, bo, lin)}
    for a in all_rows(engine, Assignment):
        loads[a.expert_id] += 1
    assert max(loads.values()) - min(loads.values()) <= 1
    creates = [r for r in all_rows(engine, AuditLog) if r.action == "assignment.create"]
    assert len(creates) == 4


def test_plan_errors_create_nothing(client, engine, coordinator, approved, two_tasks):
    ida, bo = approved("Ida Expert"), approved("Bo Expert")
    login(client, coordinator)
    cases = [
        (plan_form(two_tasks, [ida, bo], "3", "create"), "runs_per_task", "3 runs per task"),
        (plan_form([], [ida, bo], "1", "preview"), "tasks", "Tick at least one task."),
        (plan_form(["nope/x"], [ida], "1", "create"), "tasks", "Choose among the tasks listed."),
        (plan_form(two_tasks, [], "1", "create"), "experts", "Tick at least one expert."),
        (plan_form(two_tasks, [ida], "zero", "create"), "runs_per_task", "whole number"),
        (plan_form(two_tasks, [ida], "²", "create"), "runs_per_task", "whole number"),
        (plan_form(two_tasks, [ida], "0", "create"), "runs_per_task", "whole number"),
        (
            plan_form(two_tasks, [ida], "1", "create", due_date="2001-01-01"),
            "due_date",
            "That day has passed",
        ),
    ]
    for data, field, message in cases:
        response = post_form(client, PLAN, data, page=PLAN)
        assert response.status_code == 400, (field, response.text[:300])
        assert message in (field_error(response.text, field) or ""), (field, response.text)
    assert all_rows(engine, Assignment) == []


def test_plan_never_repeats_a_task_an_expert_had(client, engine, coordinator, approved):
    ida, bo = approved("Ida Expert"), approved("Bo Expert")
    make_assignment(engine, ida, coordinator, status=AssignmentStatus.closed)
    login(client, coordinator)
    response = post_form(client, PLAN, plan_form([ENV], [ida, bo], "2", "create"), PLAN)
    assert response.status_code == 400
    assert "1 of the chosen experts can take it" in field_error(response.text, "experts")


# --- the expert's view ---------------------------------------------------------------------------


def test_expert_sees_terms_note_and_instructions(client, engine, coordinator, approved):
    ida = approved("Ida Expert")
    ident = make_assignment(
        engine,
        ida,
        coordinator,
        note="Mind the odd count.",
        due_at=datetime(2030, 6, 1, 23, 59, tzinfo=UTC),
    )
    login(client, ida)
    dashboard = client.get("/dashboard").text
    assert f'href="/assignments/{ident}"' in dashboard and "Mind the odd count." in dashboard
    assert f'action="/assignments/{ident}/start"' in dashboard
    page = client.get(f"/assignments/{ident}")
    assert page.status_code == 200
    assert "prefix_sum" in page.text and "Mind the odd count." in page.text
    assert "2030-06-01" in page.text and "0 of 1 used" in page.text
    assert f'action="/assignments/{ident}/start"' in page.text


def test_why_a_start_is_not_possible(client, engine, coordinator, approved):
    ida = approved("Ida Expert")
    cancelled = make_assignment(engine, ida, coordinator, status=AssignmentStatus.cancelled)
    used = make_assignment(engine, ida, coordinator)
    add_run(engine, used, ida, RunStatus.finished, started=True)
    live = make_assignment(engine, ida, coordinator)
    run_id = add_run(engine, live, ida, RunStatus.active, started=True)
    login(client, ida)
    assert "This assignment was cancelled." in client.get(f"/assignments/{cancelled}").text
    used_page = client.get(f"/assignments/{used}").text
    assert "ask your coordinator for a retry" in used_page and "/start" not in used_page
    assert f'href="/runs/{run_id}">Open run' in client.get(f"/assignments/{live}").text
    dashboard = client.get("/dashboard").text
    assert "ask your coordinator for a retry" in dashboard and "was cancelled" in dashboard
    assert dashboard.count('action="/assignments/') == 0  # no Start anywhere
    refused = post_form(client, f"/assignments/{used}/start", {}, page="/dashboard")
    assert refused.status_code == 409
    assert "You have used this assignment&#39;s start; ask your coordinator" in refused.text


def test_other_experts_get_404_and_coordinators_may_look(client, engine, coordinator, approved):
    ida, bo = approved("Ida Expert"), approved("Bo Expert")
    ident = make_assignment(engine, ida, coordinator, note="For Ida only.")
    login(client, bo)
    assert client.get(f"/assignments/{ident}").status_code == 404
    client.cookies.clear()  # another person, another browser
    login(client, coordinator)
    page = client.get(f"/assignments/{ident}")
    assert page.status_code == 200 and "For Ida only." in page.text and "Ida Expert" in page.text
    assert f'action="/assignments/{ident}/start"' not in page.text  # only the expert starts


@pytest.mark.parametrize("problem", ["missing", "broken"])
def test_instructions_that_cannot_load_are_explained(
    client, engine, coordinator, approved, settings, tmp_path, problem
):
    ida = approved("Ida Expert")
    family = tmp_path / "envs" / "shaky"
    family.mkdir(parents=True)
    (family / "manifest.yaml").write_text("tasks:\n  main:\n    resources:\n      cpus: 1\n")
    (family / "shaky.py").write_text(
        "class TaskFamily:\n    standard_version = '0.5.0'\n"
        "    @staticmethod\n    def get_tasks():\n        return {'main': {}}\n"
        "    @staticmethod\n    def get_instructions(t):\n"
        "        raise RuntimeError('disk on fire')\n"
    )
    settings.environment_dirs = str(tmp_path / "envs")
    with Session(engine) as s:
        row = Assignment(
            expert_id=ida.id,
            environment="shaky/main" if problem == "broken" else "retired/main",
            created_at=utcnow() - timedelta(days=1),
        )
        s.add(row)
        s.commit()
        ident = row.id
    login(client, ida)
    page = client.get(f"/assignments/{ident}")
    assert page.status_code == 200
    if problem == "broken":
        assert "The instructions of shaky/main could not be loaded" in page.text
        assert "disk on fire" in page.text
    else:
        assert "retired/main is not on this platform any more" in page.text
