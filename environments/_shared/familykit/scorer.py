"""Running a family's scorer: its own process group, the right identity, a time limit.

The scorer runs the expert's code, so it must not run as root (it runs as the workspace user
with the family's protected group: METR's ``protected`` files readable by it, not by the
expert's shell), must not outlive its limit, and must not leave processes behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from familykit.scores import invalid


def identity(*, protected: bool = True) -> dict[str, Any]:
    """Popen arguments that run a process as the workspace user when Baseliner scores as root
    (``BASELINER_SCORING_USER``), with the family's protected group added when ``protected``;
    nothing when run by hand (not root, or no user given)."""
    user = os.environ.get("BASELINER_SCORING_USER")
    if os.geteuid() != 0 or not user or user == "root":
        return {}
    extra = os.environ.get("BASELINER_PROTECTED_GID")
    groups = [int(extra)] if protected and extra else []
    return {"user": user, "group": user, "extra_groups": groups}


def tail(path: Path, chars: int = 3000) -> str:
    """The end of a log, for an invalid score's details ("" when there is none)."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def kill_group(proc: subprocess.Popen) -> None:
    """End the process and whatever it started (the expert's code may leave children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def read_result(result: Path) -> dict[str, Any]:
    """The scorer's result.json, its score a float (NaN for null)."""
    outcome = json.loads(result.read_text())
    score = outcome.get("score")
    outcome["score"] = float("nan") if score is None else float(score)
    return outcome


def run(
    command: list[str],
    *,
    workdir: Path,
    cwd: Path | None = None,
    limit_s: float,
    crashed: str = "",
    tail_if_invalid: bool = True,
) -> dict[str, Any]:
    """Run a scorer that writes ``workdir/result.json``, as ``identity()``, in its own process
    group, logging to ``workdir/output.log``; kill the group at ``limit_s`` or when it ends.

    Returns the result (``read_result``), or an invalid score saying why there is none:
    over the limit, or ended without a result (``crashed`` adds a likely cause). With
    ``tail_if_invalid`` an invalid result gets the log's tail in its details when it has none
    (a family whose scorer prints what the expert must not see passes False)."""
    result, out = workdir / "result.json", workdir / "output.log"
    drop = identity()
    if drop:
        shutil.chown(workdir, drop["user"], drop["group"])  # the scorer writes its result here
    with out.open("w") as log:
        proc = subprocess.Popen(
            command,
            cwd=cwd or workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **drop,
        )
        try:
            code = proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            return invalid(
                f"scoring took longer than its limit of {limit_s:g} s", {"output_tail": tail(out)}
            )
        finally:
            kill_group(proc)
    if not result.is_file():
        why = f"the scoring process ended (exit code {code}) without a result"
        return invalid(f"{why}; {crashed}" if crashed else why, {"output_tail": tail(out)})
    outcome = read_result(result)
    if tail_if_invalid and not math.isfinite(outcome["score"]):
        outcome.setdefault("details", {}).setdefault("output_tail", tail(out))
    return outcome
