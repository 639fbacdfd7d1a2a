"""The strict METR test family ``count_words``: its tasks start with a wrong answer that scores 0,
score by how far the answer is off, refuse a non-number with NaN and a message, and aggregate to
the best finite score. ``/home/agent`` is pointed at a temporary folder here."""

import importlib.util
import math
from pathlib import Path

import pytest

FAMILY = Path(__file__).resolve().parent / "families" / "count_words"


@pytest.fixture
def family(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("count_words", FAMILY / "count_words.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "AGENT_HOME", tmp_path / "home" / "agent")
    return module


def test_metr_interface(family):
    tf = family.TaskFamily
    assert tf.standard_version == "0.5.0"
    tasks = tf.get_tasks()
    assert set(tasks) == {"short", "long"}
    assert tasks["short"]["expected"] == 9 and tasks["long"]["expected"] > 50
    assert tf.get_permissions(tasks["short"]) == []
    assert "answer.txt" in tf.get_instructions(tasks["short"])
    assert tf.install() is None


def test_start_writes_the_text_and_a_wrong_answer_that_scores_zero(family):
    tf, t = family.TaskFamily, family.TaskFamily.get_tasks()["short"]
    tf.start(t)
    home = family.AGENT_HOME
    assert (home / "text.txt").read_text().split() == t["text"].split()
    assert (home / "answer.txt").read_text().strip() == "0"
    assert tf.intermediate_score(t)["score"] == 0.0


def test_scores_by_how_far_off_the_answer_is(family):
    tf, t = family.TaskFamily, family.TaskFamily.get_tasks()["long"]
    tf.start(t)
    answer = family.AGENT_HOME / "answer.txt"
    answer.write_text(f"{t['expected']}\n")
    exact = tf.intermediate_score(t)
    assert exact["score"] == 1.0 and exact["message"]["off_by"] == 0
    answer.write_text(str(t["expected"] // 2))
    assert 0.4 < tf.intermediate_score(t)["score"] < 0.6
    answer.write_text(str(t["expected"] * 5))
    assert tf.intermediate_score(t)["score"] == 0.0


def test_a_non_number_scores_nan_with_a_message(family):
    tf, t = family.TaskFamily, family.TaskFamily.get_tasks()["short"]
    tf.start(t)
    (family.AGENT_HOME / "answer.txt").write_text("nine\n")
    result = tf.intermediate_score(t)
    assert math.isnan(result["score"])
    assert "whole number" in result["message"]["error"]


def test_aggregate_is_the_best_finite_score(family):
    tf, t = family.TaskFamily, family.TaskFamily.get_tasks()["short"]
    log = [{"score": 0.2}, {"score": float("nan")}, {"score": 0.9}, {"score": None}]
    assert tf.aggregate_scores(t, log) == 0.9
    assert tf.aggregate_scores(t, [{"score": float("nan")}]) is None
    assert tf.aggregate_scores(t, []) is None
