"""The rust_scaffolding family against the stand-in model: it loads, starts with only the
expert's files, the reference scaffold solves more hidden problems than the starting one, and
every bad scaffold or dead endpoint is recorded with its reason, no score made up.

Scored on the first few hidden problems (BASELINER_RUST_PROBLEMS) to stay fast; calibrate.py
measures y_s and y_r on all of them. The scaffold runs as a throwaway unix user with none of the
family's groups, as the platform runs it; the family is a root-only copy, as installed."""

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from environments.catalogue import BUILTIN_DIR, discover
from fleet.task_runs import ScoreResult
from tests.naming import PREFIX

FAMILY_DIR = BUILTIN_DIR / "rust_scaffolding"
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("bwrap") or not Path("/usr/bin/rustc").exists(),
    reason="needs root, bubblewrap and Debian's rustc (make install)",
)


@pytest.fixture(scope="module")
def user() -> str:
    """A workspace user of its own, as the platform's scorer drops to."""
    name = f"{PREFIX}-rustscore"
    subprocess.run(["userdel", "-r", name], capture_output=True)
    subprocess.run(["useradd", "--create-home", "--user-group", name], check=True)
    yield name
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
    subprocess.run(["userdel", "-r", name], capture_output=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The family copied where only root may read it (the installed family is root's and its
    group's; the scaffold's user is in neither)."""
    root = tmp_path_factory.mktemp("installed")
    root.chmod(0o700)
    target = root / "rust_scaffolding"
    shutil.copytree(FAMILY_DIR, target, symlinks=False)
    return target


def _family(where: Path):
    name = f"rust_scaffolding_{abs(hash(str(where)))}"
    spec = importlib.util.spec_from_file_location(name, where / "rust_scaffolding.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def home(tmp_path, monkeypatch, user, installed) -> Path:
    """A task folder of the user's, started by the family, and fast scoring settings."""
    folder = Path(f"/home/{user}")
    for child in folder.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("USER", user)
    monkeypatch.setenv("BASELINER_SCORING_USER", user)
    monkeypatch.setenv("BASELINER_RUST_PROBLEMS", "6")
    monkeypatch.setenv("BASELINER_RUST_SCORE_TIMEOUT_S", "240")
    for name in ("BASELINER_MODEL_BASE_URL", "BASELINER_RUST_TOKEN_BUDGET"):
        monkeypatch.delenv(name, raising=False)
    family = _family(installed).TaskFamily
    family.start(family.get_tasks()["main"])
    return folder


def _score(installed: Path, home: Path, body: str | None = None) -> dict:
    if body is not None:
        (home / "scaffold.py").write_text(textwrap.dedent(body))
    family = _family(installed).TaskFamily
    return family.intermediate_score(family.get_tasks()["main"])


def test_family_is_in_the_catalogue_with_baseliner_numbers():
    catalogue = discover()
    assert not [e for e in catalogue.errors if "rust_scaffolding" in e]
    family = next(f for f in catalogue.families if f.name == "rust_scaffolding")
    task = family.tasks[0]
    assert (task.name, task.gpu_count) == ("main", None) or task.gpu_count in ((0, 0), None)
    meta = task.meta
    assert meta["direction"] == "higher" and meta["reference"] == "reference/"
    assert isinstance(meta["y_s"], float) and isinstance(meta["y_r"], float)
    assert meta["y_r"] > meta["y_s"]
    # y_s and y_r hold for the stand-in's scores, the condition every score reports.
    assert meta.calibrated_for == "model: baseliner-standin"


def test_start_copies_only_the_experts_files(home, user):
    copied = sorted(p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file()
                    and not p.name.startswith("."))  # fmt: skip
    assert copied == ["README.md", "problems/dev.json", "scaffold.py"]
    assert (home / "scaffold.py").owner() == user
    text = (home / "problems" / "dev.json").read_text()
    assert '"tests"' in text and "fn main" not in text  # dev tests, never a solution


def test_the_reference_scaffold_solves_more_than_the_start(home, installed):
    start = _score(installed, home)
    reference = _score(installed, home, (FAMILY_DIR / "reference" / "scaffold.py").read_text())
    for result in (start, reference):
        assert math.isfinite(result["score"]), result
        assert result["details"]["total"] == 6
        assert result["message"]["solved"] == f"{result['details']['solved']}/6"
        assert result["message"]["model"] == "baseliner-standin"
        assert result["message"]["condition"] == "model: baseliner-standin"
        assert ScoreResult("scored", result["score"], result["message"]).condition == (
            "model: baseliner-standin"
        )
        assert result["message"]["tokens_used"] > 0
        assert set(result["details"]["problems"]) == {f"t{n:03d}" for n in range(1, 7)}
    assert reference["score"] > start["score"], (start["details"], reference["details"])
    said = set(start["details"]["problems"].values())
    assert any(s.startswith(("wrong answer on test", "compile error")) for s in said), said


RAISES = """
async def generate_solution(client, semaphore, problem):
    raise ValueError("no idea")
"""
NOT_A_STRING = """
async def generate_solution(client, semaphore, problem):
    return 42
"""
HANGS = """
import asyncio
async def generate_solution(client, semaphore, problem):
    await asyncio.sleep(3600)
"""
PEEKS = """
import json, pathlib
async def generate_solution(client, semaphore, problem):
    hidden = pathlib.Path({where!r}) / "problems" / "test.json"
    return json.loads(hidden.read_text())["problems"][0]["tests"][0]["output"]
"""
FLOODS = """
import os
async def generate_solution(client, semaphore, problem):
    while True:
        await client.chat.completions.create(
            model=os.environ["BASELINER_MODEL"],
            messages=[{"role": "user", "content": problem["title"] + problem["statement"]}],
        )
"""


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (RAISES, "scaffold: the scaffold raised ValueError (line 3): no idea"),
        (NOT_A_STRING, "scaffold: the scaffold returned int, not a str"),
        (PEEKS, "scaffold: the scaffold raised PermissionError"),
    ],
    ids=["raises", "not-a-string", "reads-the-hidden-tests"],
)
def test_a_bad_scaffold_scores_nothing_and_says_why(home, installed, body, said):
    result = _score(installed, home, body.format(where=str(installed)))
    assert result["score"] == 0.0, result
    reasons = set(result["details"]["problems"].values())
    assert len(reasons) == 1 and next(iter(reasons)).startswith(said), reasons


def test_a_hanging_scaffold_is_stopped_at_the_limit(home, installed, monkeypatch):
    monkeypatch.setenv("BASELINER_RUST_SCORE_TIMEOUT_S", "5")
    result = _score(installed, home, HANGS)
    assert result["score"] == 0.0
    assert all("took longer than" in s for s in result["details"]["problems"].values())


def test_a_flooding_scaffold_stops_at_the_budget(home, installed, monkeypatch):
    monkeypatch.setenv("BASELINER_RUST_TOKEN_BUDGET", "20000")
    result = _score(installed, home, FLOODS)
    assert result["score"] == 0.0
    assert result["message"]["tokens_used"] >= 20000
    reasons = list(result["details"]["problems"].values())
    assert all("RateLimitError" in s and "token budget" in s for s in reasons), reasons


def test_a_dead_endpoint_makes_the_scoring_invalid_not_zero(home, installed, monkeypatch):
    monkeypatch.setenv("BASELINER_MODEL_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("BASELINER_MODEL", "operator-model")
    result = _score(installed, home)
    assert math.isnan(result["score"])
    assert "the model endpoint cannot be used: it could not be reached" in str(result["message"])
    assert result["details"]["condition"] == "model: operator-model"


def test_aggregate_keeps_the_best():
    family = _family(FAMILY_DIR).TaskFamily
    log = [{"score": 0.2}, {"score": float("nan")}, {"score": 0.5}, {"score": 0.3}]
    assert family.aggregate_scores({}, log) == 0.5


def test_aggregate_never_pools_two_models():
    """Only the scores made with the model of the last valid one count."""
    family = _family(FAMILY_DIR).TaskFamily
    big, small = {"condition": "model: big"}, {"condition": "model: small"}
    log = [
        {"score": 0.9, "message": big},
        {"score": 0.4, "message": small},
        {"score": 0.3, "message": json.dumps(small)},  # the log may hold JSON text
        {"score": float("nan"), "message": big},  # invalid: not the last valid one
    ]
    assert family.aggregate_scores({}, log) == 0.4


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
