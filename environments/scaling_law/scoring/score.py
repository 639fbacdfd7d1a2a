"""Scores a scaling_law answer against the ground-truth table. Trains nothing; takes well under
a second.

    python score.py --answer ~/answer.json --table ground_truth_h100.json [--result out.json]
                    [--log ~/runs.jsonl]

The answer is {"n_embd": int, "max_iters": int, "loss": float}. It is invalid (score NaN, the
message says why) when the file is missing, not a regular file, not JSON, not an object with
those keys and types, when loss is not finite, when n_embd is not a multiple of head_dim inside
the table's width range, or when its FLOPs lie outside 0.9-1.1 of the budget C.

Otherwise, with f = FLOPs / C:
  L(answer) = the table's validation loss interpolated bilinearly in log n_embd and log f
              (at a fixed width log f is log max_iters plus a constant, so this is log steps);
  L*        = the best loss the table reaches at the same f: the least, over the table's
              widths, of each width's loss interpolated to f (at f = 1: the table's best run);
  score     = 1 - [(L(answer) - L*) + |loss - L(answer)|]     (higher is better; at most 1).

The message carries validity and the FLOPs used, never the score or any loss (the task keeps
scores hidden from the expert); the score, the losses and a summary of runs.jsonl (for review
of the cap) go to ``details``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
import sys
from pathlib import Path

FAMILY_DIR = Path(__file__).resolve().parent.parent
if str(FAMILY_DIR) not in sys.path:
    sys.path.insert(0, str(FAMILY_DIR))

from scaling_setup import FRACTIONS, Setup, from_json  # noqa: E402

MAX_ANSWER_BYTES = 65_536
MAX_LOG_BYTES = 20_000_000


class Invalid(Exception):
    """The answer broke a rule; the message says which, for the expert to read."""


def load_table(path: Path) -> tuple[Setup, dict[int, list[tuple[float, float]]]]:
    """The setup and, per width, (log fraction, validation loss) sorted by fraction."""
    table = json.loads(Path(path).read_text())
    setup = from_json(table["setup"])
    curves: dict[int, list[tuple[float, float]]] = {}
    for run in table["runs"]:
        point = (math.log(run["flops"] / setup.budget_flops), float(run["val_loss"]))
        curves.setdefault(int(run["n_embd"]), []).append(point)
    for points in curves.values():
        points.sort()
    if sorted(curves) != sorted(setup.table_widths) or any(len(p) < 2 for p in curves.values()):
        raise ValueError(f"the table at {path} does not hold runs for every width it names")
    return setup, curves


def _along(points: list[tuple[float, float]], x: float) -> float:
    """Piecewise-linear in x through sorted points, extended along the end segments (the
    table's own fractions sit a rounding step inside or outside 0.9 and 1.1)."""
    i = 0
    while i < len(points) - 2 and x > points[i + 1][0]:
        i += 1
    (x0, y0), (x1, y1) = points[i], points[i + 1]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def loss_at(curves: dict[int, list[tuple[float, float]]], n_embd: int, fraction: float) -> float:
    """Bilinear in log n_embd and log fraction of the budget."""
    widths = sorted(curves)
    if not widths[0] <= n_embd <= widths[-1]:
        raise ValueError(f"n_embd {n_embd} lies outside the table ({widths[0]}-{widths[-1]})")
    x = math.log(fraction)
    if n_embd in curves:
        return _along(curves[n_embd], x)
    upper = next(w for w in widths if w > n_embd)
    lower = widths[widths.index(upper) - 1]
    t = (math.log(n_embd) - math.log(lower)) / (math.log(upper) - math.log(lower))
    return (1 - t) * _along(curves[lower], x) + t * _along(curves[upper], x)


def best_at(curves: dict[int, list[tuple[float, float]]], fraction: float) -> tuple[float, int]:
    """The least loss over the table's widths at this fraction of the budget, and its width."""
    return min((_along(points, math.log(fraction)), w) for w, points in curves.items())


def read_answer(path: Path) -> tuple[int, int, float]:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise Invalid(f"no answer at {path}: write answer.json in the task folder") from None
    except OSError as exc:
        raise Invalid(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise Invalid(f"{path.name} is a symbolic link; write the answer into the file itself")
    if not stat.S_ISREG(info.st_mode):
        raise Invalid(f"{path.name} is not a regular file")
    if info.st_size > MAX_ANSWER_BYTES:
        raise Invalid(f"{path.name} is {info.st_size} bytes; an answer is a few dozen")
    try:
        answer = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise Invalid(f"{path.name} is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(answer, dict):
        raise Invalid(
            f'{path.name} must hold an object {{"n_embd": int, "max_iters": int, "loss": float}}'
            f" (holds a JSON {type(answer).__name__})"
        )
    for key in ("n_embd", "max_iters", "loss"):
        if key not in answer:
            raise Invalid(f"{path.name} has no {key!r}")
    n_embd, max_iters, loss = answer["n_embd"], answer["max_iters"], answer["loss"]
    for key, value in (("n_embd", n_embd), ("max_iters", max_iters)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"{key} must be an integer (is {json.dumps(value)[:40]})")
    if isinstance(loss, bool) or not isinstance(loss, (int, float)):
        raise Invalid(f"loss must be a number (is {json.dumps(loss)[:40]})")
    if not math.isfinite(loss):
        raise Invalid(f"loss must be finite (is {loss})")
    if max_iters < 1:
        raise Invalid(f"max_iters must be at least 1 (is {max_iters})")
    return n_embd, max_iters, float(loss)


def run_log_summary(path: Path | None, setup: Setup) -> dict:
    """What runs.jsonl says about the cap, for the reviewer (the expert can edit the file, so
    this is evidence, not enforcement)."""
    if path is None:
        return {}
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_LOG_BYTES:
            return {"runs_jsonl": "not a regular file of a readable size"}
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"runs_jsonl": "absent"}
    runs, unreadable, over, most = 0, 0, 0, 0.0
    for line in lines:
        if not line.strip():
            continue
        try:
            spent = float(json.loads(line)["flops"])
        except (ValueError, KeyError, TypeError):
            unreadable += 1
            continue
        runs += 1
        most = max(most, spent)
        over += spent > setup.cap_flops * (1 + 1e-9)
    return {
        "runs_jsonl": {
            "runs": runs,
            "unreadable_lines": unreadable,
            "over_cap": over,
            "max_flops": most,
            "max_cap_fraction": round(most / setup.cap_flops, 4),
        }
    }


def score(answer_path: Path, table_path: Path, log_path: Path | None = None) -> dict:
    try:
        setup, curves = load_table(table_path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {
            "score": None,
            "message": {"error": "the ground-truth table is missing or damaged; tell the staff"},
            "details": {"table": str(table_path), "problem": f"{type(exc).__name__}: {exc}"},
        }
    comparable = setup.mode == "gpu"
    details: dict = {"table": table_path.name, "comparable": comparable}
    try:
        n_embd, max_iters, predicted = read_answer(answer_path)
        low_w, high_w = min(curves), max(curves)
        if not low_w <= n_embd <= high_w or n_embd % setup.head_dim:
            raise Invalid(
                f"n_embd {n_embd} is outside the table: it must be a multiple of "
                f"{setup.head_dim} from {low_w} to {high_w}"
            )
        spent = setup.flops(n_embd, max_iters)
        fraction = spent / setup.budget_flops
        low, high = min(FRACTIONS), max(FRACTIONS)
        if not low <= fraction <= high:
            raise Invalid(
                f"n_embd {n_embd} for {max_iters} steps uses {spent:.4g} FLOPs = {fraction:.4f} C; "
                f"allowed: {low}-{high} C, i.e. {low * setup.budget_flops:.4g} to "
                f"{high * setup.budget_flops:.4g} FLOPs"
            )
    except Invalid as exc:
        details.update(run_log_summary(log_path, setup))
        return {"score": None, "message": {"error": str(exc)}, "details": details}

    actual = loss_at(curves, n_embd, fraction)
    best, best_width = best_at(curves, fraction)
    best_at_budget, width_at_budget = best_at(curves, 1.0)
    regret = actual - best
    error = abs(predicted - actual)
    value = 1 - (regret + error)
    details.update(
        score=value,
        loss_of_answer=actual,
        best_loss=best,
        best_width=best_width,
        best_loss_at_budget=best_at_budget,
        best_width_at_budget=width_at_budget,
        predicted_loss=predicted,
        regret=regret,
        prediction_error=error,
        budget_fraction=fraction,
    )
    details.update(run_log_summary(log_path, setup))
    message = {
        "valid": True,
        "n_embd": n_embd,
        "max_iters": max_iters,
        "flops": spent,
        "budget_fraction": round(fraction, 4),
        "comparable": comparable,
    }
    if not comparable:
        message["note"] = (
            "not comparable: no GPU (scored against the tiny CPU table built at install)"
        )
    return {"score": value, "message": message, "details": details}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--answer", type=Path, required=True)
    p.add_argument("--table", type=Path, required=True)
    p.add_argument("--log", type=Path, help="the expert's runs.jsonl (summarised in details)")
    p.add_argument("--result", type=Path, help="write the JSON result here (default: stdout)")
    args = p.parse_args(argv)
    outcome = score(args.answer, args.table, args.log)
    text = json.dumps(outcome, indent=2)
    if args.result is None:
        print(text)
    else:
        tmp = args.result.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(args.result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
