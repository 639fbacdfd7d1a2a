"""Inspect eval logs (built with inspect_ai's own classes and writer) imported as the dataset.
Skipped where the optional extra is not installed."""

from datetime import UTC, datetime

import pytest

pytest.importorskip("inspect_ai")

from inspect_ai.event import ScoreEvent
from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalError,
    EvalLog,
    EvalSample,
    EvalSpec,
    write_eval_log,
)
from inspect_ai.model import ModelUsage
from inspect_ai.scorer import Score

from analytics import dataset, importing, inspect_logs
from analytics.formats import FormatError
from analytics.task_numbers import TaskNumbers
from tests.analytics.conftest import KEY, NOW

T = datetime(2026, 11, 1, 10, 5, tzinfo=UTC)


def eval_log(path, fmt: str = "eval"):
    spec = EvalSpec(
        created="2026-11-01T10:00:00+00:00",
        task="metr/triton_cumsum",
        task_version=2,
        dataset=EvalDataset(),
        model="anthropic/claude-x",
        config=EvalConfig(working_limit=7200),
        eval_id="ev1",
        run_id="r1",
    )
    good = EvalSample(
        id="main",
        epoch=1,
        input="make the prefix sum fast",
        target="",
        uuid="sample-1",
        events=[
            ScoreEvent(
                score=Score(value=1.2, explanation="slow"),
                intermediate=True,
                working_start=300.0,
                timestamp=T,
            ),
            ScoreEvent(
                score=Score(value=float("nan")), intermediate=True, working_start=100.0, timestamp=T
            ),
            ScoreEvent(
                score=Score(value=-0.5, metadata={"ms": 0.6}),
                intermediate=False,
                working_start=7100.0,
                timestamp=T,
            ),
        ],
        scores={"score": Score(value=-0.5)},
        working_time=7150.5,
        started_at="2026-11-01T10:00:01+00:00",
        completed_at="2026-11-01T12:10:00+00:00",
        model_usage={
            "anthropic/claude-x": ModelUsage(input_tokens=9, output_tokens=3, total_cost=1.5)
        },
    )
    failed = EvalSample(
        id="main",
        epoch=2,
        input="make the prefix sum fast",
        target="",
        uuid="sample-2",
        events=[],
        scores={"score": Score(value="I")},
        error=EvalError(message="sandbox died", traceback="", traceback_ansi=""),
    )
    log = EvalLog(status="success", eval=spec, samples=[good, failed])
    target = path / f"log.{fmt}"
    write_eval_log(log, str(target))
    return target


@pytest.mark.parametrize("fmt", ["eval", "json"])
def test_samples_become_runs_with_their_score_events(session, tmp_path, fmt):
    batch = inspect_logs.read(eval_log(tmp_path, fmt))
    result = importing.store(
        session, batch, NOW, lambda task_id: TaskNumbers(y_s=1.631, y_r=-1.011)
    )
    session.commit()
    assert (result.added, result.entries) == (2, 3)
    runs, log = dataset.load(session, key=KEY, now=NOW)
    good = next(r for r in runs if r["run_id"] == "inspect-sample-1")
    assert good == {
        "run_id": "inspect-sample-1",
        "task_id": "triton_cumsum/main",
        "task_family": "triton_cumsum",
        "task_version": "2",
        "agent": "anthropic/claude-x",
        "participant_id": None,
        "started_at": datetime(2026, 11, 1, 10, 0, 1, tzinfo=UTC),
        "finished_at": datetime(2026, 11, 1, 12, 10, tzinfo=UTC),
        "time_limit_s": 7200,
        "working_s": 7150.5,
        "status": "completed",
        "final_score": -0.5,
        "final_score_normalized": pytest.approx((-0.5 - 1.631) / (-1.011 - 1.631)),
        "cost_usd": 1.5,
        "source": "inspect",
        "comparable": None,  # the log does not say what the runs were scored on
        "condition": None,  # nor under which scoring condition
    }
    failed = next(r for r in runs if r["run_id"] == "inspect-sample-2")
    assert (failed["status"], failed["final_score"]) == ("error", None)
    entries = [(e["elapsed_s"], e["score"], e["valid"], e["message"]) for e in log]
    # In working-time order: the NaN score is invalid; the final scoring counts too.
    assert entries == [
        (100.0, None, False, None),
        (300.0, 1.2, True, "slow"),
        (7100.0, -0.5, True, None),
    ]
    assert log[2]["details"] == {"ms": 0.6}


def test_a_file_that_is_not_a_log_is_refused(tmp_path):
    bogus = tmp_path / "bogus.json"
    bogus.write_text("{}")
    with pytest.raises(FormatError, match="not an Inspect log"):
        inspect_logs.read(bogus)
