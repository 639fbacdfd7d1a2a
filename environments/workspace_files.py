"""Finding a task by the name assignments and runs give it ("family/task"). What goes into a
workspace is the family's own ``start`` (fleet.task_runs)."""

from dataclasses import dataclass

from baselines.errors import DomainError
from environments.catalogue import Catalogue, Family
from environments.manifest import TaskSpec


@dataclass(frozen=True)
class TaskRef:
    family: Family
    task: TaskSpec

    @property
    def name(self) -> str:
        return f"{self.family.name}/{self.task.name}"


def find(catalogue: Catalogue, name: str) -> TaskRef:
    family_name, _, task_name = name.partition("/")
    for family in catalogue.families:
        if family.name == family_name:
            for task in family.tasks:
                if task.name == task_name:
                    return TaskRef(family, task)
    raise DomainError(f"No environment named {name!r} is on disk.", field="environment")
