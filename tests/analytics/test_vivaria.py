"""Vivaria exports (runs_v rows and score_log_v rows) imported as the dataset."""

import json
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from analytics import dataset, importing, vivaria
from analytics.imported import ImportedRun
from analytics.importing import ImportRejected
from analytics.task_numbers import TaskNumbers
from tests.analytics.conftest import KEY, NOW

CREATED = 1_730_000_000_000  # ms since the epoch


def runs_file(tmp_path, extra=()):
    rows = [
        {
            "id": 101,
            "name": None,
            "taskId": "ai_rd_optimize_llm_foundry/main",
            "taskCommitId": "abc123",
            "agent": "modular-public+triframe@main",
            "runStatus": "submitted",
            "createdAt": CREATED,
            "score": 0.42,
            "username": "someone at metr",
            "metadata": {},
            "startedAt": CREATED + 5_000,
            "completedAt": CREATED + 8 * 3_600_000,
            "usage": {"tokens": 10, "actions": 3, "total_seconds": 27000.5, "cost": 31.25},
            "usageLimits": {"tokens": 1e7, "actions": 3000, "total_seconds": 28800, "cost": 100},
        },
        {
            "id": 102,
            "taskId": "ai_rd_optimize_llm_foundry/main",
            "agentRepoName": "flock",
            "agentBranch": "dev",
            "runStatus": "running",
            "createdAt": CREATED,
            "score": None,
        },
        *extra,
    ]
    path = tmp_path / "runs.json"
    path.write_text(json.dumps(rows))
    return path


def score_log_file(tmp_path, extra=()):
    lines = [
        {
            "runId": 101,
            "agentBranchNumber": 0,
            "scoreLog": [
                {
                    "scoredAt": CREATED + 600_000,
                    "elapsedTime": 540_000,
                    "createdAt": CREATED + 601_000,
                    "score": "5.3",
                    "message": {"loss": 1.2},
                    "details": {"stdout": "ok"},
                },
                {
                    "scoredAt": "2024-10-27T05:00:00.000Z",
                    "elapsedTime": 3_600_500,
                    "createdAt": CREATED,
                    "score": "NaN",
                    "message": {"error": "weights differ"},
                    "details": {},
                },
            ],
        },
        # Another branch of the same run: not the trunk, not imported.
        {"runId": 101, "agentBranchNumber": 1, "scoreLog": [{"elapsedTime": 1, "score": 9}]},
        # A flat row of intermediate scores (no scoreLog array).
        {
            "runId": 102,
            "agentBranchNumber": 0,
            "scoredAt": CREATED,
            "elapsedTime": 1500,
            "score": 6.0,
            "message": None,
            "details": None,
        },
        *extra,
    ]
    path = tmp_path / "score_log.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def test_runs_and_trunk_score_logs_become_the_dataset(session, tmp_path):
    batch = vivaria.read(runs_file(tmp_path), score_log_file(tmp_path))
    lookup = importing.numbers_with(lambda task_id: TaskNumbers(), 5.6, 4.54)
    result = importing.store(session, batch, NOW, lookup)
    session.commit()
    assert (result.added, result.entries) == (2, 3)
    runs, log = dataset.load(session, key=KEY, now=NOW)
    first = next(r for r in runs if r["run_id"] == "vivaria-101")
    assert first == {
        "run_id": "vivaria-101",
        "task_id": "ai_rd_optimize_llm_foundry/main",
        "task_family": "ai_rd_optimize_llm_foundry",
        "task_version": None,
        "agent": "modular-public+triframe@main",
        "participant_id": None,
        "started_at": datetime.fromtimestamp((CREATED + 5_000) / 1000, tz=UTC),
        "finished_at": datetime.fromtimestamp((CREATED + 8 * 3_600_000) / 1000, tz=UTC),
        "time_limit_s": 28800,
        "working_s": 27000.5,
        "status": "submitted",
        "final_score": 0.42,
        "final_score_normalized": pytest.approx((0.42 - 5.6) / (4.54 - 5.6)),
        "cost_usd": 31.25,
        "source": "vivaria",
        "comparable": None,  # the log does not say what the runs were scored on
        "condition": None,  # nor under which scoring condition
    }
    second = next(r for r in runs if r["run_id"] == "vivaria-102")
    assert second["agent"] == "flock@dev" and not dataset.has_ended(second)
    mine = [e for e in log if e["run_id"] == "vivaria-101"]
    # Elapsed time is working milliseconds; NaN is an invalid entry.
    assert [(e["elapsed_s"], e["score"], e["valid"]) for e in mine] == [
        (540.0, 5.3, True),
        (3600.5, None, False),
    ]
    assert mine[0]["score_normalized"] == pytest.approx((5.3 - 5.6) / (4.54 - 5.6))
    assert mine[0]["scored_at"] == datetime.fromtimestamp((CREATED + 600_000) / 1000, tz=UTC)
    assert mine[1]["scored_at"] == datetime(2024, 10, 27, 5, tzinfo=UTC)
    assert mine[0]["message"] == {"loss": 1.2} and mine[0]["details"] == {"stdout": "ok"}
    # The person who launched the run in Vivaria is not a participant: no name anywhere.
    assert "someone" not in json.dumps([list(r.values()) for r in runs], default=str)
    # Idempotent: the same export again replaces the runs.
    again = importing.store(session, vivaria.read(runs_file(tmp_path), None), NOW)
    session.commit()
    assert (again.added, again.replaced) == (0, 2)
    assert len(session.exec(select(ImportedRun)).all()) == 2


def test_malformed_vivaria_rows_are_listed_and_nothing_is_written(session, tmp_path):
    runs = runs_file(tmp_path, extra=[{"taskId": "x/y"}, "not an object"])
    log = score_log_file(
        tmp_path, extra=[{"runId": 999, "scoreLog": [{"elapsedTime": 5, "score": 1}]}]
    )
    with open(log, "a") as handle:
        handle.write("{broken\n")
    with pytest.raises(ImportRejected) as caught:
        importing.store(session, vivaria.read(runs, log), NOW)
    session.rollback()
    text = str(caught.value)
    assert "runs.json item 3: id is missing" in text
    assert "runs.json item 4: not an object" in text
    assert "score_log.jsonl line 4 entry 1: run_id vivaria-999 is not in the runs file" in text
    assert "score_log.jsonl line 5: not JSON" in text
    assert session.exec(select(ImportedRun)).all() == []
