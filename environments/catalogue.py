"""Which task families are on disk, and what their manifests say, with errors that name the file.

A family is a folder ``<family>/`` holding ``<family>.py`` (METR's ``class TaskFamily``) and
``manifest.yaml``. The catalogue only reads files; importing and running a family is the job of
the code that prepares a host.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BUILTIN_DIR = Path(__file__).resolve().parent


@dataclass
class TaskInfo:
    name: str
    gpu_count: tuple[int, int] | None
    gpu_model: str | None
    cpus: int | None
    memory_gb: float | None
    meta: dict[str, Any]


@dataclass
class Family:
    name: str
    path: Path
    tasks: list[TaskInfo] = field(default_factory=list)


@dataclass
class Catalogue:
    families: list[Family]
    errors: list[str]
    searched: list[Path]


def search_dirs(extra: str) -> list[Path]:
    """The built-in folder, then those in ``extra`` (separated by os.pathsep, as PATH is)."""
    dirs = [BUILTIN_DIR]
    dirs += [Path(part).expanduser() for part in extra.split(os.pathsep) if part.strip()]
    return dirs


def _task(name: str, spec: Any, manifest: Path) -> TaskInfo:
    if not isinstance(spec, dict):
        raise ValueError(f"{manifest}: tasks.{name} must be a mapping")
    resources = spec.get("resources") or {}
    gpu = resources.get("gpu") or {}
    count_range = gpu.get("count_range")
    if count_range is not None and (
        not isinstance(count_range, list)
        or len(count_range) != 2
        or not all(isinstance(n, int) and n >= 0 for n in count_range)
    ):
        raise ValueError(
            f"{manifest}: tasks.{name}.resources.gpu.count_range must be [min, max], e.g. [1, 1]"
        )
    return TaskInfo(
        name=name,
        gpu_count=tuple(count_range) if count_range else None,
        gpu_model=gpu.get("model"),
        cpus=resources.get("cpus"),
        memory_gb=resources.get("memory_gb"),
        meta=spec.get("baseliner") or {},
    )


def load_family(folder: Path) -> Family:
    manifest = folder / "manifest.yaml"
    module = folder / f"{folder.name}.py"
    if not module.is_file():
        raise ValueError(f"{folder}: missing {module.name} (the family's class TaskFamily)")
    try:
        data = yaml.safe_load(manifest.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{manifest}: not valid YAML ({exc.__class__.__name__})") from exc
    tasks = data.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        raise ValueError(f"{manifest}: 'tasks' must map each task name to its settings")
    return Family(
        name=folder.name,
        path=folder,
        tasks=[_task(str(name), spec, manifest) for name, spec in tasks.items()],
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
            try:
                families.append(load_family(folder))
            except ValueError as exc:
                errors.append(str(exc))
    return Catalogue(families=families, errors=errors, searched=dirs)
