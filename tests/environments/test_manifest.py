"""Reading manifest.yaml: METR's fields typed, Baseliner's ``baseliner:`` key checked, and every
mistake refused with a message that names the file, the field and the fix."""

import textwrap
from pathlib import Path

import pytest

from environments import manifest
from environments.manifest import BaselinerMeta, ManifestError

FULL = """\
tasks:
  main:
    version: "2.1.0"
    resources:
      gpu:
        count_range: [1, 2]
        model: h100
      cpus: 8
      memory_gb: 64
      storage_gb: 50.5
    scoring:
      visible_to_agent: false
      score_on_usage_limits: true
      instructions: Your best score counts.
    meta: {anything: [goes, here]}
    baseliner:
      metric: ln(ms)
      unit: ln ms
      direction: lower
      y_s: 1.56
      y_r: 0.47
      time_limit_s: 3600
      aggregation: last
      reference: reference/
      paths_from_home: true
"""


def _folder(tmp_path: Path, text: str, reference: bool = True) -> Path:
    folder = tmp_path / "kernels"
    folder.mkdir(exist_ok=True)
    (folder / "manifest.yaml").write_text(textwrap.dedent(text))
    if reference:
        (folder / "reference").mkdir(exist_ok=True)
    return folder


def _task_with(baseliner: str = "", task: str = "") -> str:
    """A manifest of one task ``main`` with these lines under ``baseliner:`` / the task."""
    text = "tasks:\n  main:\n"
    text += textwrap.indent(textwrap.dedent(task), "    ")
    if baseliner:
        text += "    baseliner:\n" + textwrap.indent(textwrap.dedent(baseliner), "      ")
    return text


def test_a_full_manifest_is_typed(tmp_path):
    [task] = manifest.read(_folder(tmp_path, FULL))
    assert (task.name, task.version) == ("main", "2.1.0")
    assert task.resources == manifest.Resources((1, 2), "h100", 8, 64, 50.5)
    # TaskInfo-style access, as older callers read it.
    assert (task.gpu_count, task.gpu_model, task.cpus, task.memory_gb) == ((1, 2), "h100", 8, 64)
    assert task.storage_gb == 50.5
    assert task.scoring == manifest.Scoring(False, True, "Your best score counts.")
    meta = task.meta
    assert (meta.metric, meta.unit, meta.direction) == ("ln(ms)", "ln ms", "lower")
    assert (meta.y_s, meta.y_r, meta.time_limit_s) == (1.56, 0.47, 3600)
    assert (meta.aggregation, meta.reference, meta.paths_from_home) == ("last", "reference/", True)
    assert meta.source("y_s") == "manifest" and meta.portal == frozenset()
    # Read as the plain dict it once was.
    assert meta["y_r"] == 0.47 and meta.get("metric") == "ln(ms)" and meta.get("nope", 1) == 1
    with pytest.raises(KeyError):
        meta["nope"]


def test_a_plain_metr_manifest_loads_with_defaults(tmp_path):
    tasks = manifest.read(_folder(tmp_path, "tasks:\n  a: {}\n  b:\n"))
    assert [t.name for t in tasks] == ["a", "b"]
    a = tasks[0]
    assert (a.version, a.meta, a.gpu_count, a.cpus) == (None, None, None, None)
    assert a.scoring == manifest.Scoring(visible_to_agent=True, score_on_usage_limits=False)


def test_baseliner_defaults_and_where_each_value_came_from(tmp_path):
    [task] = manifest.read(_folder(tmp_path, _task_with("metric: accuracy\ny_s: 0\ny_r: 1\n")))
    meta = task.meta
    assert (meta.time_limit_s, meta.aggregation, meta.paths_from_home) == (28800, "best", False)
    assert (meta.reference, meta.direction, meta.unit) == (None, None, None)
    assert meta.y_s == 0.0 and isinstance(meta.y_s, float)
    assert meta.source("y_s") == "manifest"
    assert meta.source("time_limit_s") == "default"
    assert meta.source("direction") == "unset"
    assert BaselinerMeta().source("metric") == "unset"


# Each case: the manifest, the field path the message must name, and words of the fix.
BAD = [
    pytest.param(
        _task_with("direction: up\n"), "direction", 'must be "higher" or "lower" (is "up")'
    ),
    pytest.param(_task_with("y_s: fast\n"), "y_s", 'must be a number, e.g. 1.56 (is "fast")'),
    pytest.param(_task_with("y_r: .nan\n"), "y_r", "must be a finite number"),
    pytest.param(_task_with("y_s: .inf\n"), "y_s", "must be a finite number"),
    pytest.param(_task_with("y_s: true\n"), "y_s", "must be a number"),
    pytest.param(_task_with("y_s: [1]\n"), "y_s", "must be a number"),
    pytest.param(_task_with("y_s: 1.0\ny_r: 1\n"), "y_r", "must differ from y_s"),
    pytest.param(
        _task_with("direction: lower\ny_s: 0.47\ny_r: 1.56\n"),
        "y_r",
        "with direction lower the reference must score below the start",
    ),
    pytest.param(
        _task_with("direction: higher\ny_s: 0.84\ny_r: 0.24\n"),
        "y_r",
        "swap them or set direction: lower",
    ),
    pytest.param(_task_with("time_limit_s: 30\n"), "time_limit_s", "between 60 s and 604800 s"),
    pytest.param(_task_with("time_limit_s: 700000\n"), "time_limit_s", "(7 days)"),
    pytest.param(_task_with("time_limit_s: 8h\n"), "time_limit_s", "whole number of seconds"),
    pytest.param(_task_with("time_limit_s: 3600.5\n"), "time_limit_s", "e.g. 28800"),
    pytest.param(
        _task_with("aggregation: mean\n"), "aggregation", 'must be "best", "last" or "family"'
    ),
    pytest.param(_task_with("metric: 5\n"), "metric", 'must be text, e.g. "ln(ms)"; quote it'),
    pytest.param(_task_with("metric: '  '\n"), "metric", "must not be blank"),
    pytest.param(_task_with("unit: [ms]\n"), "unit", "must be text"),
    pytest.param(_task_with("paths_from_home: maybe\n"), "paths_from_home", "true or false"),
    pytest.param(_task_with("reference: missing/\n"), "reference", "add it or fix the path"),
    pytest.param(_task_with("reference: /etc\n"), "reference", "inside the family folder"),
    pytest.param(_task_with("reference: ../..\n"), "reference", "inside the family folder"),
    pytest.param(
        _task_with("reference_command: python3 train.py\n"),
        "reference_command",
        "runs over the reference solution; name it too",
    ),
    pytest.param(
        _task_with("reference: reference/\nreference_command: ' '\n"),
        "reference_command",
        "must not be blank",
    ),
    pytest.param(_task_with("reference_command: [a]\n"), "reference_command", "must be text"),
    pytest.param(
        _task_with("y_start: 1\n"),
        "y_start",
        "unknown key; the keys allowed here are metric, unit, direction, y_s, y_r,",
    ),
    pytest.param(_task_with("directoin: lower\n"), "directoin", "paths_from_home"),
]


@pytest.mark.parametrize(("text", "key", "fix"), BAD)
def test_baseliner_mistakes_name_file_field_and_fix(tmp_path, text, key, fix):
    folder = _folder(tmp_path, text)
    with pytest.raises(ManifestError) as caught:
        manifest.read(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'manifest.yaml'}: tasks.main.baseliner.{key}: ")
    assert fix in message
    assert caught.value.field == f"tasks.main.baseliner.{key}"


METR_BAD = [
    pytest.param(
        _task_with(task="resources:\n  gpu:\n    count_range: 2\n"),
        "tasks.main.resources.gpu.count_range",
        "must be [min, max] with 0 <= min <= max, e.g. [1, 1] (is 2)",
    ),
    pytest.param(
        _task_with(task="resources:\n  gpu:\n    count_range: [2, 1]\n"),
        "tasks.main.resources.gpu.count_range",
        "(is [2, 1])",
    ),
    pytest.param(
        _task_with(task="resources:\n  gpu:\n    count_range: [-1, 1]\n"),
        "tasks.main.resources.gpu.count_range",
        "must be [min, max]",
    ),
    pytest.param(
        _task_with(task="resources:\n  gpu:\n    model: 100\n"),
        "tasks.main.resources.gpu.model",
        'must be text, e.g. "h100"',
    ),
    pytest.param(
        _task_with(task="resources:\n  gpu: h100\n"),
        "tasks.main.resources.gpu",
        'must be a mapping of keys to values (is "h100")',
    ),
    pytest.param(
        _task_with(task="resources:\n  cpus: 0\n"),
        "tasks.main.resources.cpus",
        "must be a positive whole number, e.g. 8 (is 0)",
    ),
    pytest.param(
        _task_with(task="resources:\n  cpus: 2.5\n"),
        "tasks.main.resources.cpus",
        "positive whole number",
    ),
    pytest.param(
        _task_with(task="resources:\n  memory_gb: lots\n"),
        "tasks.main.resources.memory_gb",
        'must be a positive number, e.g. 64 (is "lots")',
    ),
    pytest.param(
        _task_with(task="resources:\n  storage_gb: -5\n"),
        "tasks.main.resources.storage_gb",
        "positive number",
    ),
    pytest.param(
        _task_with(task="scoring:\n  visible_to_agent: sometimes\n"),
        "tasks.main.scoring.visible_to_agent",
        'must be true or false (is "sometimes")',
    ),
    pytest.param(
        _task_with(task="scoring:\n  score_on_usage_limits: 1\n"),
        "tasks.main.scoring.score_on_usage_limits",
        "must be true or false",
    ),
    pytest.param(
        _task_with(task="scoring:\n  instructions: [a]\n"),
        "tasks.main.scoring.instructions",
        "must be text",
    ),
    pytest.param(
        _task_with(task="version: 1.0\n"),
        "tasks.main.version",
        'must be text, e.g. "1.0.0"; quote it (is 1.0)',
    ),
    pytest.param(
        _task_with(task="baseliner: [metric]\n"),
        "tasks.main.baseliner",
        "must be a mapping",
    ),
    pytest.param("tasks:\n  main: [1, 2]\n", "tasks.main", "must be a mapping"),
    pytest.param("tasks:\n  a/b: {}\n", "tasks.a/b", 'letters, digits, "_", "-" and "."'),
    pytest.param("tasks: []\n", "tasks", "must map each task name to its settings"),
    pytest.param("version: 1\n", "tasks", "must map each task name to its settings"),
]


@pytest.mark.parametrize(("text", "path", "fix"), METR_BAD)
def test_metr_field_mistakes_name_file_field_and_fix(tmp_path, text, path, fix):
    folder = _folder(tmp_path, text)
    with pytest.raises(ManifestError) as caught:
        manifest.read(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'manifest.yaml'}: {path}: "), message
    assert fix in message


def test_unknown_metr_keys_are_allowed(tmp_path):
    text = _task_with(task="future_key: 1\nresources:\n  gpu:\n    vendor: nvidia\n  tpus: 4\n")
    [task] = manifest.read(_folder(tmp_path, "top_level_key: x\n" + text))
    assert task.meta is None and task.gpu_count is None


def test_yaml_that_does_not_parse_says_where(tmp_path):
    folder = _folder(tmp_path, "tasks:\n  main: {\n")
    with pytest.raises(ManifestError) as caught:
        manifest.read(folder)
    assert str(caught.value).startswith(f"{folder / 'manifest.yaml'}: not valid YAML at line ")
    assert "fix the syntax" in str(caught.value)


def test_a_manifest_that_is_not_a_mapping(tmp_path):
    folder = _folder(tmp_path, "- main\n")
    with pytest.raises(ManifestError, match="must be a mapping with a 'tasks' key"):
        manifest.read(folder)


def test_the_builtin_families_manifests_are_valid():
    from environments.catalogue import BUILTIN_DIR

    [task] = manifest.read(BUILTIN_DIR / "triton_cumsum")
    assert task.meta.paths_from_home is True
    assert task.meta.direction == "lower" and task.meta.y_r < task.meta.y_s


def test_a_model_block_is_typed(tmp_path):
    folder = _folder(
        tmp_path, _task_with("model:\n  development_budget_tokens: 5000\n  standin: standin.py\n")
    )
    (folder / "standin.py").write_text("")
    [task] = manifest.read(folder)
    assert task.meta.model == manifest.ModelMeta(5000, "standin.py")
    (tmp_path / "b").mkdir()
    [plain] = manifest.read(_folder(tmp_path / "b", _task_with("metric: ms\n")))
    assert plain.meta.model is None


@pytest.mark.parametrize(
    ("lines", "key", "fix"),
    [
        ("model: 5\n", "model", "must be a mapping"),
        ("model:\n  standin: standin.py\n", "model.development_budget_tokens", "is required"),
        (
            "model:\n  development_budget_tokens: -1\n",
            "model.development_budget_tokens",
            "positive",
        ),
        ("model:\n  development_budget_tokens: 9\n  budget: 3\n", "model.budget", "unknown key"),
        (
            "model:\n  development_budget_tokens: 9\n  standin: nothere.py\n",
            "model.standin",
            "is not in",
        ),
        (
            "model:\n  development_budget_tokens: 9\n  standin: ../x.py\n",
            "model.standin",
            "inside the family folder",
        ),
    ],
)
def test_model_block_mistakes_name_the_field(tmp_path, lines, key, fix):
    folder = _folder(tmp_path, _task_with(lines))
    with pytest.raises(ManifestError) as caught:
        manifest.read(folder)
    message = str(caught.value)
    assert f"tasks.main.baseliner.{key}: " in message and fix in message
