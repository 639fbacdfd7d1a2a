"""familykit: what the four families share (running the scorer, invalid scores, aggregation).

The scorer runs as real processes here: a script that writes a result, one that writes none,
one that outlives its limit and leaves a child behind.
"""

import math
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from environments import versions

ENVIRONMENTS = Path(__file__).resolve().parents[2] / "environments"
sys.path.insert(0, str(ENVIRONMENTS / "_shared"))

from familykit import scorer, scores  # noqa: E402

FAMILIES = ("triton_cumsum", "fix_embedding", "restricted_mlm", "scaling_law")


def _script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "score.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path), str(tmp_path / "work" / "result.json")]


@pytest.fixture
def work(tmp_path):
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


def test_a_result_is_read_with_null_as_nan(tmp_path, work):
    command = _script(
        tmp_path,
        """
        import json, sys
        print("scoring")
        json.dump({"score": None, "message": {"error": "wrong output"}}, open(sys.argv[1], "w"))
        """,
    )
    outcome = scorer.run(command, workdir=work, limit_s=30)
    assert math.isnan(outcome["score"])
    assert outcome["message"] == {"error": "wrong output"}
    assert "scoring" in outcome["details"]["output_tail"]  # the log, for the staff
    quiet = scorer.run(command, workdir=work, limit_s=30, tail_if_invalid=False)
    assert "output_tail" not in quiet.get("details", {})


def test_a_valid_result_keeps_its_fields(tmp_path, work):
    command = _script(
        tmp_path,
        """
        import json, sys
        json.dump({"score": 1.5, "message": {"ms": 4.5}, "details": {}}, open(sys.argv[1], "w"))
        """,
    )
    assert scorer.run(command, workdir=work, limit_s=30) == {
        "score": 1.5,
        "message": {"ms": 4.5},
        "details": {},
    }


def test_no_result_says_the_exit_code_and_the_likely_cause(tmp_path, work):
    command = _script(tmp_path, "import sys\nprint('Segmentation fault')\nsys.exit(139)\n")
    outcome = scorer.run(command, workdir=work, limit_s=30, crashed="the solution crashed")
    assert math.isnan(outcome["score"])
    assert outcome["message"]["error"] == (
        "the scoring process ended (exit code 139) without a result; the solution crashed"
    )
    assert "Segmentation fault" in outcome["details"]["output_tail"]


def test_over_the_limit_the_whole_group_is_killed(tmp_path, work):
    pid_file = tmp_path / "child.pid"
    command = _script(
        tmp_path,
        f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print("started", flush=True)
        time.sleep(60)
        """,
    )
    started = time.monotonic()
    outcome = scorer.run(command, workdir=work, limit_s=2)
    assert time.monotonic() - started < 20
    assert outcome["message"]["error"] == "scoring took longer than its limit of 2 s"
    assert "started" in outcome["details"]["output_tail"]
    child = int(pid_file.read_text())
    for _ in range(50):  # the child was SIGKILLed with its group; wait for init to reap it
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the scorer's child {child} outlived the limit")


def test_identity_is_empty_unless_root_scores_for_a_workspace_user(monkeypatch):
    monkeypatch.delenv("BASELINER_SCORING_USER", raising=False)
    assert scorer.identity() == {}
    monkeypatch.setenv("BASELINER_SCORING_USER", "root")
    assert scorer.identity() == {}
    if os.geteuid() != 0:
        return
    monkeypatch.setenv("BASELINER_SCORING_USER", "bl-run-7")
    monkeypatch.setenv("BASELINER_PROTECTED_GID", "4321")
    assert scorer.identity() == {"user": "bl-run-7", "group": "bl-run-7", "extra_groups": [4321]}
    assert scorer.identity(protected=False)["extra_groups"] == []


def test_comparable_marks_in_dicts_or_json_text():
    assert scores.is_comparable({"score": 1.0})
    assert not scores.is_comparable({"message": {"comparable": False}})
    assert not scores.is_comparable({"details": '{"comparable": false}'})
    assert scores.is_comparable({"message": "not json"})


def test_aggregate_prefers_comparable_scores_then_picks_lowest_or_last():
    log = [
        {"score": 0.2, "message": {"comparable": False}},  # a CPU score, better than any
        {"score": 3.0},
        {"score": "nan"},
        {"score": None},
        {"score": 2.0},
        {"score": 2.5},
    ]
    assert scores.aggregate(log, "lowest") == 2.0
    assert scores.aggregate(log, "last") == 2.5
    cpu_only = [{"score": 0.4, "details": {"comparable": False}}, {"score": 0.3}]
    assert scores.aggregate(cpu_only[:1], "lowest") == 0.4
    assert math.isnan(scores.aggregate([{"score": float("nan")}], "last"))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_links_the_kit_inside_its_version(family):
    """The kit counts among each family's files, so a change to it changes every version
    (test_versions shows that a linked folder's files count like the family's own)."""
    link = ENVIRONMENTS / family / "familykit"
    assert link.is_symlink() and link.resolve() == ENVIRONMENTS / "_shared" / "familykit"
    counted = {p.as_posix() for p in versions.files(ENVIRONMENTS / family)}
    assert {"familykit/scorer.py", "familykit/scores.py", "familykit/workspace.py"} <= counted
