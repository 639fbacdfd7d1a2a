"""Scores made under different scoring conditions (the operator's model) are calibrated per
condition and never pooled: the rule that picks a score's y_s/y_r, a run's final score over its
last condition only, normalising again when a coordinator calibrates a condition, and the
portal's form for it (checked per field, CSRF, coordinators only, nothing saved on bad input)."""

import html
import re
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from baselines import checkpoints, condition_scores
from baselines.audit import AuditLog
from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.runs import Run, RunStatus
from baselines.users import Role
from environments import calibrations
from environments._shared.familykit import scores as familykit_scores
from environments.calibrations import Calibration
from environments.manifest import BaselinerMeta
from fleet.task_runs import ScoreResult
from tests.conftest import csrf_token, login, post_form

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ENV = "modelled/main"
PAGE = f"/coordinator/environments/{ENV}"
SAVE = f"{PAGE}/calibrations"
META = BaselinerMeta(y_s=0.25, y_r=0.75, direction="higher", calibrated_for="model: standin")


@pytest.fixture(scope="module")
def families(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("families")
    folder = root / "modelled"
    folder.mkdir()
    (folder / "modelled.py").write_text(
        textwrap.dedent(
            """\
            class TaskFamily:
                standard_version = "0.5.0"

                @staticmethod
                def get_tasks():
                    return {"main": {}}

                @staticmethod
                def get_instructions(t):
                    return "Write a scaffold."
            """
        )
    )
    (folder / "manifest.yaml").write_text(
        "tasks:\n  main:\n    baseliner:\n      metric: fraction solved\n      direction: higher\n"
        "      y_s: 0.25\n      y_r: 0.75\n      calibrated_for: 'model: standin'\n"
    )
    return root


@pytest.fixture
def settings(settings, families):
    settings.environment_dirs = str(families)
    return settings


def _run(session: Session, expert_id: int, scored: list[tuple[float | None, str]]) -> Run:
    """A finished run whose checkpoints scored ``scored`` (score or None for invalid,
    condition), normalised as the worker does."""
    run = Run(expert_id=expert_id, environment=ENV, status=RunStatus.finished, created_at=T0,
              started_at=T0, finished_at=T0 + timedelta(hours=1))  # fmt: skip
    session.add(run)
    session.flush()
    for seq, (score, condition) in enumerate(scored, start=1):
        row = Checkpoint(run_id=run.id, seq=seq, source="cli", submitted_at=T0,
                         working_s=60.0 * seq, snapshot_sha256="0" * 64)  # fmt: skip
        checkpoints.record_result(
            session, row,
            status=CheckpointStatus.scored if score is not None else CheckpointStatus.invalid,
            score=score,
            normalized=condition_scores.normalised(session, ENV, META, condition, score),
            message={"solved": "x"}, details={}, output="", seconds=1.0, comparable=True,
            now=T0, condition=condition,
        )  # fmt: skip
    session.flush()
    rows = checkpoints.log(session, run.id)
    run.final_score = checkpoints.final_score(rows, "best", "higher")
    run.final_score_normalized = condition_scores.final_normalized(session, run, META, rows)
    session.add(run)
    session.commit()
    return run


def test_a_score_result_reports_its_condition():
    assert ScoreResult("scored", 0.5, message={"condition": " model: x "}).condition == "model: x"
    assert ScoreResult("scored", 0.5, details={"condition": "judge: y"}).condition == "judge: y"
    assert ScoreResult("scored", 0.5, message={"note": "no condition"}).condition == ""
    assert ScoreResult("scored", 0.5, message={"condition": 3}).condition == ""
    assert ScoreResult("scored", 0.5, message={"condition": "m"}).as_dict()["condition"] == "m"


def test_the_rule_picks_each_conditions_scale(session):
    # No condition, or the manifest's own: the task's y_s/y_r (every other family, unchanged).
    assert calibrations.scale(session, ENV, META, "") == (0.25, 0.75)
    assert calibrations.scale(session, ENV, META, "model: standin") == (0.25, 0.75)
    # Another condition: its own calibration, or none (valid but not comparable).
    assert calibrations.scale(session, ENV, META, "model: big") is None
    assert condition_scores.normalised(session, ENV, META, "model: big", 0.5) is None
    session.add(Calibration(environment=ENV, condition="model: big", y_s=0.5, y_r=0.9,
                            updated_at=T0))  # fmt: skip
    session.commit()
    assert calibrations.scale(session, ENV, META, "model: big") == (0.5, 0.9)
    assert condition_scores.normalised(session, ENV, META, "model: big", 0.7) == pytest.approx(0.5)
    assert calibrations.scale(session, "other/main", META, "model: big") is None


def test_a_runs_final_score_counts_its_last_condition_only(session, make_user):
    expert = make_user(Role.expert)
    run = _run(session, expert.id, [(0.9, "model: big"), (0.5, "model: standin"), (None, "")])
    assert checkpoints.run_condition(checkpoints.log(session, run.id)) == "model: standin"
    assert run.final_score == 0.5  # the other model's 0.9 is never pooled with it
    assert run.final_score_normalized == pytest.approx(0.5)
    log = [checkpoints.entry(r) for r in checkpoints.log(session, run.id)]
    # familykit's aggregation (METR's aggregate_scores) says the same.
    for entry, row in zip(log, checkpoints.log(session, run.id), strict=True):
        entry["message"] = {**entry["message"], "condition": row.condition}
    assert familykit_scores.aggregate(log, "last") == 0.5
    assert familykit_scores.aggregate(log[:1], "lowest") == 0.9


def test_calibrating_a_condition_normalises_its_scores_again(session, make_user):
    expert = make_user(Role.expert)
    run = _run(session, expert.id, [(0.7, "model: big")])
    (row,) = checkpoints.log(session, run.id)
    assert row.valid and row.score_normalized is None and run.final_score_normalized is None
    session.add(Calibration(environment=ENV, condition="model: big", y_s=0.5, y_r=0.9,
                            updated_at=T0))  # fmt: skip
    assert condition_scores.renormalise(session, ENV, META, "model: big") == 1
    session.commit()
    session.refresh(row)
    session.refresh(run)
    assert row.score_normalized == pytest.approx(0.5)
    assert run.final_score_normalized == pytest.approx(0.5)


def _text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text)))


def _saved(engine) -> list[Calibration]:
    with Session(engine) as s:
        return list(s.exec(select(Calibration)))


GOOD = {"cal_condition": "model: big", "cal_y_s": "0.5", "cal_y_r": "0.9"}


def test_a_coordinator_adds_changes_and_removes_a_calibration(client, make_user, engine):
    coordinator = make_user(Role.coordinator)
    expert = make_user(Role.expert)
    with Session(engine) as s:
        run_id = _run(s, expert.id, [(0.7, "model: big")]).id
    login(client, coordinator)
    page = client.get(PAGE)
    assert "Calibrations per scoring condition" in _text(page)
    assert "hold for model: standin" in _text(page)
    response = post_form(client, SAVE, GOOD, page=PAGE)
    assert response.status_code == 303
    (row,) = _saved(engine)
    assert (row.environment, row.condition, row.y_s, row.y_r) == (ENV, "model: big", 0.5, 0.9)
    assert row.updated_by_id == coordinator.id
    text = _text(client.get(PAGE))
    assert "Saved y_s and y_r for model: big (1 score(s) normalised again)" in text
    assert "model: big 0.5 0.9" in text
    with Session(engine) as s:
        assert s.get(Run, run_id).final_score_normalized == pytest.approx(0.5)
    # The same condition again changes its numbers, never adds a second row.
    post_form(client, SAVE, {**GOOD, "cal_y_r": "1.1"}, page=PAGE)
    assert [(r.condition, r.y_r) for r in _saved(engine)] == [("model: big", 1.1)]
    response = post_form(client, f"{SAVE}/delete", {"condition": "model: big"}, page=PAGE)
    assert response.status_code == 303 and _saved(engine) == []
    with Session(engine) as s:
        assert s.get(Run, run_id).final_score_normalized is None
        actions = [a.action for a in s.exec(select(AuditLog).order_by(AuditLog.id))][-3:]
    assert actions == ["calibration.set", "calibration.set", "calibration.remove"]
    missing = post_form(client, f"{SAVE}/delete", {"condition": "model: big"}, page=PAGE)
    assert missing.status_code == 404 and "No y_s/y_r are saved" in missing.text


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"cal_y_s": "abc"}, "cal_y_s", "Enter a number, e.g. 0.42 (not 'abc')."),
        ({"cal_y_r": "nan"}, "cal_y_r", "Enter a finite number"),
        ({"cal_y_r": ""}, "cal_y_r", "Required: a number"),
        ({"cal_y_r": "0.5"}, "cal_y_r", "Must differ from y_s (both are 0.5)"),
        ({"cal_y_r": "0.1"}, "cal_y_r", "higher"),  # the reference must be better
        ({"cal_condition": "  "}, "cal_condition", "Required: the condition as scores report"),
        ({"cal_condition": "m" * 201}, "cal_condition", "Use at most 200 characters."),
        ({"cal_condition": "model: standin"}, "cal_condition", "change them in manifest.yaml"),
    ],
)
def test_bad_input_is_refused_beside_its_field(client, make_user, engine, form, field, message):
    login(client, make_user(Role.coordinator))
    response = post_form(client, SAVE, {**GOOD, **form}, page=PAGE)
    assert response.status_code == 400
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', response.text)
    assert error and message in html.unescape(error.group(1)), response.text[-3000:]
    assert _saved(engine) == []


def test_only_coordinators_with_the_pages_token_may_calibrate(client, make_user, engine):
    login(client, make_user(Role.expert))
    assert post_form(client, SAVE, GOOD).status_code == 403
    client.cookies.clear()
    login(client, make_user(Role.coordinator))
    csrf_token(client, PAGE)
    assert client.post(SAVE, data=GOOD).status_code == 403  # no CSRF token
    assert client.post(f"{PAGE}/calibrations/delete", data={"condition": "x"}).status_code == 403
    assert _saved(engine) == []


def test_env_check_never_measures_another_model_against_the_manifest():
    from fleet import env_check

    other = ScoreResult("scored", 0.9, message={"condition": "model: big"})
    line = env_check._judge("starting solution", other, 0.25, 0.0, 0.25, 0.75, 0.05,
                            other_condition=True)  # fmt: skip
    assert line.normalised is None and line.problem == ""
    same = ScoreResult("scored", 0.9, message={"condition": "model: standin"})
    drifted = env_check._judge("starting solution", same, 0.25, 0.0, 0.25, 0.75, 0.05)
    assert "drifted" in drifted.problem


def test_the_analyst_page_offers_one_entry_per_condition(client, make_user, engine):
    expert = make_user(Role.expert)
    with Session(engine) as s:
        _run(s, expert.id, [(0.5, "model: standin")])
        _run(s, expert.id, [(0.7, "model: big")])
    login(client, make_user(Role.analyst))
    response = client.get("/analyst", params={"task": f"{ENV} [model: big]"})
    assert response.status_code == 200, response.text[-2000:]
    options = re.findall(r'<option value="([^"]*)"', response.text)
    assert f"{ENV} [model: big]" in options and f"{ENV} [model: standin]" in options
    summary = re.findall(r"<tr[^>]*><td><a [^>]*>([^<]*)</a></td><td>human</td>", response.text)
    assert sorted(html.unescape(s) for s in summary) == [
        f"{ENV} [model: big]",
        f"{ENV} [model: standin]",
    ]
    assert "Score over working time" in response.text
    csv_text = client.get(
        "/analyst/data/runs.csv", params={"task": f"{ENV} [model: big]"}
    ).text.splitlines()
    assert csv_text[0].endswith(",condition") and len(csv_text) == 2
    assert csv_text[1].endswith(",model: big")
