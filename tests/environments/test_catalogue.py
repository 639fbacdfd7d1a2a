"""The catalogue finds METR-format families on disk and names the file and field of any mistake."""

import os
import textwrap
from pathlib import Path

from environments import task_settings
from environments.catalogue import TaskInfo, discover
from environments.family_calls import instructions
from environments.manifest import TaskSpec

FAMILIES = Path(__file__).resolve().parent / "families"

MANIFEST = """\
tasks:
  main:
    resources:
      gpu:
        count_range: [1, 1]
        model: h100
      cpus: 8
      memory_gb: 64
    baseliner:
      metric: log ms
      y_s: 1.56
      y_r: 0.47
"""


def _family(base, name, manifest=MANIFEST, module=True):
    folder = base / name
    folder.mkdir(parents=True)
    (folder / "manifest.yaml").write_text(textwrap.dedent(manifest))
    if module:
        (folder / f"{name}.py").write_text("class TaskFamily:\n    standard_version = '0.5.0'\n")
    return folder


def test_finds_families_in_extra_dirs(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _family(one, "kernels")
    _family(two, "plain_metr", manifest="tasks:\n  a: {}\n  b: {}\n")
    catalogue = discover(os.pathsep.join([str(one), str(two)]))
    assert catalogue.errors == []
    by_name = {f.name: f for f in catalogue.families}
    task = by_name["kernels"].tasks[0]
    assert (task.name, task.gpu_count, task.gpu_model, task.cpus) == ("main", (1, 1), "h100", 8)
    assert task.meta["y_r"] == 0.47 and task.meta.y_r == 0.47
    assert isinstance(task, TaskSpec) and TaskInfo is TaskSpec
    # A family written for METR's standard without Baseliner's additions still loads.
    assert [t.name for t in by_name["plain_metr"].tasks] == ["a", "b"]
    assert by_name["plain_metr"].tasks[0].meta is None
    assert len(by_name["kernels"].version) == 16
    assert catalogue.family("kernels").task("main") is task
    assert catalogue.family("nope") is None and catalogue.family("kernels").task("nope") is None


def test_errors_name_the_file_and_the_fix(tmp_path):
    _family(tmp_path, "no_module", module=False)
    _family(tmp_path, "bad_yaml", manifest="tasks: [unclosed\n")
    _family(tmp_path, "no_tasks", manifest="version: 1\n")
    _family(
        tmp_path,
        "bad_gpus",
        manifest="tasks:\n  t:\n    resources:\n      gpu:\n        count_range: 2\n",
    )
    catalogue = discover(f"{tmp_path}{os.pathsep}{tmp_path / 'missing'}")
    assert [f for f in catalogue.families if f.path.parent == tmp_path] == []
    text = "\n".join(catalogue.errors)
    assert "no_module: missing no_module.py (the family's class TaskFamily); add it" in text
    assert "bad_yaml/manifest.yaml: not valid YAML" in text
    assert "no_tasks/manifest.yaml: tasks: must map each task name to its settings" in text
    assert "bad_gpus/manifest.yaml: tasks.t.resources.gpu.count_range: must be [min, max]" in text
    assert "missing: listed in BASELINER_ENVIRONMENT_DIRS but not a folder" in text


def test_a_bad_baseliner_key_keeps_the_family_out_and_says_why(tmp_path):
    _family(tmp_path, "typo", manifest=MANIFEST.replace("metric:", "metrc:"))
    catalogue = discover(str(tmp_path))
    assert catalogue.family("typo") is None
    [error] = [e for e in catalogue.errors if "typo" in e]
    assert error.startswith(f"{tmp_path / 'typo' / 'manifest.yaml'}: tasks.main.baseliner.metrc:")
    assert "unknown key; the keys allowed here are metric, unit" in error


def test_a_family_name_found_twice_keeps_the_first(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _family(one, "kernels")
    _family(two, "kernels", manifest="tasks:\n  other: {}\n")
    catalogue = discover(os.pathsep.join([str(one), str(two)]))
    assert [t.name for t in catalogue.family("kernels").tasks] == ["main"]
    assert any("a family named kernels is already in" in e for e in catalogue.errors)


def test_a_strict_metr_family_loads_and_needs_its_numbers():
    """count_words follows METR's Task Standard to the letter and has no baseliner: key."""
    catalogue = discover(str(FAMILIES))
    assert not [e for e in catalogue.errors if "count_words" in e]
    family = catalogue.family("count_words")
    assert [t.name for t in family.tasks] == ["short", "long"]
    for task in family.tasks:
        assert task.meta is None
        assert (task.version, task.gpu_count, task.cpus, task.memory_gb) == ("1.0.0", None, 1, 1)
        assert task.scoring.visible_to_agent is True
        assert task_settings.status(task.meta) == "needs: y_s, y_r, direction, metric"
    assert "answer.txt" in instructions(family.path, "short")
