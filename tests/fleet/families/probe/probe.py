"""A task family for Baseliner's own tests: the score is whatever ``answer()`` in
``$HOME/solution.py`` returns, so a test can make scoring succeed, fail, crash or hang.

Like a real family (METR's protected scoring, triton_cumsum), it never runs the expert's code as
root: when Baseliner scores as root, ``answer()`` runs in a child process as the workspace user
with the family's own group added, and only its JSON-encoded answer comes back (never a pickle:
the expert's code writes what the root parent reads)."""

import importlib.util
import json
import math
import os
import pwd
import shutil
import sys
import traceback
from pathlib import Path

START = "def answer():\n    return 0.25\n"


class SolutionFailed(Exception):
    """answer() raised in the scoring user's process; the message names its exception."""


def _answer(path: Path):
    spec = importlib.util.spec_from_file_location("solution", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.answer()


def _report(fd: int, path: Path, user: str) -> None:
    """In the child: become ``user`` (with the family's group), answer, and write it to ``fd``."""
    try:
        entry = pwd.getpwnam(user)
        extra = os.environ.get("BASELINER_PROTECTED_GID")
        os.setgroups([int(extra)] if extra else [])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
        report = {"value": _answer(path)}
    except BaseException as exc:
        traceback.print_exc(file=sys.stdout)  # before the helper's answer, on stdout
        report = {"raised": exc.__class__.__name__, "text": str(exc)}
    with os.fdopen(fd, "w") as out:
        json.dump(report, out, default=repr)
    sys.stdout.flush()
    sys.stderr.flush()


def _as_scoring_user(path: Path):
    """``answer()`` as the scoring user when Baseliner scores as root; as is otherwise."""
    user = os.environ.get("BASELINER_SCORING_USER")
    if os.geteuid() != 0 or not user or user == "root":
        return _answer(path)
    sys.stdout.flush()  # or the child would print the parent's pending output again
    sys.stderr.flush()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the user, answer, report, and never return
        try:
            os.close(read)
            _report(write, path, user)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as incoming:
        text = incoming.read()
    os.waitpid(pid, 0)
    report = json.loads(text) if text else {"raised": "Exit", "text": "answer() ended the process"}
    if "raised" not in report:
        return report.get("value")
    if report["raised"] == "MemoryError":
        raise MemoryError(report["text"])
    raise SolutionFailed(f"{report['raised']}: {report['text']}")


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
        value = _as_scoring_user(path)
        said = {}
        if isinstance(value, dict):  # {"value": x, "condition": "model: m"}: a scoring condition
            said, value = {"condition": str(value.get("condition", ""))}, value.get("value")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return {"score": float("nan"), "message": {"error": f"not a number: {value!r}"}}
        message = {"answer": value, **said}
        return {"score": float(value), "message": message, "details": {"home": str(path)}}

    @staticmethod
    def aggregate_scores(t: dict, score_log: list[dict]) -> float | None:
        scores = [e["score"] for e in score_log if e.get("score") is not None]
        return max(scores, default=None)
