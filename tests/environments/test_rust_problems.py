"""The rust_scaffolding problem sets: their shape, their counts, that they rebuild byte for byte
from build.py, and (where rustc exists) that a sample of the stand-in's correct / wrong / broken
Rust programs behave as labelled on the private tests.
"""

import json
from pathlib import Path

import pytest

from environments.rust_scaffolding.problems import build, rustcheck

HERE = Path(build.__file__).resolve().parent
PROBLEM_KEYS = {
    "id",
    "title",
    "statement",
    "input_format",
    "output_format",
    "examples",
    "tests",
    "time_limit_s",
}


def _load(name: str) -> dict:
    return json.loads((HERE / name).read_text())


@pytest.fixture(scope="module")
def sets() -> tuple[dict, dict, dict]:
    return _load("dev.json"), _load("test.json"), _load("standin.json")


def test_schema(sets):
    dev, test, standin = sets
    assert (dev["version"], dev["split"]) == (1, "dev")
    assert (test["version"], test["split"]) == (1, "test")
    for problem in dev["problems"] + test["problems"]:
        assert set(problem) == PROBLEM_KEYS
        assert all(
            isinstance(problem[k], str) and problem[k]
            for k in ("id", "title", "statement", "input_format", "output_format")
        )
        assert 1 <= len(problem["examples"]) <= 3
        assert 8 <= len(problem["tests"]) <= 16
        for case in problem["examples"] + problem["tests"]:
            assert set(case) == {"input", "output"}
            assert case["input"].endswith("\n") and case["output"].strip()
        assert problem["time_limit_s"] == 2.0
        sources = standin["sources"][problem["id"]]
        assert set(sources) == {"correct", "wrong", "broken"}
        assert len({sources["correct"], sources["wrong"], sources["broken"]}) == 3


def test_counts_and_uniqueness(sets):
    dev, test, standin = sets
    assert len(test["problems"]) >= 100
    assert 10 <= len(dev["problems"]) <= 20
    everything = dev["problems"] + test["problems"]
    ids = [p["id"] for p in everything]
    titles = [p["title"] for p in everything]
    assert len(set(ids)) == len(ids)
    assert len(set(titles)) == len(titles)  # the stand-in finds a problem by its title
    dev_statements = {p["statement"] for p in dev["problems"]}
    assert not dev_statements & {p["statement"] for p in test["problems"]}
    assert set(standin["sources"]) == set(ids)


def test_files_stay_modest():
    total = sum((HERE / n).stat().st_size for n in ("dev.json", "test.json", "standin.json"))
    assert total < 10_000_000


def test_rebuilds_byte_for_byte(tmp_path):
    build.write(tmp_path)
    for name in ("dev.json", "test.json", "standin.json"):
        assert (tmp_path / name).read_bytes() == (HERE / name).read_bytes(), name


@pytest.mark.skipif(rustcheck.rustc() is None, reason="rustc not installed")
def test_sample_of_stand_in_sources_behaves_as_labelled(sets):
    dev, test, standin = sets
    problems = dev["problems"][:3] + test["problems"][::15]  # 3 + 7 problems, many templates
    findings = rustcheck.check_all(problems, standin["sources"], workers=2)
    assert len(findings) == 3 * len(problems)
    bad = [f"{f.problem} {f.kind}: {f.detail}" for f in findings if not f.ok]
    assert not bad, bad
