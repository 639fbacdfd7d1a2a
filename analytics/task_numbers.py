"""What the analyses need to know about a task: how to normalise its scores and how its runs are
aggregated. Installed tasks answer from their manifest and the portal's saved numbers; tasks that
are not installed here (agent runs from elsewhere) are aggregated by their best score."""

from dataclasses import dataclass

from sqlmodel import Session

from analytics import conditions
from environments import calibrations, task_settings
from environments.catalogue import Catalogue
from environments.normalise import normalise


@dataclass(frozen=True)
class TaskNumbers:
    y_s: float | None = None
    y_r: float | None = None
    aggregation: str = "best"
    installed: bool = False

    def normalise(self, score: float | None) -> float | None:
        return normalise(score, self.y_s, self.y_r)


def lookup(session: Session, catalogue: Catalogue | None, task_id: str) -> TaskNumbers:
    """The numbers for ``task_id`` ("<family>/<task>", or an entry's name with its scoring
    condition, analytics.conditions): under a condition other than the task's own, that
    condition's calibration, and no y_s/y_r without one (its scores are not comparable)."""
    task_id, condition = conditions.split(task_id)
    family_name, _, task_name = task_id.partition("/")
    family = catalogue.family(family_name) if catalogue is not None else None
    task = family.task(task_name) if family is not None else None
    if family is not None and task is not None:
        meta = task_settings.effective(session, family, task)
        installed = True
    else:
        meta = task_settings.merge(None, task_settings.saved(session, family_name, task_name))
        installed = False
    found = calibrations.scale(session, task_id, meta, condition)
    y_s, y_r = found if found is not None else (None, None)
    return TaskNumbers(y_s, y_r, meta.aggregation or "best", installed)
