"""The GPU host's sshd dies while a checkpoint is being scored: the scoring is not lost and not
counted as work; the checkpoint goes back to the queue saying it waits for the host, and once
sshd is back it is scored, once, from the same snapshot.

The host is a real sshd on loopback of its own (the suite's shared one must stay up), killed
with every connection it holds, then started again on the same port with the same host key.
The worker is driven by hand (``run_once``), and the retry's backoff is skipped by moving the
checkpoint's ``not_before`` to now, as if the 30 s had passed.
"""

import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from baselines import run_tokens
from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.users import Role
from fleet.testing_sshd import start_sshd
from tests.hosts import ready_host
from tests.live_runs import started_run
from timetracking import pauses
from timetracking.pauses import PauseReason
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")


@pytest.fixture
def own_sshd(tmp_path):
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()


def _row(engine, checkpoint_id: int) -> Checkpoint:
    with Session(engine) as s:
        return s.get(Checkpoint, checkpoint_id)


def test_scoring_waits_for_a_host_whose_sshd_died_and_scores_once_it_is_back(
    app, engine, make_user, own_sshd
):
    ready_host(engine, "ssh", sshd=own_sshd)
    expert = make_user(Role.expert)
    with started_run(app, engine, expert.id, "probe/main", ready=False) as run:
        solution = Path(run.workspace_path) / "solution.py"
        solution.write_text("import time\ndef answer():\n    time.sleep(3)\n    return 0.5\n")
        with Session(engine) as s:
            token = run_tokens.issue(s, run.id, utcnow())
            s.commit()
        api = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        made = api.post("/api/v1/task/checkpoints", json={})
        assert made.status_code == 202, made.text

        # Scoring starts; the host's sshd dies under it.
        worker = app.state.scoring
        scoring = threading.Thread(target=worker.run_once)
        scoring.start()
        deadline = time.monotonic() + 30
        with Session(engine) as s:
            while True:
                s.expire_all()
                row = s.exec(select(Checkpoint).where(Checkpoint.run_id == run.id)).one()
                if row.status == CheckpointStatus.scoring:
                    break
                assert time.monotonic() < deadline, "scoring did not begin"
                time.sleep(0.1)
            checkpoint_id = row.id
        time.sleep(1)  # inside the scorer's 3 s
        own_sshd.crash()
        scoring.join(120)
        assert not scoring.is_alive()

        waiting = _row(engine, checkpoint_id)
        assert waiting.status == CheckpointStatus.queued, waiting.last_error
        assert waiting.last_error.startswith("waiting for host ssh-host"), waiting.last_error
        assert waiting.attempts == 1 and waiting.score is None
        assert waiting.not_before > utcnow() + timedelta(seconds=20)  # backoff: 30 s
        with Session(engine) as s:  # scoring time is still not work time
            assert pauses.paused_by(s, run.id) == [PauseReason.scoring]
        assert worker.run_once() is False  # not before its time

        own_sshd.restart()
        with Session(engine) as s:
            row = s.get(Checkpoint, checkpoint_id)
            row.not_before = utcnow() - timedelta(seconds=1)  # the 30 s have passed
            s.add(row)
            s.commit()
        assert worker.run_once() is True
        done = _row(engine, checkpoint_id)
        assert (done.status, done.score, done.attempts) == (CheckpointStatus.scored, 0.5, 2)
        assert worker.run_once() is False  # scored once; nothing else queued
        with Session(engine) as s:
            assert pauses.paused_by(s, run.id) == []  # the clock runs again
