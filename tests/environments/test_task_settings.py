"""Numbers a coordinator saves for a task fill what its manifest leaves unset; the manifest
wins where it sets a value; bad numbers are refused per field and nothing is saved."""

from pathlib import Path

import pytest
from sqlmodel import select

from environments import task_settings
from environments.catalogue import Family
from environments.manifest import BaselinerMeta, TaskSpec
from environments.task_settings import SettingsInvalid, TaskSettings
from timetracking.utc import utcnow

PLAIN = TaskSpec(name="short")  # a METR task with no baseliner: key
PARTLY = TaskSpec(
    name="main",
    meta=BaselinerMeta(
        metric="ln(ms)", direction="lower", given=frozenset({"metric", "direction"})
    ),
)
FAMILY = Family(name="count_words", path=Path("/nowhere"))


def test_missing_and_status():
    assert task_settings.missing(None) == ["y_s", "y_r", "direction", "metric"]
    assert task_settings.status(None) == "needs: y_s, y_r, direction, metric"
    assert task_settings.status(PARTLY.meta) == "needs: y_s, y_r"
    ready = BaselinerMeta(metric="m", direction="higher", y_s=0.0, y_r=1.0)
    assert task_settings.missing(ready) == [] and task_settings.is_ready(ready)
    assert task_settings.status(ready) == "ready"


def test_merge_fills_only_what_the_manifest_leaves_unset():
    saved = {"metric": "seconds", "y_s": 5.6, "y_r": 4.54, "time_limit_s": 3600, "unit": None}
    meta = task_settings.merge(PARTLY.meta, saved)
    assert (meta.metric, meta.direction) == ("ln(ms)", "lower")  # the manifest wins
    assert (meta.y_s, meta.y_r, meta.time_limit_s) == (5.6, 4.54, 3600)
    assert meta.source("metric") == "manifest" and meta.source("y_s") == "portal"
    assert meta.source("time_limit_s") == "portal" and meta.source("aggregation") == "default"
    assert meta.source("unit") == "unset"
    assert task_settings.merge(None, None) == BaselinerMeta()


def test_editable_fields_are_those_the_manifest_leaves_out():
    assert task_settings.editable(None) == list(task_settings.FIELDS)
    assert "metric" not in task_settings.editable(PARTLY.meta)
    assert "y_s" in task_settings.editable(PARTLY.meta)


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"direction": "up"}, "direction", 'must be "higher" or "lower" (is "up")'),
        ({"y_s": float("nan")}, "y_s", "finite number"),
        ({"y_r": float("inf")}, "y_r", "finite number"),
        ({"y_s": 1.0, "y_r": 1.0}, "y_r", "must differ from y_s"),
        ({"y_s": 0.2, "y_r": 0.9, "direction": "lower"}, "y_r", "must score below the start"),
        ({"time_limit_s": 10}, "time_limit_s", "between 60 s"),
        ({"aggregation": "mean"}, "aggregation", '"best", "last" or "family"'),
        ({"metric": "  "}, "metric", "must be text"),
        ({"unit": "u" * 81}, "unit", "at most 80 characters"),
    ],
)
def test_check_refuses_bad_numbers_per_field(values, field, words):
    with pytest.raises(SettingsInvalid) as caught:
        task_settings.check(None, values)
    assert words in caught.value.errors[field]


def test_check_sees_the_manifest_values_too():
    # The manifest says lower is better, so a reference above the start is refused.
    with pytest.raises(SettingsInvalid) as caught:
        task_settings.check(PARTLY.meta, {"y_s": 0.47, "y_r": 1.56})
    assert "with direction lower" in caught.value.errors["y_r"]
    # A value for a field the manifest sets is dropped, not saved.
    assert "metric" not in task_settings.check(PARTLY.meta, {"metric": "other", "y_s": 1.0})


def test_save_and_effective(session):
    now = utcnow()
    assert task_settings.effective(session, FAMILY, PLAIN) == BaselinerMeta()
    row, before, after = task_settings.save(
        session,
        FAMILY,
        PLAIN,
        {"metric": "accuracy", "direction": "higher", "y_s": 0.0, "y_r": 1.0},
        None,
        now,
    )
    session.commit()
    assert before is None and after["y_r"] == 1.0 and row.environment == "count_words/short"
    meta = task_settings.effective(session, FAMILY, PLAIN)
    assert task_settings.is_ready(meta) and meta.source("y_s") == "portal"
    # Saving again updates the one row; an empty value unsets the field.
    _, before, after = task_settings.save(
        session, FAMILY, PLAIN, {"metric": "accuracy", "y_s": 0.1, "y_r": 1.0}, None, now
    )
    session.commit()
    assert before["y_s"] == 0.0 and after["y_s"] == 0.1 and after["direction"] is None
    assert len(session.exec(select(TaskSettings)).all()) == 1
    assert task_settings.status(task_settings.effective(session, FAMILY, PLAIN)) == (
        "needs: direction"
    )
    assert set(task_settings.all_saved(session)) == {"count_words/short"}


def test_save_refuses_and_stores_nothing(session):
    with pytest.raises(SettingsInvalid):
        task_settings.save(session, FAMILY, PLAIN, {"y_s": 2.0, "y_r": 2.0}, None, utcnow())
    session.rollback()
    assert session.exec(select(TaskSettings)).all() == []
