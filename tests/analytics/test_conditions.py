"""Scores under different scoring conditions (two models) are never pooled: each (task,
condition) is an entry of its own in every table and figure, named with its condition, and a
run's entries under another condition than its own never count for it."""

from analytics import conditions, dataset, formats, reports
from analytics.dataset import Filters
from analytics.importing import read_files, store
from analytics.task_numbers import TaskNumbers
from analytics.task_table import score_table, task_ids
from tests.analytics.conftest import KEY, NOW, human_run

TASK = "rust_scaffolding/main"
A, B = "model: alpha", "model: beta"


def _under(session, run, condition_by_seq: dict[int, str]) -> None:
    from baselines import checkpoints

    for row in checkpoints.log(session, run.id):
        row.condition = condition_by_seq.get(row.seq, "")
        session.add(row)
    session.flush()


def _numbers(task_id: str) -> TaskNumbers:
    return TaskNumbers(aggregation="best")


def test_labels_split_back():
    assert conditions.label(TASK, "") == TASK
    assert conditions.label(TASK, A) == f"{TASK} [{A}]"
    assert conditions.split(f"{TASK} [{A}]") == (TASK, A)
    assert conditions.split(TASK) == (TASK, "")


def test_two_conditions_are_two_entries_never_pooled(session, expert):
    one = human_run(session, expert.id, environment=TASK, scores=[(600, 0.3, 0.1)])
    _under(session, one, {1: A})
    two = human_run(session, expert.id, environment=TASK, scores=[(600, 0.9, 0.9)])
    _under(session, two, {1: B})
    plain = human_run(session, expert.id, environment="triton_cumsum/main",
                      scores=[(600, 1.0, 0.5)])  # fmt: skip
    session.commit()
    runs, log = dataset.load(session, key=KEY, now=NOW)
    by_id = {r["run_id"]: r for r in runs}
    assert by_id[dataset.human_run_id(one.id)]["condition"] == A
    assert by_id[dataset.human_run_id(two.id)]["condition"] == B
    assert by_id[dataset.human_run_id(plain.id)]["condition"] is None
    assert {e["condition"] for e in log} == {A, B, None}
    assert task_ids(runs) == [f"{TASK} [{A}]", f"{TASK} [{B}]", "triton_cumsum/main"]
    rows = reports.summary_rows(session, key=KEY, now=NOW, numbers=_numbers)
    summary = {r.task_id: (r.runs, r.mean) for r in rows}
    assert summary == {
        f"{TASK} [{A}]": (1, 0.1),
        f"{TASK} [{B}]": (1, 0.9),
        "triton_cumsum/main": (1, 0.5),
    }
    # One entry's table holds its own runs only; the bare task holds neither model's.
    table = reports.task_table(session, key=KEY, now=NOW, task_id=f"{TASK} [{A}]")
    assert table.runs == 1 and list(table.row_value) == [0.1]
    assert reports.task_table(session, key=KEY, now=NOW, task_id=TASK).runs == 0
    counts = reports.count_rows(session, key=KEY, now=NOW, task_id=f"{TASK} [{B}]")
    assert sum(c.runs for c in counts) == 1
    # The dataset files carry the condition; a filter keeps one condition only.
    text = formats.runs_bytes(runs, "csv").decode()
    assert text.splitlines()[0].endswith(",comparable,condition")
    assert f",{A}" in text and f",{B}" in text
    kept = dataset.runs(session, key=KEY, now=NOW, filters=Filters(tasks=(TASK,), condition=B))
    assert [r["run_id"] for r in kept] == [dataset.human_run_id(two.id)]


def test_a_run_never_pools_its_own_scores_under_two_conditions(session, expert):
    run = human_run(session, expert.id, environment=TASK,
                    scores=[(600, 0.9, 0.9), (1200, 0.2, 0.2)])  # fmt: skip
    _under(session, run, {1: A, 2: B})
    session.commit()
    runs, log = dataset.load(session, key=KEY, now=NOW)
    assert runs[0]["condition"] == B  # the last valid score's
    table = score_table(runs, log, f"{TASK} [{B}]")
    assert list(table.row_value) == [0.2]  # model alpha's 0.9 is not this run's to count
    assert score_table(runs, log, f"{TASK} [{A}]").runs == 0


def test_imported_agent_runs_may_carry_a_condition(session, tmp_path):
    (tmp_path / "runs.csv").write_text(
        "run_id,task_id,agent,final_score,condition\n"
        f"r1,{TASK},agent-x,0.5,{A}\n"
        f"r2,{TASK},agent-x,0.7,\n"
    )
    (tmp_path / "log.csv").write_text("run_id,elapsed_s,score,condition\nr1,60,0.5,\nr2,60,0.7,\n")
    batch = read_files(tmp_path / "runs.csv", tmp_path / "log.csv")
    store(session, batch, NOW)
    session.commit()
    runs, log = dataset.load(session, key=KEY, now=NOW, filters=Filters(agents=("agent-x",)))
    assert {r["run_id"]: r["condition"] for r in runs} == {"r1": A, "r2": None}
    assert {e["run_id"]: e["condition"] for e in log} == {"r1": A, "r2": None}
    assert task_ids(runs) == [TASK, f"{TASK} [{A}]"]
