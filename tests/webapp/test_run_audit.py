"""A run's start, stop, end and failure each leave an audit row naming the run, its environment
and its host (issue 17): the expert for what they did, "system" for what the platform did; and
the audit log shows them as readable before and after."""

import os
from pathlib import Path

import pytest
from sqlmodel import Session, select

from baselines.audit import AuditLog
from baselines.runs import Run, RunStatus
from baselines.users import Role
from tests.conftest import login, post_form
from tests.hosts import ready_host
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


def _new_run(engine, expert_id: int) -> int:
    with Session(engine) as s:
        run = Run(expert_id=expert_id, environment="demo/main", created_at=utcnow())
        s.add(run)
        s.commit()
        return run.id


def _entries(engine, run_id: int) -> dict[str, AuditLog]:
    with Session(engine) as s:
        query = select(AuditLog).where(
            AuditLog.object_type == "runs", AuditLog.object_id == str(run_id)
        )
        return {row.action: row for row in s.exec(query.order_by(AuditLog.id))}


@pytest.fixture
def files(tmp_path) -> Path:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "README.md").write_text("# the task\n")
    return folder


def test_start_stop_and_end_are_audited_with_the_environment_and_host(
    app, client, engine, make_user, files
):
    host = ready_host(engine)
    expert = make_user(Role.expert)
    run_id = _new_run(engine, expert.id)
    jobs = app.state.workspaces
    jobs.start(run_id, files=files)
    jobs.wait(run_id, timeout=90)
    with Session(engine) as s:
        assert s.get(Run, run_id).status == RunStatus.active, s.get(Run, run_id).status_reason
    start = _entries(engine, run_id)["run.start"]
    assert start.actor_id == expert.id
    assert start.after == {"environment": "demo/main", "host": host.name, "status": "active"}
    assert start.before == {"status": "provisioning"}

    login(client, expert)
    response = post_form(client, f"/runs/{run_id}/stop", {"confirm": "yes"}, page=f"/runs/{run_id}")
    assert response.status_code == 303
    jobs.wait(run_id, timeout=60)
    entries = _entries(engine, run_id)
    stop, finish = entries["run.stop"], entries["run.finish"]
    assert stop.actor_id == expert.id
    assert (stop.before, stop.after["status"]) == ({"status": "active"}, "stopping")
    assert stop.after["reason"] == "Stopped by the expert."
    assert (stop.after["environment"], stop.after["host"]) == ("demo/main", host.name)
    assert finish.actor_id is None and finish.after["status"] == "finished"
    assert finish.after["host"] == host.name

    # A second Stop of the ended run is refused and audits nothing more.
    again = post_form(client, f"/runs/{run_id}/stop", {"confirm": "yes"}, page=f"/runs/{run_id}")
    assert again.status_code == 409
    with Session(engine) as s:
        assert len(s.exec(select(AuditLog).where(AuditLog.action == "run.stop")).all()) == 1


def test_a_failed_start_is_audited_as_the_system_with_the_reason(app, engine, make_user, tmp_path):
    host = ready_host(engine)
    run_id = _new_run(engine, make_user(Role.expert).id)
    jobs = app.state.workspaces
    jobs.start(run_id, files=tmp_path / "no-such-folder")
    jobs.wait(run_id, timeout=60)
    entries = _entries(engine, run_id)
    assert set(entries) == {"run.fail"}
    fail = entries["run.fail"]
    with Session(engine) as s:
        run = s.get(Run, run_id)
    assert run.status == RunStatus.failed
    assert fail.actor_id is None
    assert fail.before == {"status": "provisioning"}
    assert fail.after["status"] == "failed" and fail.after["reason"] == run.status_reason
    assert (fail.after["environment"], fail.after["host"]) == ("demo/main", host.name)


def test_a_start_with_no_host_is_audited_without_one(app, engine, make_user, files):
    run_id = _new_run(engine, make_user(Role.expert).id)  # no host registered at all
    app.state.workspaces.start(run_id, files=files)
    app.state.workspaces.wait(run_id, timeout=30)
    fail = _entries(engine, run_id)["run.fail"]
    assert fail.after["host"] is None and "No ready host" in fail.after["reason"]
