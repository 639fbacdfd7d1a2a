"""The dataset read live from runs and checkpoints: exact columns, working time, cost,
pseudonyms, filters."""

from datetime import timedelta

import pytest

from analytics import dataset, formats
from analytics.dataset import RUN_COLUMNS, SCORE_LOG_COLUMNS, Filters
from analytics.participants import participant_id
from baselines.runs import RunStatus
from tests.analytics.conftest import KEY, NOW, T0, human_run, rate
from timetracking.limits import LimitExtension


def test_human_runs_and_their_score_log(session, expert):
    rate(session, expert.id, 4550)  # $45.50 an hour
    run = human_run(
        session,
        expert.id,
        hours=3,
        pauses=[(1, 1.5)],  # 2.5 working hours
        scores=[(600, 1.5, 0.05), (1200, None, None), (7000, 0.5, 0.43)],
        final=(0.5, 0.43),
    )
    session.add(
        LimitExtension(run_id=run.id, seconds=3600, reason="r", by_id=expert.id, created_at=T0)
    )
    session.commit()
    runs, log = dataset.load(session, key=KEY, now=NOW)
    assert [list(r) for r in runs] == [list(RUN_COLUMNS)]
    (row,) = runs
    assert row == {
        "run_id": f"baseliner-{run.id}",
        "task_id": "triton_cumsum/main",
        "task_family": "triton_cumsum",
        "task_version": "v1",
        "agent": "human",
        "participant_id": participant_id(KEY, expert.id),
        "started_at": T0,
        "finished_at": T0 + timedelta(hours=3),
        "time_limit_s": 28800 + 3600,
        "working_s": 2.5 * 3600,
        "status": "finished",
        "final_score": 0.5,
        "final_score_normalized": 0.43,
        "cost_usd": 113.75,  # 2.5 h x $45.50
        "source": "baseliner",
        "comparable": True,
        "condition": None,  # its scores report no scoring condition
    }
    assert [list(e) for e in log] == [list(SCORE_LOG_COLUMNS)] * 3
    assert [(e["elapsed_s"], e["score"], e["score_normalized"], e["valid"]) for e in log] == [
        (600, 1.5, 0.05, True),
        (1200, None, None, False),
        (7000, 0.5, 0.43, True),
    ]
    assert log[0]["scored_at"] == T0 + timedelta(seconds=630)
    assert log[0]["message"] == {"note": "entry 1"} and log[0]["details"] == {"ms": 1}


def test_no_names_or_emails_in_any_export(session, expert):
    human_run(session, expert.id, scores=[(60, 1.0, 0.2)])
    session.commit()
    runs, log = dataset.load(session, key=KEY, now=NOW)
    for fmt in formats.FORMATS:
        data = formats.runs_bytes(runs, fmt) + formats.score_log_bytes(log, fmt)
        for secret in (b"Ada", b"Lovelace", b"ada@example.org", b"example.org"):
            assert secret not in data


def test_live_runs_work_until_now_and_other_currencies_have_no_cost(session, expert, make_user):
    from baselines.users import Role

    other = make_user(Role.expert)
    rate(session, other.id, 5000, "EUR")
    human_run(
        session, other.id, hours=None, status=RunStatus.active, start=NOW - timedelta(hours=1)
    )
    human_run(session, expert.id)  # no rate at all
    session.commit()
    rows = {r["participant_id"]: r for r in dataset.runs(session, key=KEY, now=NOW)}
    live = rows[participant_id(KEY, other.id)]
    assert live["working_s"] == 3600 and live["finished_at"] is None
    assert live["status"] == "active" and live["cost_usd"] is None
    assert rows[participant_id(KEY, expert.id)]["cost_usd"] is None
    assert not dataset.has_ended(live)


def test_runs_never_started_and_unscored_checkpoints_are_left_out(session, expert):
    from baselines.checkpoints import Checkpoint, CheckpointStatus

    run = human_run(session, expert.id, scores=[(60, 1.0, 0.2)])
    session.add(
        Checkpoint(
            run_id=run.id,
            seq=2,
            source="cli",
            submitted_at=T0,
            working_s=90,
            snapshot_sha256="0" * 64,
            status=CheckpointStatus.queued,
        )
    )
    never = human_run(session, expert.id)
    never.started_at = None
    session.add(never)
    session.commit()
    runs, log = dataset.load(session, key=KEY, now=NOW)
    assert [r["run_id"] for r in runs] == [f"baseliner-{run.id}"]
    assert len(log) == 1


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), {"a", "b", "c", "d"}),
        (Filters(tasks=("fam/other",)), {"c"}),
        (Filters(agents=("human",)), {"a", "b", "c", "d"}),
        (Filters(agents=("bot",)), set()),
        (Filters(sources=("vivaria",)), set()),
        (Filters(since=T0 + timedelta(days=1)), {"b", "c", "d"}),
        (Filters(until=T0 + timedelta(days=1)), {"a"}),
        (Filters(include_overridden=False), {"a", "c", "d"}),
        (Filters(include_cpu_mode=False), {"a", "b", "c"}),
    ],
)
def test_filters(session, expert, filters, expected):
    names = {}
    names[human_run(session, expert.id).id] = "a"
    day = T0 + timedelta(days=1)
    names[human_run(session, expert.id, start=day, overridden=True).id] = "b"
    names[human_run(session, expert.id, start=day, environment="fam/other").id] = "c"
    names[human_run(session, expert.id, start=day, cpu_mode=True).id] = "d"
    session.commit()
    runs = dataset.runs(session, key=KEY, now=NOW, filters=filters)
    assert {names[int(r["run_id"].removeprefix("baseliner-"))] for r in runs} == expected


def test_runs_csv_says_which_runs_are_not_comparable(session, expert, tmp_path):
    """CPU-mode runs are in the dataset by default: runs.csv says so in ``comparable``, and an
    imported run that says it was not comparable is left out with them on request."""
    import csv
    import io

    from analytics import importing

    gpu = human_run(session, expert.id)
    cpu = human_run(session, expert.id, cpu_mode=True)
    (tmp_path / "runs.csv").write_text(
        "run_id,task_id,agent,status,source,comparable\n"
        "x1,triton_cumsum/main,bot,submitted,csv,false\n"
        "x2,triton_cumsum/main,bot,submitted,csv,\n"
    )
    importing.store(session, importing.read_files(tmp_path / "runs.csv", None), NOW)
    session.commit()
    runs = dataset.runs(session, key=KEY, now=NOW)
    text = formats.runs_bytes(runs, "csv").decode()
    table = {r["run_id"]: r["comparable"] for r in csv.DictReader(io.StringIO(text))}
    assert table == {
        f"baseliner-{gpu.id}": "true",
        f"baseliner-{cpu.id}": "false",
        "x1": "false",
        "x2": "",  # the file did not say
    }
    kept = dataset.runs(session, key=KEY, now=NOW, filters=Filters(include_cpu_mode=False))
    assert {r["run_id"] for r in kept} == {f"baseliner-{gpu.id}", "x2"}
