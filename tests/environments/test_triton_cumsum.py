"""The triton_cumsum family on a machine without a GPU: it loads, starts, scores the starting
solution on the CPU (valid, marked not comparable), turns every kind of bad solution into an
invalid score with a message that says what was wrong, and aggregates to the best valid score.

GPU timings are not tested here: environments/triton_cumsum/calibrate.py measures them on an
H100 and its README records them.
"""

import importlib.util
import math
import textwrap
from pathlib import Path

import pytest

from environments.catalogue import BUILTIN_DIR, discover

FAMILY_DIR = BUILTIN_DIR / "triton_cumsum"


def _family():
    spec = importlib.util.spec_from_file_location(
        "triton_cumsum_family", FAMILY_DIR / "triton_cumsum.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TaskFamily


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A task folder in $HOME with small, fast CPU settings for the scorer."""
    pytest.importorskip("torch")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("BASELINER_CUMSUM_DEVICE", "cpu")
    monkeypatch.setenv("BASELINER_CUMSUM_CPU_N", "20000")
    monkeypatch.setenv("BASELINER_CUMSUM_TIMED_CALLS", "2")
    monkeypatch.setenv("BASELINER_CUMSUM_CALL_TIMEOUT_S", "20")
    monkeypatch.setenv("BASELINER_CUMSUM_WARMUP_TIMEOUT_S", "60")
    monkeypatch.setenv("BASELINER_CUMSUM_SCORE_TIMEOUT_S", "120")
    family = _family()
    family.start(family.get_tasks()["main"])
    return tmp_path


def _score(home: Path, body: str | None = None) -> dict:
    if body is not None:
        (home / "solution" / "solution.py").write_text(textwrap.dedent(body))
    family = _family()
    return family.intermediate_score(family.get_tasks()["main"])


def test_family_is_in_the_catalogue_with_baseliner_numbers():
    catalogue = discover()
    assert not [e for e in catalogue.errors if "triton_cumsum" in e]
    family = next(f for f in catalogue.families if f.name == "triton_cumsum")
    task = family.tasks[0]
    assert (task.name, task.gpu_count, task.gpu_model) == ("main", (1, 1), "h100")
    meta = task.meta
    assert meta["metric"] == "ln(ms)" and meta["unit"] == "ln ms"
    assert meta["direction"] == "lower" and meta["aggregation"] == "best"
    assert meta["time_limit_s"] == 28800
    assert meta["reference"] == "reference/"
    assert (FAMILY_DIR / meta["reference"] / "solution" / "solution.py").is_file()
    # Measured on an H100: the reference is faster (lower) than the starting solution.
    assert isinstance(meta["y_s"], float) and isinstance(meta["y_r"], float)
    assert meta["y_r"] < meta["y_s"]


def test_metr_interface_and_start_copies_only_the_experts_files(home):
    family = _family()
    assert family.standard_version == "0.5.0"
    t = family.get_tasks()["main"]
    assert family.get_permissions(t) == []
    assert "prefix_sum" in family.get_instructions(t)
    family.install()
    copied = sorted(p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file())
    assert copied == ["README.md", "solution/solution.py"]


def test_starting_solution_scores_on_the_cpu_and_is_marked_not_comparable(home):
    result = _score(home)
    assert math.isfinite(result["score"]), result
    message, details = result["message"], result["details"]
    assert message["comparable"] is False
    assert "not comparable: no GPU" in message["note"]
    assert details["comparable"] is False and details["device"] == "cpu"
    assert details["n"] == 20000 and len(details["times_ms"]) == 2
    assert result["score"] == pytest.approx(math.log(details["median_ms"]))
    assert 1 in details["checked_sizes"] and 4097 in details["checked_sizes"]


START = """\
import torch

def reference(x):
    positive = (x > 0).to(torch.int64)
    odd = (torch.cumsum(positive, 0) - positive) % 2 == 1
    return torch.cumsum(torch.where(odd, x.to(torch.int64), 0), 0)

"""

BAD = {
    "one element wrong": (
        START
        + "def prefix_sum(x):\n"
        + "    y = reference(x).to(torch.int32)\n"
        + "    y[-1] += 1\n"
        + "    return y\n",
        ["wrong values at 1 of", "first at index"],
    ),
    "int64 output": (
        START + "def prefix_sum(x):\n    return reference(x)\n",
        ["dtype torch.int64, expected torch.int32"],
    ),
    "wrong shape": (
        START + "def prefix_sum(x):\n    return reference(x).to(torch.int32)[:-1]\n",
        ["shape"],
    ),
    "wrong device": (
        START
        + "def prefix_sum(x):\n"
        + "    return torch.empty(x.shape, dtype=torch.int32, device='meta')\n",
        ["on meta, expected cpu"],
    ),
    "raises": (
        START + "def prefix_sum(x):\n    raise RuntimeError('boom')\n",
        ["raised RuntimeError: boom"],
    ),
    "no function": ("import torch\n", ["defines no function prefix_sum"]),
    "import fails": ("import no_such_module_here\n", ["importing solution.py failed"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_solutions_are_invalid_with_a_clear_message(home, case):
    body, expected = BAD[case]
    result = _score(home, body)
    assert math.isnan(result["score"]), result
    error = result["message"]["error"]
    for words in expected:
        assert words in error, error


def test_a_call_over_its_time_limit_is_invalid(home, monkeypatch):
    monkeypatch.setenv("BASELINER_CUMSUM_CALL_TIMEOUT_S", "1")
    monkeypatch.setenv("BASELINER_CUMSUM_WARMUP_TIMEOUT_S", "1")
    body = START + textwrap.dedent(
        """
        import time

        def prefix_sum(x):
            if x.numel() >= 10000:
                time.sleep(60)
            return reference(x).to(torch.int32)
        """
    )
    result = _score(home, body)
    assert math.isnan(result["score"])
    assert "took longer than its limit of 1 s" in result["message"]["error"]
    assert "n=20000" in result["message"]["error"]


def test_a_solution_that_kills_the_scorer_process_is_invalid(home):
    body = START + "import os\n\ndef prefix_sum(x):\n    os._exit(7)\n"
    result = _score(home, body)
    assert math.isnan(result["score"])
    assert "ended (exit code 7) without a result" in result["message"]["error"]


def test_missing_solution_is_invalid(home):
    (home / "solution" / "solution.py").unlink()
    result = _score(home)
    assert math.isnan(result["score"])
    assert "no solution file" in result["message"]["error"]


def test_reference_kernel_runs_in_the_triton_interpreter(home, monkeypatch):
    """Only where Triton is installed (it is not a dependency): the reference's Triton kernel,
    run by the scorer on the CPU through TRITON_INTERPRET=1."""
    pytest.importorskip("triton")
    monkeypatch.setenv("BASELINER_CUMSUM_CPU_N", "30000")
    reference = (FAMILY_DIR / "reference" / "solution" / "solution.py").read_text()
    result = _score(home, reference)
    assert math.isfinite(result["score"]), result
    assert result["details"]["triton_interpreter"] is True
    assert result["message"]["comparable"] is False


def test_aggregate_picks_the_best_valid_comparable_score():
    family = _family()
    t = family.get_tasks()["main"]
    gpu = {"comparable": True}
    cpu = {"comparable": False, "note": "not comparable: no GPU"}
    log = [
        {"score": 1.6, "message": gpu},
        {"score": float("nan"), "message": {"error": "wrong values"}},
        {"score": None, "message": {"error": "timed out"}},
        {"score": -0.2, "message": gpu},
        {"score": -5.0, "message": cpu},  # faster, but timed on a CPU at a small size
        {"score": 0.4, "message": gpu},
    ]
    assert family.aggregate_scores(t, log) == -0.2
    assert family.aggregate_scores(t, [{"score": 3.0, "message": cpu}]) == 3.0
    assert math.isnan(family.aggregate_scores(t, log[1:3]))
    assert math.isnan(family.aggregate_scores(t, []))
