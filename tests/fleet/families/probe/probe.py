"""A task family for Baseliner's own tests: the score is whatever ``answer()`` in
``$HOME/solution.py`` returns, so a test can make scoring succeed, fail, crash or hang."""

import importlib.util
import math
import os
import shutil
from pathlib import Path

START = "def answer():\n    return 0.25\n"


class TaskFamily:
    standard_version = "0.5.0"

    @staticmethod
    def get_tasks() -> dict[str, dict]:
        return {"main": {}}

    @staticmethod
    def get_instructions(t: dict) -> str:
        return "Make answer() in solution.py return 1."

    @staticmethod
    def start(t: dict) -> None:
        solution = Path(os.environ["HOME"]) / "solution.py"
        solution.write_text(START)
        user = os.environ.get("USER")
        if os.geteuid() == 0 and user:
            shutil.chown(solution, user, user)

    @staticmethod
    def intermediate_score(t: dict) -> dict:
        path = Path(os.environ["HOME"]) / "solution.py"
        spec = importlib.util.spec_from_file_location("solution", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        value = module.answer()
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return {"score": float("nan"), "message": {"error": f"not a number: {value!r}"}}
        return {"score": float(value), "message": {"answer": value}, "details": {"home": str(path)}}

    @staticmethod
    def aggregate_scores(t: dict, score_log: list[dict]) -> float | None:
        scores = [e["score"] for e in score_log if e.get("score") is not None]
        return max(scores, default=None)
