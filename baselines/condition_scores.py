"""Normalising a score under its scoring condition, and again when a condition is calibrated.

A score under the task's condition (none, or the manifest's ``calibrated_for``) is normalised
with the task's y_s and y_r; under another condition with that condition's calibration
(environments.calibrations); without one it stays valid but unnormalised (not comparable). When
a coordinator adds, changes or removes a condition's numbers, the scores already made under it
are normalised again, so the run pages and the analyses never show a stale scale.
"""

from sqlmodel import Session, select

from baselines import checkpoints
from baselines.checkpoints import Checkpoint
from baselines.runs import Run
from environments import calibrations
from environments.manifest import BaselinerMeta
from environments.normalise import normalise


def normalised(
    session: Session, environment: str, meta: BaselinerMeta | None, condition: str,
    score: float | None,
) -> float | None:  # fmt: skip
    """``score`` on the task's scale for its condition; None where that has no y_s/y_r."""
    found = calibrations.scale(session, environment, meta, condition)
    return None if found is None else normalise(score, *found)


def final_normalized(
    session: Session, run: Run, meta: BaselinerMeta | None, rows: list[Checkpoint]
) -> float | None:
    """The run's final score normalised under its condition (its last valid checkpoint's);
    None when no score under it was comparable (no GPU) or the condition has no y_s/y_r."""
    mine = checkpoints.under_run_condition(rows)
    if not any(r.valid and r.comparable for r in mine):
        return None
    condition = checkpoints.run_condition(rows)
    return normalised(session, run.environment, meta, condition, run.final_score)


def renormalise(
    session: Session, environment: str, meta: BaselinerMeta | None, condition: str
) -> int:
    """Normalise again every score of ``environment`` made under ``condition``, and the final
    score of every run whose condition it is, in the caller's transaction; returns how many
    checkpoints changed."""
    run_ids = list(session.exec(select(Run.id).where(Run.environment == environment)))
    if not run_ids:
        return 0
    query = select(Checkpoint).where(
        Checkpoint.run_id.in_(run_ids), Checkpoint.condition == condition, Checkpoint.valid
    )
    changed = 0
    touched: set[int] = set()
    for row in session.exec(query):
        value = normalised(session, environment, meta, condition, row.score)
        value = value if row.comparable else None
        if value != row.score_normalized:
            row.score_normalized = value
            session.add(row)
            changed += 1
        touched.add(row.run_id)
    for run_id in touched:
        run = session.get(Run, run_id)
        if run.final_score is None:
            continue
        rows = checkpoints.log(session, run_id)
        if checkpoints.run_condition(rows) != condition:
            continue
        run.final_score_normalized = final_normalized(session, run, meta, rows)
        session.add(run)
    session.flush()
    return changed


def seen(session: Session, environment: str) -> list[str]:
    """The conditions this environment's scores have reported so far (none for a family that
    reports none), for the coordinator's page: where there are none and the manifest names none,
    the page has no calibrations to offer."""
    query = (
        select(Checkpoint.condition)
        .join(Run, Run.id == Checkpoint.run_id)
        .where(Run.environment == environment, Checkpoint.condition != "")
        .distinct()
    )
    return sorted(session.exec(query))
