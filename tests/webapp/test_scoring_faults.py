"""A scorer that could not run is the platform's fault, not the expert's: the checkpoint is
tried again, then recorded as an error naming the reason, and never counted as an invalid
submission (score log, dataset). The fault here is real: the interpreter that runs the task
family lies under a folder closed to workspace users, as a checkout under /root did."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from sqlmodel import Session

from analytics import dataset
from baselines import checkpointing, checkpoints
from baselines.checkpoints import CheckpointStatus
from baselines.runs import Run
from baselines.users import Role
from fleet.hosts import Host
from tests.live_runs import started_run
from timetracking import pauses
from timetracking.pauses import PauseReason
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


@pytest.fixture(params=["closed", "missing"])
def closed_python(request):
    """This interpreter, reached through a folder only root may enter (as ``mktemp -d`` makes
    it; in /var/tmp, since scoring mounts a /tmp of its own)."""
    folder = Path(tempfile.mkdtemp(dir="/var/tmp"))
    (folder / "bin").mkdir()
    python = folder / "bin" / "python"
    if request.param == "closed":
        python.symlink_to(Path(sys.prefix).resolve() / "bin" / "python")
    else:  # nothing there at all: the helper never starts
        folder.chmod(0o755)
    yield python
    shutil.rmtree(folder)


def _row(engine, run_id: int):
    with Session(engine) as s:
        (row,) = checkpoints.log(s, run_id)
        return row


def test_an_unreachable_interpreter_is_an_error_named_not_an_invalid_score(
    app, engine, make_user, closed_python
):
    expert = make_user(Role.expert)
    with started_run(app, engine, expert.id, "triton_cumsum/main") as run:
        with Session(engine) as s:
            host = s.get(Host, run.host_id)
            # As the checkout's .venv was, under /root.
            host.settings = {**host.settings, "python": str(closed_python)}
            s.add(host)
            s.commit()
            checkpointing.submit(
                s, app.state.settings, app.state.workspaces.connections, s.get(Run, run.id),
                source="cli", now=utcnow(),
            )  # fmt: skip
        worker = app.state.scoring
        assert worker.run_once()
        row = _row(engine, run.id)
        # First time: back in the queue, the reason kept; the clock stays paused for scoring.
        assert row.status == CheckpointStatus.queued, row.message
        assert str(closed_python) in row.last_error
        with Session(engine) as s:
            assert pauses.paused_by(s, run.id) == [PauseReason.scoring]
            row.not_before = None
            s.add(row)
            s.commit()
        assert worker.run_once()
        row = _row(engine, run.id)
        assert row.status == CheckpointStatus.error and row.valid is not True
        assert row.attempts == 2
        said = row.message["error"]
        assert said.startswith("the scorer could not run: ")
        if closed_python.is_symlink():
            assert "PermissionError" in said
        else:
            assert "No such file or directory" in said
        assert str(closed_python) in said and "not of the work" in said
        with Session(engine) as s:
            assert pauses.paused_by(s, run.id) == []  # the clock runs again
            log = dataset.score_log(s, key="k", now=utcnow())
            assert log == []  # not an invalid submission in the dataset
