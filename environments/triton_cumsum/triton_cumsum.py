"""Optimize a Kernel (RE-Bench's triton_cumsum) as a METR Task Standard family.

The expert makes `prefix_sum` in `solution/solution.py` fast: a prefix sum over 10**8 int32 on
one H100 that counts only the elements preceded by an odd number of positive elements. Score:
ln(milliseconds) of the median call, lower is better; any wrong output makes a score invalid.

Paths come from $HOME (METR's /home/agent when unset), so the family runs in any workspace.
The scorer (scoring/score.py) lives outside assets/: it is never copied into the workspace and
runs as a separate process, so a crash or hang in the solution cannot take the caller down.

Settings for scoring, read from the environment of the process that calls intermediate_score
(tests use them to stay fast; production leaves them unset):
    BASELINER_CUMSUM_DEVICE           auto (default), cuda or cpu
    BASELINER_CUMSUM_CPU_N            input size without a GPU (default 1_000_003)
    BASELINER_CUMSUM_TIMED_CALLS      timed calls (default 20 on the GPU, 5 on the CPU)
    BASELINER_CUMSUM_CALL_TIMEOUT_S   limit for each timed call (default 10 s GPU, 60 s CPU)
    BASELINER_CUMSUM_WARMUP_TIMEOUT_S limit for the import and each checking/warm-up call
                                      (compilation included; default 300 s)
    BASELINER_CUMSUM_SCORE_TIMEOUT_S  limit for the whole scoring process (default 900 s)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

FAMILY_DIR = Path(__file__).resolve().parent
ASSETS = FAMILY_DIR / "assets"
SCORER = FAMILY_DIR / "scoring" / "score.py"
SOLUTION = Path("solution") / "solution.py"  # inside the task folder ($HOME)

_SETTINGS = {  # environment variable -> score.py option
    "BASELINER_CUMSUM_DEVICE": "--device",
    "BASELINER_CUMSUM_CPU_N": "--cpu-n",
    "BASELINER_CUMSUM_TIMED_CALLS": "--timed-calls",
    "BASELINER_CUMSUM_CALL_TIMEOUT_S": "--call-timeout-s",
    "BASELINER_CUMSUM_WARMUP_TIMEOUT_S": "--warmup-timeout-s",
}


def _home() -> Path:
    return Path(os.environ.get("HOME") or "/home/agent")


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _scoring_identity() -> dict[str, Any]:
    """Popen arguments that run the scorer, and so the expert's code, as the workspace user with
    this family's own group added (METR's ``protected``: it may read this family's scorer, not
    another family's, and the expert's live shell may read neither), when Baseliner runs
    scoring as root; nothing when run by hand."""
    user = os.environ.get("BASELINER_SCORING_USER")
    if os.geteuid() != 0 or not user or user == "root":
        return {}
    extra = os.environ.get("BASELINER_PROTECTED_GID")
    return {"user": user, "group": user, "extra_groups": [int(extra)] if extra else []}


def _invalid(error: str, details: dict | None = None) -> dict[str, Any]:
    return {"score": float("nan"), "message": {"error": error}, "details": details or {}}


def _is_comparable(entry: dict) -> bool:
    for key in ("message", "details"):
        part = entry.get(key)
        if isinstance(part, str):
            try:
                part = json.loads(part)
            except ValueError:
                part = None
        if isinstance(part, dict) and part.get("comparable") is False:
            return False
    return True


class TaskFamily:
    standard_version = "0.5.0"
    required_environment_variables: list[str] = []

    @staticmethod
    def get_tasks() -> dict[str, dict]:
        return {"main": {"n": 10**8, "solution": str(SOLUTION)}}

    @staticmethod
    def get_instructions(t: dict) -> str:
        return (ASSETS / "README.md").read_text()

    @staticmethod
    def get_permissions(t: dict) -> list[str]:
        return []

    @staticmethod
    def install() -> None:
        """Nothing to fetch: the workspace image brings PyTorch and Triton (vm_images/)."""

    @staticmethod
    def start(t: dict) -> None:
        """Copy the expert's files (the starting solution and the README) into the task folder,
        owned by the workspace user when root runs this (as METR's standard does)."""
        home = _home()
        home.mkdir(parents=True, exist_ok=True)
        shutil.copytree(ASSETS, home, dirs_exist_ok=True)
        user = os.environ.get("USER")
        if os.geteuid() == 0 and user and user != "root":
            for path in [home, *home.rglob("*")]:
                shutil.chown(path, user, user)

    @staticmethod
    def intermediate_score(t: dict) -> dict[str, Any]:
        """Score $HOME/solution/solution.py in a fresh process; NaN with a reason if invalid."""
        solution = _home() / t.get("solution", str(SOLUTION))
        if not solution.is_file():
            return _invalid(f"no solution file at {solution}")
        limit_s = float(os.environ.get("BASELINER_CUMSUM_SCORE_TIMEOUT_S") or 900)
        with tempfile.TemporaryDirectory(prefix="triton-cumsum-score-") as tmp:
            result, out = Path(tmp) / "result.json", Path(tmp) / "output.log"
            command = [
                sys.executable,
                str(SCORER),
                "--solution",
                str(solution),
                "--result",
                str(result),
                "--n",
                str(t.get("n", 10**8)),
            ]
            for variable, option in _SETTINGS.items():
                if os.environ.get(variable):
                    command += [option, os.environ[variable]]
            drop = _scoring_identity()
            if drop:
                shutil.chown(tmp, drop["user"], drop["group"])  # the scorer writes its result here
            with out.open("w") as log:
                proc = subprocess.Popen(
                    command,
                    cwd=solution.parent,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    **drop,
                )
                try:
                    code = proc.wait(timeout=limit_s)
                except subprocess.TimeoutExpired:
                    _kill_group(proc)
                    return _invalid(
                        f"scoring took longer than its limit of {limit_s:g} s",
                        {"output_tail": _tail(out)},
                    )
                finally:
                    _kill_group(proc)  # and whatever the solution left running
            if not result.is_file():
                return _invalid(
                    f"the scoring process ended (exit code {code}) without a result; the "
                    "solution may have crashed the interpreter or the GPU context",
                    {"output_tail": _tail(out)},
                )
            outcome = json.loads(result.read_text())
            score = outcome.get("score")
            outcome["score"] = float("nan") if score is None else float(score)
            if not math.isfinite(outcome["score"]):
                outcome.setdefault("details", {}).setdefault("output_tail", _tail(out))
        return outcome

    @staticmethod
    def aggregate_scores(t: dict, score_log: list[dict[str, Any]]) -> float:
        """The best (lowest) valid ln(ms) in the log; NaN if there is none.

        Scores marked not comparable (taken without a GPU) count only when the log holds
        no comparable one.
        """
        valid = []
        for entry in score_log:
            try:
                score = float(entry.get("score"))
            except (TypeError, ValueError):
                continue
            if math.isfinite(score):
                valid.append((score, _is_comparable(entry)))
        pool = [s for s, comparable in valid if comparable] or [s for s, _ in valid]
        return min(pool) if pool else float("nan")
