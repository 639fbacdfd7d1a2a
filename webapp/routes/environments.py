"""Coordinator pages for environments: every task with its numbers and whether it is ready for
baselines, and one task's page, where a coordinator supplies the numbers its manifest leaves out
(a METR family says nothing of y_s, y_r or which way is better).

Mounted under ``/coordinator`` by webapp.routes.coordinator.
"""

import math
from dataclasses import dataclass

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from baselines import audit, condition_scores
from environments import calibrations, family_calls, task_settings
from environments.catalogue import Catalogue, Family, discover
from environments.manifest import (
    AGGREGATIONS,
    DIRECTIONS,
    MAX_TIME_LIMIT_S,
    MIN_TIME_LIMIT_S,
    BaselinerMeta,
    TaskSpec,
)
from environments.task_settings import SettingsInvalid
from webapp.auth.sessions import flash
from webapp.deps import CoordinatorUser, NowDep, SessionDep, SettingsDep
from webapp.forms import text_fields
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router(prefix="/environments")
FORM_FIELDS = ("metric", "unit", "direction", "y_s", "y_r", "time_limit_hours", "aggregation")


@dataclass(frozen=True)
class Row:
    """One task as the list pages show it: its manifest and the numbers in force."""

    family: Family
    task: TaskSpec
    meta: BaselinerMeta

    @property
    def status(self) -> str:
        return task_settings.status(self.meta)

    @property
    def ready(self) -> bool:
        return task_settings.is_ready(self.meta)


def rows(session: Session, catalogue: Catalogue) -> list[Row]:
    """Every task with its effective numbers (the manifest's, filled in by the portal's)."""
    saved = task_settings.all_saved(session)
    return [
        Row(family, task, task_settings.merge(task.meta, saved.get(f"{family.name}/{task.name}")))
        for family, task in catalogue.tasks()
    ]


@router.get("")
def list_environments(
    request: Request, user: CoordinatorUser, session: SessionDep, settings: SettingsDep
):
    catalogue = discover(settings.environment_dirs)
    context = {"catalogue": catalogue, "rows": rows(session, catalogue), "links": True}
    return render(request, "environments.html", context)


def _find(settings, family_name: str, task_name: str) -> tuple[Family, TaskSpec]:
    family = discover(settings.environment_dirs).family(family_name)
    task = family.task(task_name) if family is not None else None
    if task is None:
        raise HTTPException(status_code=404, detail="No such environment on disk.")
    return family, task


def _instructions(family: Family, task: TaskSpec) -> tuple[str, str]:
    """The task's instructions, or '' and why they could not be read (shown, never a 500)."""
    try:
        return family_calls.instructions(family.path, task.name), ""
    except family_calls.FamilyCallFailed as exc:
        return "", exc.message + (f"\n\n{exc.output}" if exc.output else "")
    except (OSError, ValueError) as exc:
        return "", f"the task helper could not be run ({exc})"


def _form_values(row: task_settings.TaskSettings | None) -> dict[str, str]:
    if row is None:
        return {}
    values = {
        name: "" if value is None else str(value)
        for name, value in row.values().items()
        if name != "time_limit_s"
    }
    if row.time_limit_s is not None:
        values["time_limit_hours"] = f"{row.time_limit_s / 3600:g}"
    return values


def _page(
    request: Request,
    session: Session,
    family: Family,
    task: TaskSpec,
    status_code: int = 200,
    **extra,
):
    meta = task_settings.effective(session, family, task)
    instructions, instructions_error = _instructions(family, task)
    editable = task_settings.editable(task.meta)
    context = {
        "family": family,
        "task": task,
        "meta": meta,
        "status": task_settings.status(meta),
        "instructions": instructions,
        "instructions_error": instructions_error,
        "editable": editable,
        # The form is there while something is missing, and to change what the portal set.
        "show_form": bool(task_settings.missing(meta) or meta.portal),
        "directions": DIRECTIONS,
        "aggregations": AGGREGATIONS,
        "values": _form_values(task_settings.saved(session, family, task)),
        "errors": {},
        "calibrations": calibrations.listed(session, task_settings.environment(family, task)),
        "conditions_seen": condition_scores.seen(session, task_settings.environment(family, task)),
        "cal_values": {},
        "cal_errors": {},
    }
    context.update(extra)
    return render(request, "coordinator/environment.html", context, status_code=status_code)


@router.get("/{family_name}/{task_name}")
def show_environment(
    request: Request,
    family_name: str,
    task_name: str,
    user: CoordinatorUser,
    session: SessionDep,
    settings: SettingsDep,
):
    family, task = _find(settings, family_name, task_name)
    return _page(request, session, family, task)


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _field_messages(exc: SettingsInvalid) -> dict[str, str]:
    return {
        ("time_limit_hours" if k == "time_limit_s" else k): _sentence(v)
        for k, v in exc.errors.items()
    }


def _parse(form: dict[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    """The form's text as typed values (None for an empty field), or messages per field."""
    values: dict[str, object] = {}
    errors: dict[str, str] = {}
    for name in ("metric", "unit", "direction", "aggregation"):
        values[name] = form[name].strip() or None
    for name in ("y_s", "y_r"):
        text = form[name].strip()
        try:
            values[name] = float(text) if text else None
        except ValueError:
            errors[name] = f"Enter a number, e.g. 1.56 (not {text[:40]!r})."
    hours_text = form["time_limit_hours"].strip()
    values["time_limit_s"] = None
    if hours_text:
        try:
            hours = float(hours_text)
        except ValueError:
            hours = math.nan
        limits = f"between {MIN_TIME_LIMIT_S / 60:g} minute and {MAX_TIME_LIMIT_S // 3600} hours"
        if not math.isfinite(hours):
            errors["time_limit_hours"] = f"Enter the limit in hours, e.g. 8 or 0.5, {limits}."
        elif not MIN_TIME_LIMIT_S <= round(hours * 3600) <= MAX_TIME_LIMIT_S:
            errors["time_limit_hours"] = f"The time limit must be {limits}."
        else:
            values["time_limit_s"] = round(hours * 3600)
    return values, errors


@router.post("/{family_name}/{task_name}")
async def save_environment(
    request: Request,
    family_name: str,
    task_name: str,
    user: CoordinatorUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    family, task = _find(settings, family_name, task_name)
    form = text_fields(await request.form(), *FORM_FIELDS)
    values, errors = _parse(form)
    # What the manifest sets is not the portal's to change (the form does not offer it).
    editable = set(task_settings.editable(task.meta))
    if "time_limit_s" in editable:
        editable.add("time_limit_hours")
    errors = {name: message for name, message in errors.items() if name in editable}
    if errors:  # what the other fields break is said now too, not on the next attempt
        try:
            task_settings.check(task.meta, values)
        except SettingsInvalid as exc:
            errors = {**_field_messages(exc), **errors}
    if not errors:
        try:
            row, before, after = task_settings.save(session, family, task, values, user.id, now)
        except SettingsInvalid as exc:
            session.rollback()
            errors = _field_messages(exc)
    if errors:
        # The page asks the family for its instructions in a subprocess: not on the event loop.
        return await run_in_threadpool(
            _page, request, session, family, task, 400, values=form, errors=errors
        )
    audit.record(
        session,
        actor_id=user.id,
        action="task_settings.set",
        obj=row,
        now=now,
        before=before,
        after={"environment": row.environment, **after},
    )
    session.commit()
    flash(request, f"Saved the numbers for {row.environment}.")
    return RedirectResponse(f"/coordinator/environments/{family.name}/{task.name}", status_code=303)


CAL_FIELDS = {"condition": "cal_condition", "y_s": "cal_y_s", "y_r": "cal_y_r"}


@router.post("/{family_name}/{task_name}/calibrations")
async def save_calibration(
    request: Request,
    family_name: str,
    task_name: str,
    user: CoordinatorUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    """Add or change one scoring condition's y_s and y_r (e.g. another model's); the scores
    already made under it are normalised again in the same transaction."""
    family, task = _find(settings, family_name, task_name)
    form = text_fields(await request.form(), *CAL_FIELDS.values())
    where = task_settings.environment(family, task)
    meta = task_settings.effective(session, family, task)
    try:
        row, before, after = calibrations.save(
            session, where, meta, {name: form[key] for name, key in CAL_FIELDS.items()},
            user.id, now,
        )  # fmt: skip
    except SettingsInvalid as exc:
        session.rollback()
        errors = {CAL_FIELDS[name]: message for name, message in exc.errors.items()}
        return await run_in_threadpool(
            _page, request, session, family, task, 400, cal_values=form, cal_errors=errors
        )
    changed = condition_scores.renormalise(session, where, meta, row.condition)
    audit.record(
        session,
        actor_id=user.id,
        action="calibration.set",
        obj=row,
        now=now,
        before=before,
        after={"environment": where, **after},
    )
    session.commit()
    again = f" ({changed} score(s) normalised again)" if changed else ""
    flash(request, f"Saved y_s and y_r for {row.condition}{again}.")
    return RedirectResponse(f"/coordinator/environments/{family.name}/{task.name}", status_code=303)


@router.post("/{family_name}/{task_name}/calibrations/delete")
async def remove_calibration(
    request: Request,
    family_name: str,
    task_name: str,
    user: CoordinatorUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    """Remove one condition's numbers: its scores become not comparable again."""
    family, task = _find(settings, family_name, task_name)
    form = text_fields(await request.form(), "condition")
    where = task_settings.environment(family, task)
    condition = form["condition"].strip()
    row = calibrations.get(session, where, condition)
    if row is None:
        raise HTTPException(status_code=404, detail=f"No y_s/y_r are saved for {condition!r}.")
    before = calibrations.remove(session, row)
    meta = task_settings.effective(session, family, task)
    condition_scores.renormalise(session, where, meta, condition)
    audit.record(
        session,
        actor_id=user.id,
        action="calibration.remove",
        obj=row,
        now=now,
        before=before,
        after={"environment": where, "removed": condition},
    )
    session.commit()
    flash(request, f"Removed y_s and y_r for {condition}; its scores are not comparable now.")
    return RedirectResponse(f"/coordinator/environments/{family.name}/{task.name}", status_code=303)
