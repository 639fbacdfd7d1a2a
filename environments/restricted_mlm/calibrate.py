"""Calibrate restricted_mlm on a GPU: y_s (starting solution) and y_r (reference recipe).

    python environments/restricted_mlm/calibrate.py [--out DIR]

Steps, each through the family's own code: install() (corpus check, tokens, the starting model:
about 30-45 s on an H100 the first time), start() into a fresh home, intermediate_score of the
starting solution, then the reference recipe as `baseliner env check` runs it (reference/ laid
over the home, `python3 reference_solution.py` there: about 90 s), and its score. Takes about
3 minutes on an H100 (budget 3.5). Prints a table last, with the losses, the scores under the
current FLOOR and the floor that would give RE-Bench's gap between start and reference
(1.814 - 1.131 = 0.683 in ln); writes DIR/calibration.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import os
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=None)
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
