"""One process at a time holds a background-job lease: renewed while held, taken over when it
expires, at once when its holder's process is gone from this machine."""

import subprocess
import threading
from datetime import UTC, datetime, timedelta

from webapp import job_lease
from webapp.job_lease import LeaseKeeper

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


def test_one_holder_until_it_expires(engine):
    assert job_lease.take(engine, "scoring", "a:1:x", T0, TTL)
    assert job_lease.take(engine, "scoring", "a:1:x", T0 + timedelta(seconds=10), TTL)  # renew
    assert not job_lease.take(engine, "scoring", "b:2:y", T0 + timedelta(seconds=20), TTL)
    assert job_lease.take(engine, "scoring", "b:2:y", T0 + timedelta(seconds=41), TTL)
    assert not job_lease.take(engine, "scoring", "a:1:x", T0 + timedelta(seconds=42), TTL)


def test_a_holder_whose_process_is_gone_from_this_machine_loses_it_at_once(engine):
    gone = subprocess.Popen(["true"])
    gone.wait()
    host = job_lease.new_holder().split(":")[0]
    assert job_lease.take(engine, "scoring", f"{host}:{gone.pid}:old", T0, TTL)
    assert job_lease.take(engine, "scoring", job_lease.new_holder(), T0 + timedelta(seconds=1), TTL)


def test_many_at_once_make_one_holder(engine):
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def contend(i: int) -> None:
        barrier.wait()
        if job_lease.take(engine, "scoring", f"elsewhere:{i}:z", T0, TTL):
            winners.append(str(i))

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_keepers_hand_over_when_one_closes(engine):
    clock = [T0]
    taken: list[str] = []
    first = LeaseKeeper(engine, "scoring", lambda: clock[0], TTL, lambda: taken.append("first"))
    second = LeaseKeeper(engine, "scoring", lambda: clock[0], TTL, lambda: taken.append("second"))
    assert first.try_once() and not second.try_once()
    assert first.try_once() and taken == ["first"]  # renewing is not taking again
    first.close()  # lets go at once
    assert second.try_once() and taken == ["first", "second"]
    assert second.held.is_set() and not first.held.is_set()
