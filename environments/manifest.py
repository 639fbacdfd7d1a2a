"""One family's ``manifest.yaml``, checked and typed: METR's task fields and our ``baseliner:`` key.

METR's keys are read where Baseliner uses them and any other METR key is left alone, so a family
written for Vivaria loads unchanged. The ``baseliner:`` key is ours: a key there we do not know is
a typo, and a typo must not pass silently. Every error names the file, the field and the fix, so
whoever wrote the manifest can correct it without reading this code.
"""

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

DIRECTIONS = ("higher", "lower")
AGGREGATIONS = ("best", "last", "family")
DEFAULT_TIME_LIMIT_S = 8 * 3600
MIN_TIME_LIMIT_S = 60
MAX_TIME_LIMIT_S = 7 * 86400
CONDITION_MAX = 200  # a scoring condition, e.g. "model: <name>"
TASK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class ManifestError(ValueError):
    """A manifest that cannot be used as written; the message says where and how to fix it."""

    def __init__(self, file: Path | str, field_path: str, problem: str) -> None:
        self.file = str(file)
        self.field = field_path
        self.problem = problem
        where = f"{file}: {field_path}: " if field_path else f"{file}: "
        super().__init__(where + problem)


@dataclass(frozen=True)
class Resources:
    gpu_count: tuple[int, int] | None = None
    gpu_model: str | None = None
    cpus: int | None = None
    memory_gb: float | None = None
    storage_gb: float | None = None


@dataclass(frozen=True)
class Scoring:
    visible_to_agent: bool = True
    score_on_usage_limits: bool = False
    instructions: str = ""


@dataclass(frozen=True)
class ModelMeta:
    """A language model the platform lends the run (``baseliner.model``): the expert reaches it
    from the workspace through the portal's model gateway (webapp.model_gateway) under one
    token budget for the whole run; ``standin`` is the family's stand-in server script, started
    by the portal when the operator configured no model."""

    development_budget_tokens: int
    standin: str | None = None


@dataclass(frozen=True)
class BaselinerMeta:
    """Our additions to a task: how to read and normalise its scores, and how long a run lasts.

    ``given`` holds the keys the manifest wrote and ``portal`` those a coordinator supplied (see
    environments.task_settings), so a page can say where each number came from.
    """

    metric: str | None = None
    unit: str | None = None
    direction: str | None = None
    y_s: float | None = None
    y_r: float | None = None
    time_limit_s: int = DEFAULT_TIME_LIMIT_S
    aggregation: str = "best"
    # No activity for this long opens an idle pause; None: the platform's setting.
    idle_after_s: int | None = None
    reference: str | None = None
    # A command `baseliner env check` runs in the task folder, as the workspace user, after
    # laying the reference over it: a reference that is a recipe (train a model) rather than a
    # finished file. Limited to the task's time limit, as an expert is.
    reference_command: str | None = None
    paths_from_home: bool = False
    model: ModelMeta | None = None
    # The scoring condition (e.g. "model: <name>") y_s and y_r were measured under; scores under
    # another condition use that condition's calibration (environments.calibrations).
    calibrated_for: str | None = None
    given: frozenset[str] = frozenset()
    portal: frozenset[str] = frozenset()

    def source(self, name: str) -> str:
        """'manifest', 'portal', 'default' or 'unset'."""
        if name in self.portal:
            return "portal"
        if name in self.given:
            return "manifest"
        return "unset" if getattr(self, name) is None else "default"

    # Mapping-style reads, for callers written when this was the manifest's plain dict.
    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in KEYS else default

    def __getitem__(self, key: str) -> Any:
        if key not in KEYS:
            raise KeyError(key)
        return getattr(self, key)


KEYS = tuple(f.name for f in fields(BaselinerMeta) if f.name not in ("given", "portal"))


@dataclass(frozen=True)
class TaskSpec:
    name: str
    version: str | None = None
    resources: Resources = field(default_factory=Resources)
    scoring: Scoring = field(default_factory=Scoring)
    meta: BaselinerMeta | None = None

    @property
    def gpu_count(self) -> tuple[int, int] | None:
        return self.resources.gpu_count

    @property
    def gpu_model(self) -> str | None:
        return self.resources.gpu_model

    @property
    def cpus(self) -> int | None:
        return self.resources.cpus

    @property
    def memory_gb(self) -> float | None:
        return self.resources.memory_gb

    @property
    def storage_gb(self) -> float | None:
        return self.resources.storage_gb


# --- single values, shared with the portal's form --------------------------------------------


def shown(value: Any) -> str:
    """A value as the manifest's author would recognise it in a message."""
    if value is None:
        return "empty"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def check_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, e.g. 1.56 (is {shown(value)})")
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, e.g. 1.56 (is {shown(value)})")
    return float(value)


def check_direction(value: Any) -> str:
    if value not in DIRECTIONS:
        raise ValueError(f'must be "higher" or "lower" (is {shown(value)})')
    return value


def check_aggregation(value: Any) -> str:
    if value not in AGGREGATIONS:
        raise ValueError(f'must be "best", "last" or "family" (is {shown(value)})')
    return value


def check_time_limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number of seconds, e.g. 28800 (is {shown(value)})")
    if not MIN_TIME_LIMIT_S <= value <= MAX_TIME_LIMIT_S:
        raise ValueError(
            f"must be between {MIN_TIME_LIMIT_S} s and {MAX_TIME_LIMIT_S} s (7 days)"
            f" (is {shown(value)})"
        )
    return value


def check_idle_after(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number of seconds, e.g. 600 (is {shown(value)})")
    if not 60 <= value <= 86400:
        raise ValueError(f"must be between 60 s and 86400 s (one day) (is {shown(value)})")
    return value


# How each checked `baseliner:` value is read, in a manifest and in the portal's form alike.
CHECKS: dict[str, Callable[[Any], Any]] = {
    "direction": check_direction,
    "aggregation": check_aggregation,
    "time_limit_s": check_time_limit,
    "idle_after_s": check_idle_after,
    "y_s": check_number,
    "y_r": check_number,
}


def pair_problem(y_s: float | None, y_r: float | None, direction: str | None) -> str | None:
    """Why y_r cannot go with y_s (and the direction), or None: normalising divides by y_r - y_s,
    and the reference solution is by definition better than the starting one."""
    if y_s is None or y_r is None:
        return None
    if y_s == y_r:
        return (
            f"must differ from y_s (both are {y_s:g}): y_s is the starting solution's score and"
            " y_r the reference solution's"
        )
    if direction == "lower" and y_r > y_s:
        return (
            f"with direction lower the reference must score below the start (y_s {y_s:g},"
            f" y_r {y_r:g}); swap them or set direction: higher"
        )
    if direction == "higher" and y_r < y_s:
        return (
            f"with direction higher the reference must score above the start (y_s {y_s:g},"
            f" y_r {y_r:g}); swap them or set direction: lower"
        )
    return None


# --- reading a manifest ----------------------------------------------------------------------


class _Reader:
    """Reads one manifest, raising ManifestError that names this file."""

    def __init__(self, file: Path, folder: Path) -> None:
        self.file = file
        self.folder = folder

    def fail(self, where: str, problem: str) -> None:
        raise ManifestError(self.file, where, problem)

    def mapping(self, value: Any, where: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, f"must be a mapping of keys to values (is {shown(value)})")
        return value

    def optional_str(self, value: Any, where: str, example: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(where, f'must be text, e.g. "{example}"; quote it (is {shown(value)})')
        return value

    def flag(self, value: Any, where: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(where, f"must be true or false (is {shown(value)})")
        return value

    def positive(self, value: Any, where: str, whole: bool, example: str) -> Any:
        if value is None:
            return None
        kinds = int if whole else int | float
        if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
            kind = "whole number" if whole else "number"
            self.fail(where, f"must be a positive {kind}, e.g. {example} (is {shown(value)})")
        return value

    def task(self, name: str, spec: Any) -> TaskSpec:
        where = f"tasks.{name}"
        spec = self.mapping(spec, where)
        return TaskSpec(
            name=name,
            version=self.optional_str(spec.get("version"), f"{where}.version", "1.0.0"),
            resources=self.resources(spec.get("resources"), f"{where}.resources"),
            scoring=self.scoring(spec.get("scoring"), f"{where}.scoring"),
            meta=self.meta(spec.get("baseliner"), f"{where}.baseliner"),
        )

    def resources(self, value: Any, where: str) -> Resources:
        value = self.mapping(value, where)
        gpu = self.mapping(value.get("gpu"), f"{where}.gpu")
        count = gpu.get("count_range")
        if count is not None and (
            not isinstance(count, list)
            or len(count) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in count)
            or count[0] > count[1]
        ):
            self.fail(
                f"{where}.gpu.count_range",
                f"must be [min, max] with 0 <= min <= max, e.g. [1, 1] (is {shown(count)})",
            )
        return Resources(
            gpu_count=(count[0], count[1]) if count is not None else None,
            gpu_model=self.optional_str(gpu.get("model"), f"{where}.gpu.model", "h100"),
            cpus=self.positive(value.get("cpus"), f"{where}.cpus", True, "8"),
            memory_gb=self.positive(value.get("memory_gb"), f"{where}.memory_gb", False, "64"),
            storage_gb=self.positive(value.get("storage_gb"), f"{where}.storage_gb", False, "50"),
        )

    def scoring(self, value: Any, where: str) -> Scoring:
        value = self.mapping(value, where)
        instructions = value.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            self.fail(f"{where}.instructions", f"must be text (is {shown(instructions)})")
        return Scoring(
            visible_to_agent=self.flag(
                value.get("visible_to_agent"), f"{where}.visible_to_agent", True
            ),
            score_on_usage_limits=self.flag(
                value.get("score_on_usage_limits"), f"{where}.score_on_usage_limits", False
            ),
            instructions=instructions or "",
        )

    def meta(self, value: Any, where: str) -> BaselinerMeta | None:
        if value is None:
            return None
        value = self.mapping(value, where)
        for key in value:
            if key not in KEYS:
                self.fail(
                    f"{where}.{key}", f"unknown key; the keys allowed here are {', '.join(KEYS)}"
                )
        given = {key for key, v in value.items() if v is not None}
        values: dict[str, Any] = {}
        for key in given:
            if key in CHECKS:
                try:
                    values[key] = CHECKS[key](value[key])
                except ValueError as exc:
                    self.fail(f"{where}.{key}", str(exc))
        for key, example in (("metric", "ln(ms)"), ("unit", "ms")):
            text = self.optional_str(value.get(key), f"{where}.{key}", example)
            if text is not None and not text.strip():
                self.fail(f"{where}.{key}", f'must not be blank, e.g. "{example}"')
            values[key] = text
        problem = pair_problem(values.get("y_s"), values.get("y_r"), values.get("direction"))
        if problem:
            self.fail(f"{where}.y_r", problem)
        values["reference"] = self.reference(value.get("reference"), f"{where}.reference")
        command = self.optional_str(
            value.get("reference_command"), f"{where}.reference_command", "python3 train.py"
        )
        if command is not None and not command.strip():
            self.fail(f"{where}.reference_command", 'must not be blank, e.g. "python3 train.py"')
        if command is not None and values["reference"] is None:
            self.fail(
                f"{where}.reference_command",
                "runs over the reference solution; name it too (reference: reference/)",
            )
        values["reference_command"] = command
        values["calibrated_for"] = self.condition(
            value.get("calibrated_for"), f"{where}.calibrated_for"
        )
        values["paths_from_home"] = self.flag(
            value.get("paths_from_home"), f"{where}.paths_from_home", False
        )
        values["model"] = self.model(value.get("model"), f"{where}.model")
        return BaselinerMeta(**values, given=frozenset(given))

    def model(self, value: Any, where: str) -> ModelMeta | None:
        if value is None:
            return None
        value = self.mapping(value, where)
        for key in value:
            if key not in ("development_budget_tokens", "standin"):
                self.fail(
                    f"{where}.{key}",
                    "unknown key; the keys allowed here are development_budget_tokens, standin",
                )
        if value.get("development_budget_tokens") is None:
            self.fail(
                f"{where}.development_budget_tokens",
                "is required: the tokens the whole run may use while developing, e.g. 2000000",
            )
        budget = self.positive(
            value["development_budget_tokens"],
            f"{where}.development_budget_tokens",
            True,
            "2000000",
        )
        standin = self.optional_str(value.get("standin"), f"{where}.standin", "standin.py")
        if standin is not None:
            path = Path(standin)
            inside = self.folder.resolve()
            if path.is_absolute() or not (inside / path).resolve().is_relative_to(inside):
                self.fail(
                    f"{where}.standin",
                    f"must be a script inside the family folder (is {shown(standin)})",
                )
            if not (self.folder / path).is_file():
                self.fail(
                    f"{where}.standin",
                    f"{shown(standin)} is not in {self.folder}; add it or fix the path",
                )
        return ModelMeta(development_budget_tokens=budget, standin=standin)

    def condition(self, value: Any, where: str) -> str | None:
        text = self.optional_str(value, where, "model: gpt-4o")
        if text is not None and not text.strip():
            self.fail(where, 'must not be blank, e.g. "model: gpt-4o"')
        if text is not None and len(text.strip()) > CONDITION_MAX:
            self.fail(where, f"must be at most {CONDITION_MAX} characters")
        return text.strip() if text is not None else None

    def reference(self, value: Any, where: str) -> str | None:
        text = self.optional_str(value, where, "reference/")
        if text is None:
            return None
        path = Path(text)
        inside = self.folder.resolve()
        if path.is_absolute() or not (inside / path).resolve().is_relative_to(inside):
            problem = 'must be a path inside the family folder, e.g. "reference/"'
            self.fail(where, f"{problem} (is {shown(text)})")
        if not (self.folder / path).exists():
            self.fail(where, f"{shown(text)} is not in {self.folder}; add it or fix the path")
        return text


def parse(data: Any, file: Path, folder: Path) -> list[TaskSpec]:
    """The tasks of a manifest already read from YAML."""
    reader = _Reader(file, folder)
    if not isinstance(data, dict):
        reader.fail("", "must be a mapping with a 'tasks' key (METR's Task Standard)")
    tasks = data.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        reader.fail("tasks", "must map each task name to its settings, e.g. 'tasks: {main: {}}'")
    specs = []
    for name in tasks:
        if not TASK_NAME.fullmatch(str(name)):
            reader.fail(
                f"tasks.{name}",
                'a task name uses letters, digits, "_", "-" and "." only, e.g. "main"',
            )
        specs.append(reader.task(str(name), tasks[name]))
    return specs


def read(folder: Path) -> list[TaskSpec]:
    """The tasks of ``folder/manifest.yaml``; ManifestError if it cannot be used as written."""
    file = folder / "manifest.yaml"
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ManifestError(
            file, "", f"not valid YAML{at} ({exc.__class__.__name__}); fix the syntax"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(file, "", f"cannot be read ({exc})") from exc
    return parse(data, file, folder)
