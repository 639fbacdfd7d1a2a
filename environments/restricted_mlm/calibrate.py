"""Calibrate restricted_mlm on a GPU: y_s (starting solution) and y_r (reference recipe).

    python environments/restricted_mlm/calibrate.py [--out DIR] [--set-floor]

Steps, each through the family's own code: install() (corpus check, tokens, the starting model:
14 s on an H100 the first time), start() into a fresh home, intermediate_score of the
starting solution, then the reference recipe as `baseliner env check` runs it (reference/ laid
over the home, `python3 reference_solution.py` there: 29 s), and its score. Took 57 s on an H100
(2026-12-07). Prints a table last, with the losses, the scores under the
current FLOOR and the floor that would give RE-Bench's gap between start and reference
(1.814 - 1.131 = 0.683 in ln); writes DIR/calibration.json.

With --set-floor (on the GPU) that floor, rounded to 3 decimals, becomes FLOOR in
scoring/score.py, if it lies between 1.0 and 0.5 below the reference's loss (else RE-Bench's 1.5
is kept), and the ``start`` and ``reference`` scores in calibration.json are those under it:
y_s and y_r (scripts/gpu_calibrate.sh writes them into the manifest and checks them through the
platform).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RE_BENCH_GAP = 1.814 - 1.131


def _family():
    spec = importlib.util.spec_from_file_location("restricted_mlm", HERE / "restricted_mlm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def matching_floor(start_loss: float, reference_loss: float, gap: float = RE_BENCH_GAP) -> float:
    """The floor f with ln(start - f) - ln(reference - f) = gap."""
    ratio = math.exp(gap)
    return (ratio * reference_loss - start_loss) / (ratio - 1)


def chosen_floor(start_loss: float, reference_loss: float) -> float:
    """RE-Bench's gap when that floor is sensible (at least 1.0 and at least 0.5 under the
    reference's loss, so the log scale does not blow up near the reference), else 1.5."""
    floor = matching_floor(start_loss, reference_loss)
    return round(floor, 3) if 1.0 <= floor <= reference_loss - 0.5 else 1.5


def set_floor(floor: float) -> None:
    """Write ``floor`` into scoring/score.py as FLOOR (the one place it is defined)."""
    path = HERE / "scoring" / "score.py"
    text, count = re.subn(r"^FLOOR = .*$", f"FLOOR = {floor}", path.read_text(), flags=re.M)
    if count != 1:
        raise SystemExit(f"{path}: no single FLOOR line to set")
    path.write_text(text)
    print(f"FLOOR set to {floor} in {path}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--set-floor", action="store_true", help="write the chosen floor into scoring/score.py"
    )
    args = parser.parse_args()
    module = _family()
    family = module.TaskFamily
    t = family.get_tasks()["main"]
    record: dict = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    began = time.monotonic()
    family.install()
    record["install_s"] = round(time.monotonic() - began, 1)
    record["build"] = json.loads((module.BUILD / "stamp.json").read_text())
    with tempfile.TemporaryDirectory(prefix="mlm-calibrate-") as tmp:
        home = Path(tmp) / "home"
        os.environ["HOME"] = str(home)
        family.start(t)
        began = time.monotonic()
        record["start"] = family.intermediate_score(t)
        record["start_score_s"] = round(time.monotonic() - began, 1)
        shutil.copytree(HERE / "reference", home, dirs_exist_ok=True)
        began = time.monotonic()
        recipe = subprocess.run(
            [sys.executable, "reference_solution.py"], cwd=home, capture_output=True, text=True
        )
        record["reference_recipe_s"] = round(time.monotonic() - began, 1)
        record["reference_recipe_output"] = (recipe.stdout + recipe.stderr)[-4000:]
        began = time.monotonic()
        record["reference"] = family.intermediate_score(t)
        record["reference_score_s"] = round(time.monotonic() - began, 1)
    start, reference = record["start"], record["reference"]
    floor = start.get("details", {}).get("floor")
    rows = [
        ("device", start.get("details", {}).get("device")),
        ("install (s)", record["install_s"]),
        ("starting solution: loss / score", _pair(start)),
        ("scoring time (s)", record["start_score_s"]),
        ("reference recipe (s)", record["reference_recipe_s"]),
        ("reference: loss / score", _pair(reference)),
        ("scoring time (s)", record["reference_score_s"]),
        ("FLOOR in scoring/score.py", floor),
    ]
    losses = [r.get("details", {}).get("loss") for r in (start, reference)]
    if all(isinstance(x, float) for x in losses):
        record["floor_for_re_bench_gap"] = matching_floor(*losses)
        rows.append(
            ("floor giving RE-Bench's gap 0.683", round(record["floor_for_re_bench_gap"], 3))
        )
        if args.set_floor and start.get("details", {}).get("device") != "cpu":
            floor = chosen_floor(*losses)
            set_floor(floor)
            for result, loss in zip((start, reference), losses, strict=True):
                result["score_before_floor_set"] = result["score"]
                result["score"] = math.log(loss - floor)
            rows.append(("FLOOR set to", floor))
            rows.append(("y_s / y_r", (round(start["score"], 4), round(reference["score"], 4))))
        for f in (1.0, 1.25, 1.5, 2.0):
            if min(losses) > f:
                rows.append(
                    (f"floor {f}: y_s / y_r", tuple(round(math.log(x - f), 3) for x in losses))
                )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "calibration.json").write_text(json.dumps(record, indent=2, default=str))
    if recipe.returncode:
        print(record["reference_recipe_output"])
    for name, value in rows:
        print(f"{name:40s} {value}")


def _pair(result: dict) -> str:
    loss = result.get("details", {}).get("loss")
    if loss is None:
        return f"invalid: {result.get('message')}"
    return f"{loss:.4f} / {result['score']:.4f}"


if __name__ == "__main__":
    main()
