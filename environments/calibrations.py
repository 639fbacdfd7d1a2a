"""y_s and y_r per scoring condition: a coordinator's numbers for conditions the manifest's were
not measured under.

A family may score under a condition of the operator's choosing (rust_scaffolding: the model its
scaffold talks to; later, a judge). The same work scores differently under another model, so the
task's y_s and y_r hold only for the condition they were measured under (the manifest's
``calibrated_for``). Another condition is normalised with its own row here, and without one its
scores are valid but not comparable. Scores under different conditions are never pooled.
"""

import math
from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from environments.manifest import CONDITION_MAX, BaselinerMeta, pair_problem
from environments.task_settings import SettingsInvalid
from timetracking.utc import UTCDateTime


class Calibration(SQLModel, table=True):
    __tablename__ = "calibrations"
    __table_args__ = (UniqueConstraint("environment", "condition", name="uq_calibration"),)

    id: int | None = Field(default=None, primary_key=True)
    environment: str = Field(max_length=200, index=True)  # "<family>/<task>"
    condition: str = Field(max_length=CONDITION_MAX)
    y_s: float
    y_r: float
    updated_by_id: int | None = Field(default=None, foreign_key="users.id")
    updated_at: datetime = Field(sa_type=UTCDateTime)

    def values(self) -> dict[str, Any]:
        return {"condition": self.condition, "y_s": self.y_s, "y_r": self.y_r}


def uses_task_scale(meta: BaselinerMeta | None, condition: str) -> bool:
    """Whether a score under ``condition`` is normalised with the task's own y_s and y_r: no
    condition (every family that reports none), or the one they were measured under."""
    return not condition or (meta is not None and condition == meta.calibrated_for)


def get(session: Session, environment: str, condition: str) -> Calibration | None:
    query = select(Calibration).where(
        Calibration.environment == environment, Calibration.condition == condition
    )
    return session.exec(query).first()


def listed(session: Session, environment: str) -> list[Calibration]:
    query = (
        select(Calibration)
        .where(Calibration.environment == environment)
        .order_by(Calibration.condition)
    )
    return list(session.exec(query))


def scale(
    session: Session, environment: str, meta: BaselinerMeta | None, condition: str
) -> tuple[float | None, float | None] | None:
    """(y_s, y_r) for a score of ``environment`` under ``condition``; None when the condition
    has no calibration (the score is then valid but not comparable)."""
    if uses_task_scale(meta, condition):
        return (meta.y_s, meta.y_r) if meta is not None else (None, None)
    row = get(session, environment, condition)
    return (row.y_s, row.y_r) if row is not None else None


def not_comparable_reason(condition: str) -> str:
    return f"not comparable: no y_s/y_r for {condition}"


def _number(text: Any, errors: dict[str, str], name: str) -> float | None:
    text = "" if text is None else str(text).strip()
    if not text:
        errors[name] = "Required: a number, e.g. 0.42."
        return None
    try:
        value = float(text)
    except ValueError:
        errors[name] = f"Enter a number, e.g. 0.42 (not {text[:40]!r})."
        return None
    if not math.isfinite(value):
        errors[name] = "Enter a finite number, e.g. 0.42."
        return None
    return value


def check(meta: BaselinerMeta | None, form: dict[str, Any]) -> tuple[str, float, float]:
    """The form's condition, y_s and y_r checked; raises SettingsInvalid with a message per
    field at fault."""
    errors: dict[str, str] = {}
    condition = " ".join(str(form.get("condition") or "").split())
    if not condition:
        errors["condition"] = 'Required: the condition as scores report it, e.g. "model: gpt-4o".'
    elif len(condition) > CONDITION_MAX:
        errors["condition"] = f"Use at most {CONDITION_MAX} characters."
    elif uses_task_scale(meta, condition):
        errors["condition"] = (
            "The task's own y_s and y_r hold for this condition (the manifest's calibrated_for);"
            " change them in manifest.yaml."
        )
    y_s = _number(form.get("y_s"), errors, "y_s")
    y_r = _number(form.get("y_r"), errors, "y_r")
    if y_s is not None and y_r is not None:
        problem = pair_problem(y_s, y_r, meta.direction if meta else None)
        if problem:
            errors["y_r"] = problem[:1].upper() + problem[1:].rstrip(".") + "."
    if errors:
        raise SettingsInvalid(errors)
    return condition, y_s, y_r  # type: ignore[return-value]


def save(
    session: Session,
    environment: str,
    meta: BaselinerMeta | None,
    form: dict[str, Any],
    actor_id: int | None,
    now: datetime,
) -> tuple[Calibration, dict[str, Any] | None, dict[str, Any]]:
    """Check and store one condition's numbers (added, or changed if the condition has some)
    in the caller's transaction; returns the row and its values before and after, for the
    caller's audit record."""
    condition, y_s, y_r = check(meta, form)
    row = get(session, environment, condition)
    before = row.values() if row is not None else None
    if row is None:
        row = Calibration(environment=environment, condition=condition, y_s=y_s, y_r=y_r,
                          updated_at=now)  # fmt: skip
    row.y_s, row.y_r = y_s, y_r
    row.updated_by_id, row.updated_at = actor_id, now
    session.add(row)
    session.flush()
    return row, before, row.values()


def remove(session: Session, row: Calibration) -> dict[str, Any]:
    """Delete one condition's numbers (a row from ``get``); their values, for the audit."""
    before = row.values()
    session.delete(row)
    session.flush()
    return before
