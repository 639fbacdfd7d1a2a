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

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

FAMILY_DIR = Path(__file__).resolve().parent
if str(FAMILY_DIR) not in sys.path:
    sys.path.insert(0, str(FAMILY_DIR))  # familykit, through the family's link

from familykit import scorer, scores  # noqa: E402
from familykit.workspace import hand_over  # noqa: E402
from familykit.workspace import home as _home  # noqa: E402

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
        hand_over(home)

    @staticmethod
    def intermediate_score(t: dict) -> dict[str, Any]:
        """Score $HOME/solution/solution.py in a fresh process; NaN with a reason if invalid."""
        solution = _home() / t.get("solution", str(SOLUTION))
        if not solution.is_file():
            return scores.invalid(f"no solution file at {solution}")
        limit_s = float(os.environ.get("BASELINER_CUMSUM_SCORE_TIMEOUT_S") or 900)
        with tempfile.TemporaryDirectory(prefix="triton-cumsum-score-") as tmp:
            command = [
                sys.executable,
                str(SCORER),
                "--solution",
                str(solution),
                "--result",
                str(Path(tmp) / "result.json"),
                "--n",
                str(t.get("n", 10**8)),
            ]
            for variable, option in _SETTINGS.items():
                if os.environ.get(variable):
                    command += [option, os.environ[variable]]
            return scorer.run(
                command,
                workdir=Path(tmp),
                cwd=solution.parent,
                limit_s=limit_s,
                crashed="the solution may have crashed the interpreter or the GPU context",
            )

    @staticmethod
    def aggregate_scores(t: dict, score_log: list[dict[str, Any]]) -> float:
        """The best (lowest) valid ln(ms) in the log; NaN if there is none.

        Scores marked not comparable (taken without a GPU) count only when the log holds
        no comparable one.
        """
        return scores.aggregate(score_log, "lowest")
