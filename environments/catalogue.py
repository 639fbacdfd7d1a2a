"""Which task families are on disk, and what their manifests say, with errors that name the file.

A family is a folder ``<family>/`` holding ``<family>.py`` (METR's ``class TaskFamily``) and
``manifest.yaml``. The catalogue only reads files; importing and running a family is the job of
the code that prepares a host (and of environments.family_calls, in a process of its own).
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

from environments import manifest
from environments.manifest import ManifestError, TaskSpec
from environments.versions import folder_version

BUILTIN_DIR = Path(__file__).resolve().parent

# The name callers used before manifests were typed; a task is a TaskSpec.
TaskInfo = TaskSpec


@dataclass
class Family:
    name: str
    path: Path
    tasks: list[TaskSpec] = field(default_factory=list)
    # A hash of the family's files (environments.versions), recorded on runs and assignments.
    version: str = ""

    def task(self, name: str) -> TaskSpec | None:
        return next((t for t in self.tasks if t.name == name), None)


@dataclass
class Catalogue:
    families: list[Family]
    errors: list[str]
    searched: list[Path]

    def family(self, name: str) -> Family | None:
        return next((f for f in self.families if f.name == name), None)

    def tasks(self) -> list[tuple[Family, TaskSpec]]:
        return [(f, t) for f in self.families for t in f.tasks]


def search_dirs(extra: str) -> list[Path]:
    """The built-in folder, then those in ``extra`` (separated by os.pathsep, as PATH is)."""
    dirs = [BUILTIN_DIR]
    dirs += [Path(part).expanduser() for part in extra.split(os.pathsep) if part.strip()]
    return dirs


def load_family(folder: Path) -> Family:
    module = folder / f"{folder.name}.py"
    if not module.is_file():
        raise ManifestError(
            folder, "", f"missing {module.name} (the family's class TaskFamily); add it"
        )
    return Family(
        name=folder.name,
        path=folder,
        tasks=manifest.read(folder),
        version=folder_version(folder),
    )


def discover(extra_dirs: str = "") -> Catalogue:
    families: list[Family] = []
    errors: list[str] = []
    dirs = search_dirs(extra_dirs)
    for base in dirs:
        if not base.is_dir():
            errors.append(f"{base}: listed in BASELINER_ENVIRONMENT_DIRS but not a folder")
            continue
        for folder in sorted(p for p in base.iterdir() if (p / "manifest.yaml").is_file()):
            first = next((f for f in families if f.name == folder.name), None)
            if first is not None:
                errors.append(
                    f"{folder}: a family named {folder.name} is already in {first.path.parent}"
                    " (the first one found is used); rename one of them"
                )
                continue
            try:
                families.append(load_family(folder))
            except (ValueError, OSError) as exc:
                errors.append(str(exc))
    return Catalogue(families=families, errors=errors, searched=dirs)
