"""The expert's own runs for the dashboard: every run, live, ended or failed, with its status in
the expert's words, its working time and its scores where the task shows scores to the expert
(tasks like scaling_law keep them hidden until review)."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from baselines import checkpointing, checkpoints, run_notices
from baselines.errors import DomainError
from baselines.runs import Run
from timetracking import clock
from webapp.settings import Settings

SHOWN = 50  # an expert has a handful; past this the oldest are left off (and counted)


@dataclass(frozen=True)
class RunRow:
    run: Run
    working_s: float
    checkpoints: int
    scores_shown: bool
    best: float | None  # best valid score by the task's direction (comparable ones first)
    last: float | None  # the latest valid score
    note: str  # the run's state in the expert's words (run_notices), '' when nothing to say


def _visible(session: Session, settings: Settings, run: Run, cache: dict) -> tuple[bool, str]:
    """Whether the run's task shows scores to the expert, and its direction; a task no longer
    on the platform shows none (its rules cannot be read)."""
    if run.environment not in cache:
        try:
            task = checkpointing.run_task(session, settings, run)
            found = (task.ref.task.scoring.visible_to_agent, task.meta.direction)
        except DomainError:
            found = (False, None)
        cache[run.environment] = found
    return cache[run.environment]


def for_expert(
    session: Session, settings: Settings, expert_id: int, now: datetime
) -> tuple[list[RunRow], int]:
    """The expert's latest runs, newest first, and how many older ones were left off."""
    query = select(Run).where(Run.expert_id == expert_id).order_by(Run.id.desc())
    runs = list(session.exec(query))
    cache: dict = {}
    rows = []
    for run in runs[:SHOWN]:
        shown, direction = _visible(session, settings, run, cache)
        log = checkpoints.log(session, run.id)
        valid = [c for c in log if c.valid and c.score is not None]
        best = checkpoints.final_score(log, "best", direction) if shown else None
        last = valid[-1].score if shown and valid else None
        notice = run_notices.for_expert(run)
        rows.append(
            RunRow(
                run=run,
                working_s=clock.read(session, run, now).working_s if run.started_at else 0.0,
                checkpoints=len(log),
                scores_shown=shown,
                best=best,
                last=last,
                note=notice.what if notice else "",
            )
        )
    return rows, max(0, len(runs) - SHOWN)
