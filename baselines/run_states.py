"""Which states a run may move between, and the one function that moves it.

Nothing else writes ``Run.status``: a start, a scheduler's queue, a Stop, a failure and an end
all come through :func:`move`, which refuses a move the table does not allow, keeps the run's
times (``started_at`` when it becomes active, ``finished_at`` when it ends) and records the
audit row of that move in the caller's transaction.

A ``pending`` run waits on a scheduler (a Slurm job without its GPUs yet): it is live (it holds
its place and can be stopped) but has no ``started_at``, so its clock has not begun.
"""

from datetime import datetime

from sqlmodel import Session

from baselines import run_audit
from baselines.errors import Conflict
from baselines.runs import ENDED, Run, RunStatus

S = RunStatus
MOVES: dict[RunStatus, frozenset[RunStatus]] = {
    S.provisioning: frozenset({S.pending, S.active, S.stopping, S.failed}),
    S.pending: frozenset({S.active, S.stopping, S.finished, S.failed}),
    # active -> finished: a stop the platform makes itself, without a request first.
    S.active: frozenset({S.stopping, S.finished, S.failed}),
    S.stopping: frozenset({S.finished, S.failed}),
    S.finished: frozenset(),
    S.failed: frozenset(),
}
# The audit action each arrival records. A move to ``stopping`` records none: the person's
# Stop is audited when asked (baselines.run_lifecycle.stop), which may be before the move.
AUDITED = {S.active: "run.start", S.finished: "run.finish", S.failed: "run.fail"}


class IllegalMove(Conflict):
    """The run is not in a state that allows this move (a Stop of an ended run)."""


def allowed(was: RunStatus, to: RunStatus) -> bool:
    return RunStatus(to) in MOVES[RunStatus(was)]


def refusal(was: RunStatus, to: RunStatus) -> str:
    """Why a move is refused, in words a person can act on."""
    if to == S.stopping or was in ENDED:
        return f"This run is already {was}."
    return f"A run that is {was} cannot become {to}."


def move(
    session: Session,
    run: Run,
    to: RunStatus,
    *,
    reason: str = "",
    now: datetime,
    actor_id: int | None = None,
) -> None:
    """Move ``run`` to ``to`` with ``reason`` as its status reason (the caller commits);
    IllegalMove when the table does not allow it. ``actor_id``: the person, None for the
    system."""
    was = RunStatus(run.status)
    if not allowed(was, to):
        raise IllegalMove(refusal(was, to))
    run.status = RunStatus(to)
    run.status_reason = reason
    if to == S.active:
        run.started_at = run.started_at or now
    if to in ENDED:
        run.finished_at = now
    session.add(run)
    action = AUDITED.get(RunStatus(to))
    if action is not None:
        after = {"status": str(to)}
        if to in ENDED:
            after["reason"] = reason
        run_audit.record(session, run, action, actor_id, now, before={"status": str(was)},
                         after=after)  # fmt: skip
