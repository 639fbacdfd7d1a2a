"""The demo's sample for the analyst: human runs stored as the portal stores them, agent runs
imported as a file is, labelled on the analyst page, seeded once, and absent from a portal that
``baseliner demo`` never seeded."""

import csv
import io

import pytest
from sqlmodel import Session, select

from analytics import dataset, importing, reports, task_numbers
from analytics.imported import ImportedRun, ImportedScore
from baselines.checkpointing import snapshot_store
from baselines.checkpoints import Checkpoint
from baselines.runs import Run
from baselines.users import Role, get_by_email
from environments.catalogue import discover
from fleet import snapshots
from tests.conftest import login
from timetracking.utc import utcnow
from webapp import demo, demo_sample

TASKS = set(demo_sample.TASKS)


@pytest.fixture
def seeded(engine, settings):
    demo.seed(engine, settings.prefix, settings=settings)
    return settings


def _sample_runs(session: Session) -> list[Run]:
    ids = [get_by_email(session, email).id for email, _, _ in demo_sample.EXPERTS]
    return list(session.exec(select(Run).where(Run.expert_id.in_(ids)).order_by(Run.id)))


def test_human_runs_are_stored_as_the_portal_stores_them(engine, seeded):
    catalogue = discover("")
    with Session(engine) as s:
        runs = _sample_runs(s)
        assert len(runs) == sum(len(who) for who in demo_sample.HUMANS.values()) == 13
        assert {r.environment for r in runs} == TASKS
        for run in runs:
            numbers = task_numbers.lookup(s, catalogue, run.environment)
            assert run.status == "finished" and run.status_reason == demo_sample.REASON
            log = s.exec(select(Checkpoint).where(Checkpoint.run_id == run.id)).all()
            assert len(log) >= 3 and log[-1].final
            times = [c.working_s for c in log]
            assert times == sorted(times) and times[-1] <= run.time_limit_s
            for checkpoint in log:
                path = snapshots.path_for(snapshot_store(seeded), checkpoint.snapshot_sha256)
                assert path.stat().st_size == checkpoint.snapshot_bytes
                if checkpoint.valid:
                    assert checkpoint.score_normalized == pytest.approx(
                        numbers.normalise(checkpoint.score), abs=1e-3
                    )
                else:
                    assert "sample data" in checkpoint.message["error"]


def test_agent_runs_land_as_an_import_does(engine, seeded):
    catalogue = discover("")
    with Session(engine) as s:
        imported = s.exec(select(ImportedRun)).all()
        assert len(imported) == 34
        assert {r.agent for r in imported} == set(demo_sample.AGENTS)
        assert all(r.run_id.startswith(demo_sample.RUN_PREFIX) for r in imported)
        assert {(r.source, r.task_id) for r in imported} == {("csv", t) for t in TASKS}
        for run in imported:
            numbers = task_numbers.lookup(s, catalogue, run.task_id)
            # The file gave raw scores only: the import normalised them with the task's numbers.
            assert run.final_score_normalized == pytest.approx(numbers.normalise(run.final_score))
            assert 5 <= run.cost_usd <= 70
            log = s.exec(select(ImportedScore).where(ImportedScore.run_pk == run.id)).all()
            assert len(log) >= 4
            for entry in log:
                if entry.valid:
                    assert entry.score_normalized == numbers.normalise(entry.score)


def test_every_task_compares_humans_with_both_agents_and_humans_lead_at_8_hours(engine, seeded):
    with Session(engine) as s:
        runs = dataset.runs(s, key="k", now=utcnow())
    for task in TASKS:
        agents = {r["agent"] for r in runs if r["task_id"] == task}
        assert agents == {"human", *demo_sample.AGENTS}, task
    humans = [r for r in runs if r["agent"] == "human"]
    assert all(r["comparable"] and r["cost_usd"] > 100 for r in humans if r["working_s"] > 3600)
    # RE-Bench's picture: at 8 hours humans score higher on average than either agent.
    with Session(engine) as s:
        numbers = importing.cached(lambda t: task_numbers.lookup(s, discover(""), t))
        rows = reports.summary_rows(s, key="k", now=utcnow(), numbers=numbers)
    for task in TASKS:
        means = {r.agent: r.mean for r in rows if r.task_id == task}
        assert means["human"] > max(means[a] for a in demo_sample.AGENTS), (task, means)


def test_seeding_again_adds_nothing(engine, seeded):
    def sizes() -> tuple[int, ...]:
        with Session(engine) as s:
            return tuple(
                len(s.exec(select(table)).all())
                for table in (Run, Checkpoint, ImportedRun, ImportedScore)
            )

    before = sizes()
    demo.seed(engine, seeded.prefix, settings=seeded)
    assert sizes() == before


def test_the_analyst_page_labels_the_sample_and_a_real_portal_has_none(
    client, engine, settings, make_user
):
    login(client, make_user(Role.analyst))
    plain = client.get("/analyst?task=")
    assert plain.status_code == 200 and 'id="sample-data"' not in plain.text
    with Session(engine) as s:
        assert demo_sample.present(s) is None
    demo.seed(engine, settings.prefix, settings=settings)
    first = client.get("/analyst")
    assert first.status_code == 303 and first.headers["location"].endswith("triton_cumsum/main")
    page = client.get(first.headers["location"]).text
    assert 'id="sample-data"' in page and "Sample data seeded by <code>make demo</code>" in page
    assert "13 human runs" in page and "34 imported runs" in page
    runs = list(csv.DictReader(io.StringIO(client.get("/analyst/data/runs.csv").text)))
    assert {r["agent"] for r in runs} == {"human", *demo_sample.AGENTS}


def test_a_coordinator_opens_a_sample_run_its_diff_and_snapshot(client, engine, seeded, make_user):
    login(client, make_user(Role.coordinator))
    with Session(engine) as s:
        run = _sample_runs(s)[0]
    page = client.get(f"/runs/{run.id}")
    assert page.status_code == 200 and "Sample run seeded by" in page.text
    diff = client.get(f"/runs/{run.id}/diff?a=1&b=2")
    assert diff.status_code == 200 and "attempt 2" in diff.text
    tar = client.get(f"/runs/{run.id}/checkpoints/1/snapshot")
    assert tar.status_code == 200 and b"SAMPLE.md" in tar.content
