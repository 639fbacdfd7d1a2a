"""Calling a family's methods through ``taskhelper.py`` in a separate process, and reading the
answer back: the one place that knows the helper's output format.

The portal calls families only this way (never by importing them), so a family's imports, prints
and crashes stay in that process. Hosts run the same helper through their driver
(``fleet.task_runs``) and parse its output with ``parse``.
"""

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from environments.taskhelper import SEPARATOR

HELPER = Path(__file__).resolve().parent / "taskhelper.py"


class FamilyCallFailed(Exception):
    """The family's method raised, ran out of memory, timed out, or the helper died."""

    def __init__(self, message: str, kind: str = "error", output: str = "") -> None:
        super().__init__(message)
        self.message = message
        # error (the family raised), environment (an OSError: something the family needs is
        # missing or closed to it), oom, timeout, killed, no-answer (the helper never ran)
        self.kind = kind
        self.output = output


def parse(stdout: str, exit_status: int | None = 0) -> Any:
    """The value the helper printed after its separator, or FamilyCallFailed saying why not."""
    head, found, tail = stdout.rpartition(SEPARATOR)
    if not found:
        said = stdout.strip().splitlines()[-1:]  # bash's own word when it could not run it
        raise FamilyCallFailed(
            f"the task helper ended (exit status {exit_status}) without an answer"
            + (f": {said[0][-300:]}" if said else ""),
            kind="killed" if exit_status in (-9, 137) else "no-answer",
            output=stdout[-3000:],
        )
    # Only the answer's own line: a family's stderr, printed after it, is not part of it.
    answer, _ = json.JSONDecoder().raw_decode(tail.lstrip())
    if not answer.get("ok"):
        raise FamilyCallFailed(
            answer.get("error", "the family failed"),
            kind=answer.get("kind", "error"),
            output=(head[-2000:] + answer.get("traceback", ""))[-4000:],
        )
    return answer.get("value")


def call_local(
    family_dir: Path,
    task: str,
    operation: str,
    *,
    stdin: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> Any:
    """Run one family method on this machine, under this interpreter."""
    try:
        done = subprocess.run(
            [sys.executable, str(HELPER), str(family_dir), task, operation],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise FamilyCallFailed(
            f"{operation} took longer than its limit of {timeout:g} s", kind="timeout"
        ) from exc
    return parse(done.stdout + ("\n" + done.stderr if done.returncode else ""), done.returncode)


def _stamp(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.rglob("*.py")), default=0.0)


@functools.lru_cache(maxsize=256)
def _instructions(family_dir: str, task: str, stamp: float) -> str:
    return str(call_local(Path(family_dir), task, "instructions", timeout=30))


def instructions(family_dir: Path, task: str) -> str:
    """The task's instructions as ``get_instructions`` writes them (cached until the family's
    code changes); a family that cannot say them raises FamilyCallFailed."""
    return _instructions(str(family_dir), task, _stamp(family_dir))
