"""The coordinator's environment pages: every task with its numbers and status, one task's page
with its instructions, and the form that supplies what a manifest leaves out (checked per field,
audited, refused to other roles, nothing saved on bad input)."""

import html
import re
import shutil
import textwrap
from pathlib import Path

import pytest
from sqlmodel import Session, select

from baselines.audit import AuditLog
from baselines.users import Role
from environments.task_settings import TaskSettings
from tests.conftest import login, post_form

FAMILIES = Path(__file__).resolve().parent.parent / "environments" / "families"
PAGE = "/coordinator/environments"
SHORT = f"{PAGE}/count_words/short"
GOOD = {
    "metric": "fraction correct",
    "unit": "",
    "direction": "higher",
    "y_s": "0",
    "y_r": "1",
    "time_limit_hours": "2",
    "aggregation": "best",
}


@pytest.fixture(scope="module")
def families(tmp_path_factory) -> Path:
    """count_words (strict METR), one family whose manifest sets some numbers, one whose
    get_instructions raises, and one whose manifest is broken."""
    root = tmp_path_factory.mktemp("families")
    shutil.copytree(FAMILIES / "count_words", root / "count_words")
    partly = root / "partly"
    partly.mkdir()
    (partly / "partly.py").write_text(
        textwrap.dedent(
            """\
            class TaskFamily:
                standard_version = "0.5.0"

                @staticmethod
                def get_tasks():
                    return {"main": {}}

                @staticmethod
                def get_instructions(t):
                    raise RuntimeError("instructions are still being written")
            """
        )
    )
    (partly / "manifest.yaml").write_text(
        "tasks:\n  main:\n    baseliner:\n      metric: ln(ms)\n      direction: lower\n"
    )
    broken = root / "broken"
    broken.mkdir()
    (broken / "broken.py").write_text("class TaskFamily:\n    standard_version = '0.5.0'\n")
    (broken / "manifest.yaml").write_text("tasks:\n  main:\n    baseliner:\n      direction: up\n")
    return root


@pytest.fixture
def settings(settings, families):
    settings.environment_dirs = str(families)
    return settings


@pytest.fixture
def coordinator(client, make_user):
    user = make_user(Role.coordinator)
    login(client, user)
    return user


def _saved(engine) -> list[TaskSettings]:
    with Session(engine) as s:
        return list(s.exec(select(TaskSettings)))


def _audits(engine) -> list[AuditLog]:
    with Session(engine) as s:
        return list(s.exec(select(AuditLog).where(AuditLog.action == "task_settings.set")))


def _text(response) -> str:
    """The page's text with tags dropped, spaces collapsed and entities decoded."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text)))


def test_list_shows_every_task_its_numbers_and_status(client, coordinator, families):
    response = client.get(PAGE)
    assert response.status_code == 200
    text = _text(response)
    # The broken manifest is named at the top, with its field and fix.
    first_error = response.text.index('class="form-error"')
    assert first_error < response.text.index("<table")
    assert f"{families / 'broken' / 'manifest.yaml'}: tasks.main.baseliner.direction" in text
    assert 'must be "higher" or "lower" (is "up")' in text
    # The built-in kernel task is ready with its numbers; count_words needs everything.
    assert re.search(r"triton_cumsum main 1\.0\.0 \w{8} 1 h100 8 64 GB ln\(ms\)", text)
    assert "1.631 → -1.011" in text and "ready" in text
    assert "needs: y_s, y_r, direction, metric" in text
    assert "needs: y_s, y_r" in text  # partly: the manifest sets metric and direction
    assert f'href="{SHORT}"' in response.text
    assert f'href="{PAGE}/partly/main"' in response.text


def test_detail_shows_instructions_resources_and_scoring(client, coordinator):
    response = client.get(SHORT)
    assert response.status_code == 200
    text = _text(response)
    assert "Count the words in /home/agent/text.txt" in text
    assert "Version 1.0.0" in text and "needs: y_s, y_r, direction, metric" in text
    assert "CPUs 1" in text and "Memory 1 GB" in text and "GPUs none" in text
    assert "Visible to the expert yes" in text and "Scored at the time limit no" in text
    assert "Paths from /home/agent (METR)" in text
    assert "Set the missing numbers" in text and 'name="y_s"' in response.text


def test_instructions_that_fail_are_shown_not_a_crash(client, coordinator):
    response = client.get(f"{PAGE}/partly/main")
    assert response.status_code == 200
    text = _text(response)
    assert "get_instructions failed" in text
    assert "instructions are still being written" in text
    # The manifest's numbers are marked as such and not offered in the form.
    assert re.search(r"Metric ln\(ms\) manifest", text)
    assert 'name="metric"' not in response.text and 'name="y_s"' in response.text


@pytest.mark.parametrize(
    "path",
    [f"{PAGE}/nope/main", f"{PAGE}/count_words/nope", f"{PAGE}/broken/main", f"{PAGE}/count_words"],
)
def test_unknown_environment_is_404(client, coordinator, path):
    assert client.get(path).status_code == 404
    if path.count("/") == 4:
        assert post_form(client, path, GOOD).status_code == 404
    assert _saved(client.app.state.engine) == []


def test_setting_the_numbers_makes_the_task_ready_and_is_audited(
    client, coordinator, engine, families
):
    response = post_form(client, SHORT, GOOD, page=SHORT)
    assert response.status_code == 303 and response.headers["location"] == SHORT
    [row] = _saved(engine)
    assert (row.environment, row.metric, row.unit, row.direction) == (
        "count_words/short",
        "fraction correct",
        None,
        "higher",
    )
    assert (row.y_s, row.y_r, row.time_limit_s, row.aggregation) == (0.0, 1.0, 7200, "best")
    assert row.updated_by_id == coordinator.id
    [audit] = _audits(engine)
    assert audit.actor_id == coordinator.id and audit.object_type == "task_settings"
    assert audit.before is None and audit.after["environment"] == "count_words/short"
    assert audit.after["y_r"] == 1.0
    page = client.get(SHORT)
    text = _text(page)
    assert "Saved the numbers for count_words/short" in text
    assert re.search(r"y s \(starting solution\) 0\.0 portal", text)
    assert "Time limit 2 h portal" in text
    assert re.search(r"<h1>count_words/short\s*<span class=\"badge ready\">ready", page.text)
    # The form stays, to change what the portal set, holding the saved values.
    assert 'value="fraction correct"' in page.text and 'value="2"' in page.text
    listing = _text(client.get(PAGE))
    assert re.search(r"count_words short 1\.0\.0 \w{8} none 1 1 GB fraction correct", listing)
    # A change is audited with the value before.
    post_form(client, SHORT, {**GOOD, "y_s": "0.1"}, page=SHORT)
    assert [a.before["y_s"] if a.before else None for a in _audits(engine)] == [None, 0.0]


def test_the_manifest_wins_over_a_posted_value(client, coordinator, engine):
    form = {**GOOD, "metric": "something else", "direction": "", "y_s": "1.56", "y_r": "0.47"}
    response = post_form(client, f"{PAGE}/partly/main", form, page=SHORT)
    assert response.status_code == 303
    [row] = _saved(engine)
    assert row.metric is None and row.direction is None and row.y_r == 0.47
    text = _text(client.get(f"{PAGE}/partly/main"))
    assert re.search(r"Metric ln\(ms\) manifest", text) and "ready" in text


BAD = [
    ({"y_s": "fast"}, "y_s", "Enter a number, e.g. 1.56"),
    ({"y_r": "nan"}, "y_r", "Must be a finite number"),
    ({"y_s": "inf"}, "y_s", "Must be a finite number"),
    ({"y_s": "1", "y_r": "1.0"}, "y_r", "Must differ from y_s (both are 1)"),
    ({"direction": "up"}, "direction", 'Must be "higher" or "lower" (is "up")'),
    ({"direction": "lower"}, "y_r", "With direction lower the reference must score below"),
    ({"aggregation": "mean"}, "aggregation", 'Must be "best", "last" or "family"'),
    ({"time_limit_hours": "eight"}, "time_limit_hours", "Enter the limit in hours"),
    ({"time_limit_hours": "nan"}, "time_limit_hours", "Enter the limit in hours"),
    ({"time_limit_hours": "0.001"}, "time_limit_hours", "between 1 minute and 168 hours"),
    ({"time_limit_hours": "200"}, "time_limit_hours", "between 1 minute and 168 hours"),
    ({"metric": "m" * 201}, "metric", "at most 200 characters"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD)
def test_bad_input_is_refused_next_to_its_field(
    client, coordinator, engine, change, field, message
):
    response = post_form(client, SHORT, {**GOOD, **change}, page=SHORT)
    assert response.status_code == 400
    assert f'id="{field}-error">' in response.text
    error = re.search(rf'id="{field}-error">([^<]*)<', response.text).group(1)
    assert message in html.unescape(error)
    # The form comes back with what was typed; nothing was saved or audited.
    assert f'value="{html.escape({**GOOD, **change}["metric"])}"' in response.text
    assert _saved(engine) == [] and _audits(engine) == []


def test_bad_input_leaves_earlier_numbers_alone(client, coordinator, engine):
    assert post_form(client, SHORT, GOOD, page=SHORT).status_code == 303
    response = post_form(client, SHORT, {**GOOD, "y_s": "1"}, page=SHORT)
    assert response.status_code == 400
    [row] = _saved(engine)
    assert (row.y_s, row.y_r) == (0.0, 1.0) and len(_audits(engine)) == 1


@pytest.mark.parametrize("role", [Role.expert, Role.finance, Role.analyst])
def test_other_roles_cannot_set_numbers(client, make_user, engine, role):
    login(client, make_user(role))
    assert client.get(SHORT).status_code == 403
    assert post_form(client, SHORT, GOOD).status_code == 403
    assert _saved(engine) == [] and _audits(engine) == []


def test_admin_can_set_numbers(client, make_user, engine):
    login(client, make_user(Role.admin))
    assert post_form(client, SHORT, GOOD, page=SHORT).status_code == 303
    assert len(_saved(engine)) == 1


def test_without_the_csrf_token_nothing_is_saved(client, coordinator, engine):
    response = client.post(SHORT, data=GOOD)
    assert response.status_code == 403 and "This form has expired" in response.text
    assert _saved(engine) == []


def test_analyst_catalogue_is_read_only_with_the_same_numbers(client, make_user, engine):
    login(client, make_user(Role.admin))
    post_form(client, SHORT, GOOD, page=SHORT)
    client.cookies.clear()  # a fresh session
    login(client, make_user(Role.analyst))
    response = client.get("/analyst/environments")
    assert response.status_code == 200
    text = _text(response)
    assert "fraction correct" in text and "needs: y_s, y_r, direction, metric" in text
    assert (
        f'href="{SHORT}"' not in response.text
        and "<form" not in response.text.split("</header>")[1]
    )


def test_several_bad_fields_are_all_said_at_once(client, coordinator, engine):
    """A number that does not parse no longer hides what is wrong with the other fields."""
    form = {**GOOD, "y_s": "fast", "direction": "up", "aggregation": "mean",
            "time_limit_hours": "eight"}  # fmt: skip
    response = post_form(client, SHORT, form, page=SHORT)
    assert response.status_code == 400
    shown = set(re.findall(r'id="([a-z_]+)-error">', response.text))
    assert shown == {"y_s", "direction", "aggregation", "time_limit_hours"}
    assert _saved(engine) == [] and _audits(engine) == []
