"""A task whose scores are hidden (``scoring.visible_to_agent: false``, RE-Bench's scaling-law
task): the expert's ``task`` command learns whether each checkpoint was valid and what the
scorer said, never the score; the terminal prints it that way."""

from baselines.checkpoints import Checkpoint, CheckpointStatus
from fleet.task_command import display
from timetracking.utc import utcnow
from webapp.routes.task_api import checkpoint_json


def _row(**values) -> Checkpoint:
    base = dict(
        run_id=1, seq=3, source="cli", submitted_at=utcnow(), working_s=61.0,
        snapshot_sha256="0" * 64, status=CheckpointStatus.scored, score=0.71,
        score_normalized=0.78, valid=True, details={"loss_of_answer": 3.9},
    )  # fmt: skip
    return Checkpoint(**(base | values))


def test_hidden_scores_keep_validity_and_message_but_not_the_score():
    row = _row(message={"valid": True, "flops": 3.0e14, "budget_fraction": 1.0})
    shown = checkpoint_json(row, visible=False)
    assert (shown["score"], shown["score_normalized"]) == (None, None)
    assert shown["valid"] is True and shown["message"]["flops"] == 3.0e14
    assert "details" not in shown and "0.71" not in str(shown)
    line = display.outcome(shown)
    assert line.startswith("recorded; ") and "flops: 3" in line and display.HIDDEN in line


def test_an_invalid_hidden_answer_says_why():
    row = _row(
        status=CheckpointStatus.invalid, score=None, score_normalized=None, valid=False,
        message={"error": "the answer spends 2.1e+14 FLOPs; allowed 2.7e+14 to 3.3e+14"},
    )  # fmt: skip
    shown = checkpoint_json(row, visible=False)
    assert shown["valid"] is False
    assert display.outcome(shown).startswith("recorded; invalid: the answer spends 2.1e+14")


def test_visible_scores_are_unchanged():
    shown = checkpoint_json(_row(message={"note": "fine"}), visible=True)
    assert (shown["score"], shown["valid"], shown["message"]) == (0.71, True, {"note": "fine"})
