"""Export and import: files round-trip exactly, re-imports replace, bad rows are listed with their
line numbers and nothing is written."""

from datetime import timedelta

import pytest
from sqlmodel import select

from analytics import dataset, formats, importing, task_numbers
from analytics.imported import ImportedRun, ImportedScore
from analytics.importing import ImportRejected, batch_of
from environments.catalogue import discover
from tests.analytics.conftest import KEY, NOW, T0, human_run, rate, wipe


def agent_batch():
    """Two agent runs from elsewhere, with awkward values: a task not installed here, an
    invalid entry, floats that are not short decimals, text and nested JSON messages."""
    start = T0 + timedelta(microseconds=123456)
    runs = [
        (
            "test line 1",
            {
                "run_id": "vivaria-17",
                "task_id": "ai_rd_fix_embedding/main",
                "agent": "modular-public@main",
                "started_at": start,
                "finished_at": start + timedelta(hours=8),
                "time_limit_s": 28800,
                "working_s": 28712.25,
                "status": "submitted",
                "final_score": 0.1 + 0.2,
                "final_score_normalized": 1 / 3,
                "cost_usd": 12.345678,
                "source": "vivaria",
            },
        ),
        (
            "test line 2",
            {
                "run_id": "run-b",
                "task_id": "triton_cumsum/main",
                "task_version": "1.0.0",
                "agent": "claude",
                "participant_id": None,
                "status": "error",
                "source": "csv",
            },
        ),
    ]
    entries = [
        (
            "e1",
            {
                "run_id": "vivaria-17",
                "elapsed_s": 61.5,
                "scored_at": start + timedelta(seconds=62),
                "score": 2.0000000000000004,
                "score_normalized": 0.1,
                "valid": True,
                "message": {"text": 'héllo, "quoted"\nnewline', "nested": [1, {"a": None}]},
                "details": {"z": 1, "a": 2},
            },
        ),
        ("e2", {"run_id": "vivaria-17", "elapsed_s": 99.0, "valid": False, "message": "oops"}),
        ("e3", {"run_id": "run-b", "elapsed_s": 10.0, "score": 1.631}),
    ]
    return batch_of(runs, entries)


def numbers(session):
    catalogue = discover("")
    return lambda task_id: task_numbers.lookup(session, catalogue, task_id)


def seed(session, expert):
    rate(session, expert.id, 4000)
    human_run(
        session,
        expert.id,
        hours=2.5,
        pauses=[(0.25, 0.5)],
        scores=[(600.125, 1.2, 0.16590909090909092), (1300, None, None)],
        final=(1.2, 0.16590909090909092),
    )
    human_run(  # CPU mode: comparable false survives the round trip
        session,
        expert.id,
        hours=None,
        status="active",
        start=NOW - timedelta(minutes=7),
        cpu_mode=True,
    )
    importing.store(session, agent_batch(), NOW, numbers(session))
    session.commit()


def export(session, tmp_path, fmt, name):
    runs, log = dataset.load(session, key=KEY, now=NOW)
    runs_file = tmp_path / f"{name}-runs.{fmt}"
    log_file = tmp_path / f"{name}-score_log.{fmt}"
    runs_file.write_bytes(formats.runs_bytes(runs, fmt))
    log_file.write_bytes(formats.score_log_bytes(log, fmt))
    return runs_file, log_file


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_export_then_import_round_trips_exactly(session, engine, expert, tmp_path, fmt):
    seed(session, expert)
    before = dataset.load(session, key=KEY, now=NOW)
    assert len(before[0]) == 4 and len(before[1]) == 5
    # The installed task normalised the imported raw score (y_s = 1.631 -> 0).
    assert [e["score_normalized"] for e in before[1] if e["run_id"] == "run-b"] == [0.0]
    runs_file, log_file = export(session, tmp_path, fmt, "first")
    session.close()
    wipe(engine)
    result = importing.store(session, importing.read_files(runs_file, log_file), NOW)
    session.commit()
    assert (result.added, result.replaced, result.entries) == (4, 0, 5)
    again_runs, again_log = export(session, tmp_path, fmt, "second")
    assert again_runs.read_bytes() == runs_file.read_bytes()
    assert again_log.read_bytes() == log_file.read_bytes()
    assert dataset.load(session, key=KEY, now=NOW) == before


def test_importing_the_same_runs_again_replaces_them(session, tmp_path, expert):
    seed(session, expert)
    runs_file, log_file = export(session, tmp_path, "csv", "x")
    count = len(session.exec(select(ImportedRun)).all())
    result = importing.store(session, agent_batch(), NOW)
    session.commit()
    assert (result.added, result.replaced, result.entries) == (0, 2, 3)
    assert len(session.exec(select(ImportedRun)).all()) == count
    assert len(session.exec(select(ImportedScore)).all()) == 3
    # This portal's own humans imported back: the live rows win, nothing doubles.
    importing.store(session, importing.read_files(runs_file, log_file), NOW)
    session.commit()
    again = dataset.runs(session, key=KEY, now=NOW)
    assert len(again) == 4


def test_bad_rows_are_listed_by_line_and_nothing_is_written(session, tmp_path):
    runs = tmp_path / "runs.csv"
    runs.write_text(
        "run_id,task_id,agent,started_at,working_s,time_limit_s\n"
        "r1,fam/a,bot,2026-11-01T10:00:00+00:00,100,3600\n"
        "r2,fam/a,bot,yesterday,-5,3600\n"
        "r3,no-slash,bot,,,1.5\n"
        ",fam/a,,,,\n"
        "r1,fam/a,bot,,,\n"
    )
    log = tmp_path / "score_log.csv"
    log.write_text(
        "run_id,elapsed_s,score,valid,message\n"
        "r1,10,0.5,true,{}\n"
        "r9,10,0.5,true,\n"
        "r1,abc,0.5,maybe,{not json\n"
        "r1,20,,true,\n"
    )
    with pytest.raises(ImportRejected) as caught:
        importing.store(session, importing.read_files(runs, log), NOW)
    session.rollback()
    problems = caught.value.problems
    expected = [
        "runs.csv line 3: started_at is not an ISO 8601 time",
        "runs.csv line 3: working_s is negative",
        "runs.csv line 4: time_limit_s must be a whole number",
        "runs.csv line 4: task_id must be '<family>/<task>'",
        "runs.csv line 5: run_id is missing",
        "runs.csv line 5: agent is missing",
        "runs.csv line 6: run_id r1 appears again (first at runs.csv line 2)",
        "score_log.csv line 3: run_id r9 is not in the runs file",
        "score_log.csv line 4: elapsed_s must be a number",
        "score_log.csv line 4: valid must be true or false",
        "score_log.csv line 4: message is not JSON",
        "score_log.csv line 5: a valid entry needs a score",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)
    assert "nothing imported" in str(caught.value)
    assert session.exec(select(ImportedRun)).all() == []
    assert session.exec(select(ImportedScore)).all() == []


def test_unknown_columns_and_files_are_refused(session, tmp_path):
    runs = tmp_path / "runs.csv"
    runs.write_text("run_id,task_id,agent,colour\nr1,fam/a,bot,red\n")
    with pytest.raises(ImportRejected, match=r"runs.csv line 2: unknown column\(s\) colour"):
        importing.store(session, importing.read_files(runs, None), NOW)
    with pytest.raises(formats.FormatError, match="cannot tell the format"):
        importing.read_files(tmp_path / "runs.txt", None)
    bad_json = tmp_path / "runs.jsonl"
    bad_json.write_text('{"run_id": "x", "task_id": "f/t", "agent": "a"}\n{oops\n')
    with pytest.raises(ImportRejected, match=r"runs\.jsonl line 2: not JSON"):
        importing.store(session, importing.read_files(bad_json, None), NOW)


def test_a_run_id_cannot_belong_to_two_sources(session):
    importing.store(session, agent_batch(), NOW)
    session.commit()
    clash = batch_of(
        [("x line 2", {"run_id": "run-b", "task_id": "f/t", "agent": "a", "source": "inspect"})], []
    )
    with pytest.raises(ImportRejected, match="already imported from source 'csv'"):
        importing.store(session, clash, NOW)
    mine = batch_of([("x line 2", {"run_id": "baseliner-3", "task_id": "f/t", "agent": "a"})], [])
    with pytest.raises(ImportRejected, match="belong to source 'baseliner'"):
        importing.store(session, mine, NOW)


def test_given_y_s_and_y_r_normalise_tasks_not_installed_here(session):
    batch = batch_of(
        [("l1", {"run_id": "r", "task_id": "ai_rd_rust/main", "agent": "a", "final_score": 0.065})],
        [("l2", {"run_id": "r", "elapsed_s": 5.0, "score": 0.13})],
    )
    lookup = importing.numbers_with(numbers(session), 0.0, 0.13)
    importing.store(session, batch, NOW, lookup)
    session.commit()
    runs, log = dataset.load(session, key=KEY, now=NOW)
    assert runs[0]["final_score_normalized"] == 0.5
    assert log[0]["score_normalized"] == 1.0 and log[0]["valid"] is True
    with pytest.raises(ValueError):
        importing.numbers_with(numbers(session), 1.0, None)
