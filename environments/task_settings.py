"""Numbers a coordinator supplies in the portal for a task whose manifest leaves them out.

A METR family says nothing about y_s, y_r or which way is better, and whoever runs baselines
often learns those numbers only after a calibration run. They are saved here, per task, and fill
what the manifest leaves unset; where the manifest sets a value, the manifest wins (it travels
with the files, and a run must score the way its files say).
"""

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlmodel import Field, Session, SQLModel, select

from environments.catalogue import Family
from environments.manifest import CHECKS, BaselinerMeta, TaskSpec, pair_problem
from timetracking.utc import UTCDateTime

# What the portal may set, in the order its form shows them.
FIELDS = ("metric", "unit", "direction", "y_s", "y_r", "time_limit_s", "aggregation")
# Without these a score cannot be normalised or read, so a task is not ready for baselines.
REQUIRED = ("y_s", "y_r", "direction", "metric")
TEXT_LIMITS = {"metric": 200, "unit": 80}


class TaskSettings(SQLModel, table=True):
    __tablename__ = "task_settings"

    id: int | None = Field(default=None, primary_key=True)
    # "<family>/<task>" as the catalogue names it.
    environment: str = Field(max_length=200, unique=True, index=True)
    # None everywhere means "not set here": the manifest's value, or the default, applies.
    metric: str | None = Field(default=None, max_length=200)
    unit: str | None = Field(default=None, max_length=80)
    direction: str | None = Field(default=None, max_length=8)
    y_s: float | None = None
    y_r: float | None = None
    time_limit_s: int | None = None
    aggregation: str | None = Field(default=None, max_length=16)
    updated_by_id: int | None = Field(default=None, foreign_key="users.id")
    updated_at: datetime = Field(sa_type=UTCDateTime)

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


class SettingsInvalid(ValueError):
    """Input the portal cannot save; ``errors`` holds one message per field at fault."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def environment(family: Family | str, task: TaskSpec | str) -> str:
    family_name = family if isinstance(family, str) else family.name
    task_name = task if isinstance(task, str) else task.name
    return f"{family_name}/{task_name}"


def saved(session: Session, family: Family | str, task: TaskSpec | str) -> TaskSettings | None:
    query = select(TaskSettings).where(TaskSettings.environment == environment(family, task))
    return session.exec(query).first()


def all_saved(session: Session) -> dict[str, TaskSettings]:
    """Every task's saved numbers by environment, for pages that list every task."""
    return {row.environment: row for row in session.exec(select(TaskSettings))}


def merge(
    meta: BaselinerMeta | None, saved_values: TaskSettings | dict[str, Any] | None
) -> BaselinerMeta:
    """The manifest's values, with the saved ones filling what the manifest leaves unset."""
    meta = meta or BaselinerMeta()
    if saved_values is None:
        return meta
    if isinstance(saved_values, TaskSettings):
        saved_values = saved_values.values()
    filled = {
        name: value
        for name, value in saved_values.items()
        if name in FIELDS and value is not None and name not in meta.given
    }
    return replace(meta, **filled, portal=frozenset(filled))


def effective(session: Session, family: Family, task: TaskSpec) -> BaselinerMeta:
    """The numbers a run of this task is scored and normalised with."""
    return merge(task.meta, saved(session, family, task))


def missing(meta: BaselinerMeta | None) -> list[str]:
    """Which of y_s, y_r, direction and metric are unset."""
    return [name for name in REQUIRED if meta is None or getattr(meta, name) is None]


def is_ready(meta: BaselinerMeta | None) -> bool:
    return not missing(meta)


def status(meta: BaselinerMeta | None) -> str:
    """'ready', or 'needs: ' and what is missing."""
    gaps = missing(meta)
    return "ready" if not gaps else "needs: " + ", ".join(gaps)


def editable(meta: BaselinerMeta | None) -> list[str]:
    """The fields the portal may set: those the manifest leaves unset."""
    given = meta.given if meta is not None else frozenset()
    return [name for name in FIELDS if name not in given]


def check(manifest_meta: BaselinerMeta | None, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (field -> value, None to unset) checked as the manifest's would be, and
    together with what the manifest sets; the fields the manifest sets are dropped (it wins).
    Raises SettingsInvalid naming each field at fault."""
    allowed = editable(manifest_meta)
    values = {name: values.get(name) for name in allowed}
    errors: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if name in TEXT_LIMITS:
            if not isinstance(value, str) or not value.strip():
                errors[name] = "must be text, or left empty"
            elif len(value) > TEXT_LIMITS[name]:
                errors[name] = f"must be at most {TEXT_LIMITS[name]} characters"
            continue
        try:
            values[name] = CHECKS[name](value)
        except ValueError as exc:
            errors[name] = str(exc)
    if not errors:
        merged = merge(manifest_meta, values)
        problem = pair_problem(merged.y_s, merged.y_r, merged.direction)
        if problem:
            errors["y_r" if "y_r" in allowed else "y_s"] = problem
    if errors:
        raise SettingsInvalid(errors)
    return values


def save(
    session: Session,
    family: Family,
    task: TaskSpec,
    values: dict[str, Any],
    actor_id: int | None,
    now: datetime,
) -> tuple[TaskSettings, dict[str, Any] | None, dict[str, Any]]:
    """Check and store the numbers for one task in the caller's transaction. Returns the row
    and its values before and after, for the caller's audit record (webapp audits every save)."""
    values = check(task.meta, values)
    row = saved(session, family, task)
    before = row.values() if row is not None else None
    if row is None:
        row = TaskSettings(environment=environment(family, task), updated_at=now)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_by_id, row.updated_at = actor_id, now
    session.add(row)
    session.flush()
    return row, before, row.values()
