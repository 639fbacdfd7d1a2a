"""Calibrate fix_embedding on a GPU: build, y_s (the permuted start), y_r (the reference recipe).

    python environments/fix_embedding/calibrate.py [--out DIR] [--rebuild] [--set-floor]

Steps, each timed: install() (verify the corpus, tokenise it, train the large and the small
model, permute; skipped when .build/cuda is already built, unless --rebuild); start() into a
scratch $HOME; score the starting solution; score the original (unpermuted) large model, which
must score ln(1.05) once GPU_FLOOR is set from it; run the reference recipe there as `python3
reference_solution.py` and score its submission. It prints the original's validation loss and
the floor it implies (GPU_FLOOR in scoring/score.py is that value, set by hand), every score
under the current GPU_FLOOR and under the implied one, and writes DIR/calibration.json, whose
``start`` and ``reference`` scores are those under the floor in force. With --set-floor (on the
GPU) the implied floor, rounded to 3 decimals, is written into scoring/score.py as GPU_FLOOR
first, so those scores are y_s and y_r (scripts/gpu_calibrate.sh then writes them into the
manifest and checks them through the platform).

Time on one H100 (measured 2026-12-07): install 65 s (the large model 37.5 s, the small 16 s),
the reference recipe 37 s, each scoring a few seconds (mostly process start and CUDA
initialisation): 123 s in all.
Needs torch with CUDA, numpy and `tokenizers` (the corpus is tokenised at install).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fix_embedding  # noqa: E402
import fixemb_build  # noqa: E402

FLOOR_GAP = fixemb_build.FLOOR_GAP
MIN_GAP = 1e-3  # as scoring/score.py


def _timed(what: str, fn, times: dict):
    started = time.monotonic()
    value = fn()
    times[what] = round(time.monotonic() - started, 2)
    print(f"[{times[what]:7.2f} s] {what}", flush=True)
    return value


def _floor_in_scorer() -> float:
    sys.path.insert(0, str(HERE / "scoring"))
    import score

    return score.GPU_FLOOR


def set_gpu_floor(floor: float) -> None:
    """Write ``floor`` into scoring/score.py as GPU_FLOOR (the one place it is defined)."""
    path = HERE / "scoring" / "score.py"
    text, count = re.subn(
        r"^GPU_FLOOR = .*$", f"GPU_FLOOR = {floor}", path.read_text(), flags=re.MULTILINE
    )
    if count != 1:
        raise SystemExit(f"{path}: no single GPU_FLOOR line to set")
    path.write_text(text)
    print(f"GPU_FLOOR set to {floor} in {path}", flush=True)


def _under(result: dict, floor: float) -> float | None:
    """A result's score under ``floor``: ln(loss - floor), as the scorer computes it."""
    loss = result.get("details", {}).get("loss")
    if loss is None or result.get("score") is None or not math.isfinite(result["score"]):
        return None
    return math.log(max(loss - floor, MIN_GAP))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("."), help="where calibration.json goes")
    p.add_argument("--rebuild", action="store_true", help="build afresh even if built")
    p.add_argument(
        "--set-floor",
        action="store_true",
        help="write the implied floor into scoring/score.py as GPU_FLOOR (GPU only)",
    )
    args = p.parse_args()
    import torch

    mode = fix_embedding._mode()
    if mode != "cuda":
        print("warning: no GPU; this calibrates the tiny CPU build (not comparable)", flush=True)
    if args.rebuild:
        shutil.rmtree(fixemb_build.build_dir(mode), ignore_errors=True)
    family = fix_embedding.TaskFamily
    task = family.get_tasks()["main"]
    times: dict[str, float] = {}
    results: dict[str, dict] = {}
    _timed("install", family.install, times)
    meta = fixemb_build.read_meta(mode)
    home = Path(tempfile.mkdtemp(prefix="fixemb-calibrate-"))
    os.environ["HOME"] = str(home)
    _timed("start", lambda: family.start(task), times)
    results["start"] = _timed("score start", lambda: family.intermediate_score(task), times)

    submission = home / "submission" / "model.pt"
    shutil.copyfile(fixemb_build.build_dir(mode) / "original.pt", submission)
    results["original"] = _timed("score original", lambda: family.intermediate_score(task), times)

    shutil.copy(HERE / "reference" / "reference_solution.py", home)
    recipe = _timed(
        "reference recipe",
        lambda: subprocess.run(
            [sys.executable, "reference_solution.py"], cwd=home, capture_output=True, text=True
        ),
        times,
    )
    print(recipe.stdout[-3000:], recipe.stderr[-3000:], sep="\n", flush=True)
    results["reference"] = _timed("score reference", lambda: family.intermediate_score(task), times)

    original_loss = results["original"]["details"].get("loss")
    implied = round(original_loss - FLOOR_GAP, 3) if original_loss is not None else None
    current = _floor_in_scorer() if mode == "cuda" else meta["cpu_floor"]
    if args.set_floor and mode == "cuda" and implied is not None:
        set_gpu_floor(implied)
        current = implied
    rows = []
    for name, result in results.items():
        loss = result["details"].get("loss")
        rescored = math.log(loss - implied) if loss is not None and implied else None
        rows.append((name, loss, result["score"], rescored, result["message"].get("error")))
    print(f"\ndevice: {meta['device']}; build: {json.dumps(meta['train'])}")
    print(f"original loss {original_loss}; implied floor (loss - {FLOOR_GAP}) {implied}; ")
    print(f"floor in use {current} (GPU_FLOOR in scoring/score.py on the GPU)\n")
    print(f"| solution | loss | score (floor {current:.4f}) | score (implied floor) | error |")
    print("| --- | --- | --- | --- | --- |")
    for name, loss, score_now, rescored, error in rows:
        loss_text = f"{loss:.4f}" if loss is not None else "-"
        rescored_text = f"{rescored:.4f}" if rescored is not None else "-"
        print(f"| {name} | {loss_text} | {score_now:.4f} | {rescored_text} | {error or ''} |")
    print("\n| step | seconds |\n| --- | --- |")
    for what, seconds in times.items():
        print(f"| {what} | {seconds} |")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "device": meta["device"],
        "torch": torch.__version__,
        "python": platform.python_version(),
        "meta": meta,
        "times_s": times,
        "floor_in_use": current,
        "implied_floor": implied,
        "results": results,
        # The scores under the floor in force: y_s and y_r once GPU_FLOOR is set from this run.
        "start": {"score": _under(results["start"], current)},
        "reference": {"score": _under(results["reference"], current)},
        "reference_log": recipe.stdout[-20000:],
        "reference_exit": recipe.returncode,
    }
    (args.out / "calibration.json").write_text(json.dumps(report, indent=2, default=str))
    shutil.rmtree(home, ignore_errors=True)
    return 0 if recipe.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
