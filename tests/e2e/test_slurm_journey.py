"""The Slurm backend in the browser: a coordinator registers a cluster on the hosts page (a bad
partition is said next to its field), an expert presses Start while someone else's job holds the
cluster's GPU and is told the workspace waits for the cluster, with Slurm's reason and no clock;
once the GPU frees, the IDE opens, ``task score`` in its terminal is scored inside the run's own
job, and Stop leaves no job in ``squeue``.

The cluster is the real one-node Slurm of tests/slurm.py (one GPU) on this machine."""

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from baselines.checkpoints import Checkpoint
from baselines.runs import Run, RunStatus
from baselines.users import Role
from fleet.hosts import Host
from tests.assigned import approve_and_assign
from tests.browser import run_in_terminal, sign_in
from tests.slurm import SlurmCluster, installed, slurm_cluster
from tests.slurm_host import SLURM_FAMILIES, cancel_all, hold_gpus, queued, work_root

pytestmark = pytest.mark.skipif(
    not installed() or os.geteuid() != 0,
    reason="needs Debian's slurm-wlm and munge (make install) and root",
)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SlurmCluster]:
    with slurm_cluster(tmp_path / "slurm", gpus=1) as cluster:
        yield cluster
        cancel_all(cluster)


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    with work_root() as root:
        yield root


@pytest.fixture
def settings(settings):
    settings.environment_dirs = str(SLURM_FAMILIES)
    settings.scoring_worker = True
    return settings


def _until_active(app, engine, run_id: int, timeout: float = 60) -> Run:
    """The scheduler's pending-workspaces round, as often as it would run, until the run moves."""
    deadline = time.monotonic() + timeout
    while True:
        app.state.scheduler.pending()
        app.state.workspaces.wait(run_id, timeout=120)
        with Session(engine) as s:
            run = s.get(Run, run_id)
        if run.status != RunStatus.pending or time.monotonic() > deadline:
            return run
        time.sleep(0.5)


def test_a_run_on_a_slurm_cluster(
    app, engine, make_user, cluster, shared_folder, live_server, page, new_page, shot
) -> None:
    coordinator = make_user(Role.coordinator, name="Cora Coordinator")
    expert = make_user(Role.expert, name="Sam Slurm", email="sam@example.org")

    # The coordinator registers the cluster: the backend's own fields, checked.
    staff = new_page()
    sign_in(staff, coordinator.email)
    staff.goto("/coordinator/hosts")
    form = staff.locator("#add-host")
    form.get_by_label("Name").fill("cluster")
    form.get_by_label("Connection").select_option("local")
    form.get_by_label("Backend").select_option("slurm")
    form.get_by_label("Slurm partition (slurm)").fill("no such")
    form.get_by_label("Task folders on the cluster (slurm)").fill(str(shared_folder))
    form.get_by_label("slurm.conf path (slurm)").fill(str(cluster.conf))
    form.get_by_role("button", name="Add host").click()
    expect(staff.locator("#partition-error")).to_contain_text("Letters, digits")
    shot("coordinator-bad-partition", on=staff)
    staff.locator("#add-host").get_by_label("Slurm partition (slurm)").fill("")
    staff.locator("#add-host").get_by_role("button", name="Add host").click()
    row = staff.locator("table tbody tr", has_text="cluster")
    expect(row).to_contain_text("slurm")
    expect(row).to_contain_text("ready")
    expect(row).to_contain_text("GPU scheduled by Slurm")
    shot("coordinator-cluster-registered", on=staff)

    approve_and_assign(engine, expert, coordinator, "slurm_probe/main", 3600)
    with Session(engine) as s:
        assert s.exec(select(Host)).one().backend == "slurm"

    # Someone else's job holds the cluster's only GPU: the expert's Start waits in the queue.
    holder = hold_gpus(cluster)
    sign_in(page, expert.email)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#run-status")).to_have_text("pending", timeout=60_000)
    notice = page.locator("#pending-notice")
    expect(notice).to_contain_text("Waiting for the cluster", timeout=30_000)
    expect(notice).to_contain_text("Slurm says: Resources", timeout=30_000)
    expect(notice).to_contain_text("clock has not started")
    expect(page.locator("#open-ide")).to_have_count(0)
    run_id = int(re.search(r"/runs/(\d+)", page.url).group(1))
    with Session(engine) as s:
        job_id = s.get(Run, run_id).runtime_state["job_id"]
    shot("expert-waits-for-the-cluster")

    # The GPU frees; the scheduler's round finds the job running and opens the workspace.
    cluster.run("scancel", str(holder))
    assert _until_active(app, engine, run_id).status == RunStatus.active
    expect(page.locator("#run-status")).to_have_text("active", timeout=30_000)
    with page.context.expect_page() as tab:
        page.locator("#open-ide").click()
    ide = tab.value
    ide.wait_for_selector(".monaco-workbench", timeout=60_000)
    expect(ide.locator(".explorer-folders-view")).to_contain_text("answer.txt", timeout=30_000)
    ide.keyboard.press("Control+Backquote")
    ide.wait_for_selector(".xterm", timeout=20_000)
    terminal = ide.locator(".xterm-rows").first
    run_in_terminal(ide, "echo 42 > answer.txt && task score")
    expect(terminal).to_contain_text("Checkpoint 1", timeout=30_000)
    expect(terminal).to_contain_text("Checkpoint 1: ", timeout=120_000)
    expect(terminal).to_contain_text("Working time at submission", timeout=10_000)
    time.sleep(0.5)
    shot("task-score-in-the-job", on=ide)
    with Session(engine) as s:
        checkpoint = s.exec(select(Checkpoint).where(Checkpoint.run_id == run_id)).one()
        assert checkpoint.score == 1.0
        assert checkpoint.details["slurm_job_id"] == job_id  # scored inside the run's own job

    page.bring_to_front()
    page.goto(f"/runs/{run_id}")
    expect(page.locator("#checkpoints tbody tr").first).to_contain_text("scored")
    shot("expert-run-page-scored")

    # Stop: archived, the job gone from the cluster.
    page.get_by_role("button", name="Stop workspace").click()
    page.get_by_role("button", name="Stop for good").click()
    app.state.workspaces.wait(run_id, timeout=120)
    expect(page.locator("#run-status")).to_have_text("finished", timeout=60_000)
    assert not any(line.startswith(f"{job_id} ") for line in queued(cluster))
    shot("expert-stopped")
