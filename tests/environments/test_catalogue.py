"""The catalogue finds METR-format families on disk and names the file and field of any mistake."""

import os
import textwrap

from environments.catalogue import discover

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
    assert task.meta["y_r"] == 0.47
    # A family written for METR's standard without Baseliner's additions still loads.
    assert [t.name for t in by_name["plain_metr"].tasks] == ["a", "b"]
    assert by_name["plain_metr"].tasks[0].meta == {}


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
    assert "no_module.py" in text
    assert "bad_yaml/manifest.yaml: not valid YAML" in text
    assert "no_tasks/manifest.yaml: 'tasks' must map" in text
    assert "tasks.t.resources.gpu.count_range must be [min, max]" in text
    assert "missing: listed in BASELINER_ENVIRONMENT_DIRS but not a folder" in text
