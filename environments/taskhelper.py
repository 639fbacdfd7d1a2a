"""Call one method of a METR Task Standard family in a process of its own, and print the answer.

    python3 taskhelper.py FAMILY_DIR TASK OPERATION

OPERATION is one of: tasks, instructions, install, start, score, aggregate, teardown.
``score`` calls ``intermediate_score(t)`` or, for families that only define it,
``score(t, submission)`` with the submission read from stdin. ``aggregate`` reads the score log
(a JSON list) from stdin and calls ``aggregate_scores``.

The answer is printed as JSON after a separator line, because a family's own code may print
anything to stdout first. This file is copied to hosts and runs there under the host's python3
(any 3.8 or newer), so it uses the standard library only and imports nothing of Baseliner's.
A family runs exactly as METR's Task Standard says: its module imported from FAMILY_DIR, with
that folder as the working directory.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import traceback

SEPARATOR = "=====BASELINER-TASKHELPER-RESULT====="
OPERATIONS = ("tasks", "instructions", "install", "start", "score", "aggregate", "teardown")


def _load(family_dir: str):
    name = os.path.basename(os.path.normpath(family_dir))
    path = os.path.join(family_dir, name + ".py")
    sys.path.insert(0, family_dir)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TaskFamily


def _finite(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _score_answer(raw) -> dict:
    """METR's scorers return a dict {score, message, details}, a bare number, or None."""
    if isinstance(raw, dict):
        answer = {
            "score": raw.get("score"),
            "message": raw.get("message") or {},
            "details": raw.get("details") or {},
        }
    else:
        answer = {"score": raw, "message": {}, "details": {}}
    if answer["score"] is None:
        answer["message"] = answer["message"] or {"error": "the scorer returned no score"}
    answer["score"] = _finite(answer["score"])
    return answer


def run(family_dir: str, task_name: str, operation: str) -> object:
    family = _load(family_dir)
    if operation == "tasks":
        return {
            "standard_version": getattr(family, "standard_version", None),
            "tasks": sorted(family.get_tasks()),
        }
    tasks = family.get_tasks()
    if task_name not in tasks:
        raise SystemExit(f"the family has no task {task_name!r} (it has {sorted(tasks)})")
    t = tasks[task_name]
    if operation == "instructions":
        return family.get_instructions(t)
    if operation == "install":
        if hasattr(family, "install"):
            family.install()
        return None
    if operation == "start":
        if hasattr(family, "start"):
            family.start(t)
        return None
    if operation == "teardown":
        if hasattr(family, "teardown"):
            family.teardown(t)
        return None
    if operation == "score":
        if hasattr(family, "intermediate_score"):
            return _score_answer(family.intermediate_score(t))
        if hasattr(family, "score"):
            return _score_answer(family.score(t, sys.stdin.read()))
        return {"score": None, "message": {"error": "the family defines no scorer"}, "details": {}}
    if operation == "aggregate":
        log = json.loads(sys.stdin.read() or "[]")
        if hasattr(family, "aggregate_scores"):
            return _finite(family.aggregate_scores(t, log))
        return None
    raise SystemExit(f"unknown operation {operation!r}; one of {', '.join(OPERATIONS)}")


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[2] not in OPERATIONS:
        print(__doc__, file=sys.stderr)
        return 2
    family_dir, task_name, operation = argv
    family_dir = os.path.abspath(family_dir)
    os.chdir(family_dir)
    try:
        answer = {"ok": True, "value": run(family_dir, task_name, operation)}
    except MemoryError:
        answer = {"ok": False, "kind": "oom", "error": "the family ran out of memory"}
    except OSError as exc:  # a file or program the family needs is missing or closed to it
        answer = {
            "ok": False,
            "kind": "environment",
            "error": f"{exc.__class__.__name__}: {exc}",
            "traceback": traceback.format_exc()[-4000:],
        }
    except BaseException as exc:  # report everything, SystemExit included, as the answer
        if isinstance(exc, KeyboardInterrupt):
            raise
        answer = {
            "ok": False,
            "kind": "error",
            "error": f"{exc.__class__.__name__}: {exc}",
            "traceback": traceback.format_exc()[-4000:],
        }
    sys.stdout.flush()
    sys.stdout.write("\n" + SEPARATOR + "\n" + json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
