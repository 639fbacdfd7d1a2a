"""Which files of a family go into a workspace, and how many GPUs its task asks for.

METR families keep what the agent gets in ``assets/``; without it the family folder itself is
used, less the family module, the manifest and anything named like a reference solution (those
must never reach an expert).
"""

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from baselines.errors import DomainError
from environments.catalogue import Catalogue, Family
from environments.manifest import TaskSpec

PRIVATE = ("manifest.yaml", "reference", "solution", "__pycache__", "tests")


@dataclass(frozen=True)
class TaskRef:
    family: Family
    task: TaskSpec

    @property
    def name(self) -> str:
        return f"{self.family.name}/{self.task.name}"

    @property
    def gpu_count(self) -> int:
        return self.task.gpu_count[0] if self.task.gpu_count else 0


def find(catalogue: Catalogue, name: str) -> TaskRef:
    family_name, _, task_name = name.partition("/")
    for family in catalogue.families:
        if family.name == family_name:
            for task in family.tasks:
                if task.name == task_name:
                    return TaskRef(family, task)
    raise DomainError(f"No environment named {name!r} is on disk.", field="environment")


def stage(ref: TaskRef) -> Path:
    """A temporary folder holding exactly the files to copy; the caller deletes it."""
    source = ref.family.path / "assets"
    target = Path(tempfile.mkdtemp(prefix="baseliner-files-"))
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
        return target
    skip = {f"{ref.family.name}.py"}
    for item in ref.family.path.iterdir():
        if item.name in skip or item.name.startswith(PRIVATE) or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, target / item.name)
        else:
            shutil.copy2(item, target / item.name)
    return target
