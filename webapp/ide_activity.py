"""Turning IDE traffic into activity rows without a database write per WebSocket frame.

Each browser frame calls ``touch``; at most one write per run every ``every_s`` seconds happens,
off the event loop. Minute resolution is all the clock needs.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine
from sqlmodel import Session

from baselines.runs import Run
from timetracking import activity
from timetracking.utc import utcnow


class ActivityRecorder:
    def __init__(self, engine: Engine, every_s: float = 20.0) -> None:
        self.engine = engine
        self.every_s = every_s
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="activity")

    def touch(self, run_id: int, source: str = "ide") -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(run_id, -1e9) < self.every_s:
                return
            self._last[run_id] = now
        self._pool.submit(self._write, run_id, source)

    def _write(self, run_id: int, source: str) -> None:
        at = utcnow()
        with Session(self.engine) as session:
            activity.record(session, run_id, at, source)
            run = session.get(Run, run_id)
            if run is not None:
                run.last_activity_at = at
                session.add(run)
                session.commit()

    def flush(self) -> None:
        """Wait for pending writes (tests, shutdown)."""
        self._pool.submit(lambda: None).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
