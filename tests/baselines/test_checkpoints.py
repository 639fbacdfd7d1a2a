"""The durable scoring queue: numbered per run, claimed in order one at a time per run, retried
with backoff, resumed after a crash, aggregated into a final score."""

import threading
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from baselines import checkpoints
from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.runs import Run
from baselines.users import Role

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _run(engine, make_user) -> int:
    expert = make_user(Role.expert)
    with Session(engine) as s:
        run = Run(expert_id=expert.id, environment="x/y", created_at=T0, started_at=T0)
        s.add(run)
        s.commit()
        return run.id


def _submit(engine, run_id, minutes=1.0) -> int:
    """Submit one checkpoint; its seq."""
    with Session(engine) as s:
        return checkpoints.submit(
            s, run_id, now=T0 + timedelta(minutes=minutes), working_s=minutes * 60,
            snapshot_sha256="a" * 64, snapshot_bytes=10, source="cli",
        ).seq  # fmt: skip


def test_concurrent_submissions_get_distinct_numbers(engine, make_user):
    run_id = _run(engine, make_user)
    seqs: list[int] = []
    barrier = threading.Barrier(10)

    def go():
        barrier.wait()
        seqs.append(_submit(engine, run_id))

    threads = [threading.Thread(target=go) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seqs) == list(range(1, 11))


def test_claims_in_order_one_at_a_time_per_run(engine, make_user):
    one, two = _run(engine, make_user), _run(engine, make_user)
    for _ in range(2):
        _submit(engine, one)
    _submit(engine, two)
    with Session(engine) as s:
        first = checkpoints.claim(s, T0)
        assert (first.run_id, first.seq, first.status, first.attempts) == (
            one, 1, CheckpointStatus.scoring, 1,
        )  # fmt: skip
        other = checkpoints.claim(s, T0)  # run one is busy: the other run's comes next
        assert (other.run_id, other.seq) == (two, 1)
        assert checkpoints.claim(s, T0) is None
        checkpoints.record_result(
            s, first, status=CheckpointStatus.scored, score=1.5, normalized=0.5, message={},
            details={}, output="", seconds=1.0, comparable=True, now=T0,
        )  # fmt: skip
        s.commit()
        assert (checkpoints.claim(s, T0).run_id, 2) == (one, 2)


def test_a_host_that_cannot_be_reached_is_retried_with_backoff_then_errors(engine, make_user):
    run_id = _run(engine, make_user)
    _submit(engine, run_id)
    with Session(engine) as s:
        now = T0
        for attempt in range(1, checkpoints.MAX_ATTEMPTS + 1):
            row = checkpoints.claim(s, now)
            assert row is not None and row.attempts == attempt
            again = checkpoints.retry_later(s, row, "waiting for host gpu-01: refused", now)
            s.commit()
            if attempt < checkpoints.MAX_ATTEMPTS:
                assert again and row.status == CheckpointStatus.queued
                assert row.not_before == now + timedelta(seconds=30 * 2 ** (attempt - 1))
                assert checkpoints.claim(s, now) is None  # not before its time
                now = row.not_before
        assert row.status == CheckpointStatus.error
        assert "failed 6 times" in row.message["error"]


def test_abandoned_scorings_go_back_to_the_queue(engine, make_user):
    run_id = _run(engine, make_user)
    _submit(engine, run_id)
    with Session(engine) as s:
        row = checkpoints.claim(s, T0)
        assert checkpoints.requeue_abandoned(s, T0 + timedelta(seconds=1), timedelta(0)) == 1
        s.refresh(row)
        assert (row.status, row.attempts) == (CheckpointStatus.queued, 0)


def _scored(seq, score, valid=True, comparable=True) -> Checkpoint:
    return Checkpoint(
        run_id=1, seq=seq, source="cli", submitted_at=T0, working_s=seq, snapshot_sha256="",
        score=score, valid=valid, comparable=comparable,
    )  # fmt: skip


def test_final_score_follows_the_tasks_aggregation_and_direction():
    rows = [_scored(1, 3.0), _scored(2, 1.0), _scored(3, None, valid=False), _scored(4, 2.0)]
    assert checkpoints.final_score(rows, "best", "lower") == 1.0
    assert checkpoints.final_score(rows, "best", "higher") == 3.0
    assert checkpoints.final_score(rows, "last", "higher") == 2.0
    assert checkpoints.final_score(rows, "family", "lower", lambda log: len(log)) == 4
    cpu = [_scored(1, -5.0, comparable=False), _scored(2, 1.0)]
    assert checkpoints.final_score(cpu, "best", "lower") == 1.0  # comparable scores win
    assert checkpoints.final_score([], "best", "lower") is None


def test_notes_need_text(engine, make_user):
    run_id = _run(engine, make_user)
    with Session(engine) as s:
        note = checkpoints.add_note(s, run_id, "  tried tiles of 4096  ", now=T0, working_s=5,
                                    source="cli")  # fmt: skip
        assert note.text == "tried tiles of 4096"
        for text in ("", "   ", "x" * (checkpoints.NOTE_MAX + 1)):
            try:
                checkpoints.add_note(s, run_id, text, now=T0, working_s=5, source="cli")
            except checkpoints.Conflict as exc:
                assert exc.field == "text"
            else:
                raise AssertionError(text)
