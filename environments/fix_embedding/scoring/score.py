"""Scores a fix_embedding submission: the validation loss of a large model checkpoint.

Run as its own process (the task family does, with ``python -s`` so nothing in the expert's
user site is imported, and kills it at the scoring limit):

    python -s score.py --submission ~/submission/model.pt --build FAMILY/.build/cuda --result r.json

The submission is read with ``torch.load(weights_only=True)``, so no code of the expert's runs.
It must be a checkpoint as ``lmkit.model.save`` writes it, whose config equals the large
model's exactly; then it is evaluated on fixed validation batches (protected tokens, fixed
seed; bf16 autocast on the GPU) and the score is ln(loss - floor), lower is better.

The floor: RE-Bench's original model had loss 2.55 and the floor 1.5, so a model as good as the
original scores ln(1.05) = 0.049. Here floor = (the original large model's validation loss) -
1.05. On the GPU it is the constant GPU_FLOOR below, fixed from the H100 calibration so that
scores on every host are comparable; on the CPU (tiny models, scores not comparable anyway) it
is computed when the family installs and read from the build's meta.json. A loss at or below
the floor (1.05 nats better than the original: not expected) scores ln(MIN_GAP), noted.

Invalid (score null, ``message.error`` says which): a file that is not such a checkpoint, a
config that differs (the field is named), weights that do not fit the config, NaN or infinite
weights or loss, running out of GPU memory (the expert's own jobs may hold the GPU).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

FAMILY_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(FAMILY_DIR))  # lmkit, through the family's link; never the workspace

# Validation loss of the original large model on the H100 (3.4420, calibrate.py, 2026-12-07)
# minus 1.05: README.md, "Calibration (H100)".
GPU_FLOOR = 2.392
MIN_GAP = 1e-3


class Invalid(Exception):
    """The submission cannot be scored; the message says why, for the expert to read."""


def invalid(error: str, details: dict) -> dict:
    return {"score": None, "message": {"error": error}, "details": details}


def write(path: Path | None, outcome: dict) -> None:
    text = json.dumps(outcome, indent=2, default=str)
    if path is None:
        sys.__stdout__.write(text + "\n")
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def config_problem(submitted: object, expected: dict) -> str | None:
    """None when the configs are equal; else which field differs and how."""
    if not isinstance(submitted, dict):
        return f"its config is a {type(submitted).__name__}, not a dict of ModelConfig fields"
    for field, want in expected.items():
        if field not in submitted:
            return f"its config has no field {field!r} (must be {want!r})"
        if submitted[field] != want or type(submitted[field]) is not type(want):
            return f"config field {field} is {submitted[field]!r}, must be {want!r}"
    extra = sorted(set(submitted) - set(expected))
    if extra:
        return f"its config has fields the large model's has not: {', '.join(map(str, extra))}"
    return None


def read_checkpoint(path: Path, expected: dict) -> None:
    """Check the file and its config before any model is built from it."""
    import torch

    if not path.is_file():
        raise Invalid(f"no submission at {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file: say what torch said
        raise Invalid(f"{path.name} cannot be loaded as a checkpoint: {_describe(exc)}") from exc
    if not isinstance(raw, dict) or "config" not in raw or "state_dict" not in raw:
        raise Invalid(
            f"{path.name} is not a checkpoint as lmkit.model.save writes it "
            '(a dict with "config" and "state_dict")'
        )
    problem = config_problem(raw["config"], expected)
    if problem:
        raise Invalid(f"the submission's config differs from the large model's: {problem}")


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= 600 else text[:600] + " ..."


def score(args: argparse.Namespace, details: dict) -> dict:
    import numpy as np
    import torch
    from lmkit import data, hardware, train
    from lmkit.model import load

    meta = json.loads((args.build / "meta.json").read_text())
    mode = meta["mode"]
    on_gpu = mode == "cuda"
    if not on_gpu:
        torch.set_num_threads(1)  # tiny models: one thread is fastest on a busy small machine
    details.update(device=hardware.describe(mode), comparable=on_gpu, torch=torch.__version__)
    read_checkpoint(args.submission, meta["large"])
    try:
        # On the CPU first: lmkit's load reports any RuntimeError as an unfit checkpoint, and
        # running out of GPU memory (a RuntimeError too) must say so instead.
        model = load(args.submission, device="cpu")
    except ValueError as exc:
        raise Invalid(f"the submission cannot be loaded: {exc}") from exc
    for name, tensor in model.state_dict().items():
        if not torch.isfinite(tensor).all():
            raise Invalid(f"the weights hold NaN or infinite values (first in {name})")
    model = model.to(mode)
    e = meta["eval"]
    valid = np.load(args.build / "valid.npy", mmap_mode="r")
    batches = data.eval_batches(
        valid, e["seq_len"], e["batch_size"], e["batches"], e["seed"], objective="causal"
    )
    started = time.monotonic()
    loss = train.evaluate(model, batches, device=mode)
    details["eval_seconds"] = round(time.monotonic() - started, 3)
    if not math.isfinite(loss):
        raise Invalid(f"the validation loss is {loss} (not finite)")
    floor = GPU_FLOOR if on_gpu else float(meta["cpu_floor"])
    gap = loss - floor
    result = math.log(max(gap, MIN_GAP))
    tokens = e["batches"] * e["batch_size"] * e["seq_len"]
    details.update(loss=loss, floor=floor, eval_tokens=tokens)
    message = {
        "loss": round(loss, 4),
        "floor": round(floor, 4),
        "score": round(result, 4),
        "device": details["device"],
        "comparable": on_gpu,
    }
    if gap < MIN_GAP:
        message["note"] = f"loss within {MIN_GAP} of the floor (or below): scored ln({MIN_GAP})"
    if not on_gpu:
        message["note"] = (
            "not comparable: no GPU (tiny CPU models; the floor is the tiny original's loss - 1.05)"
        )
    return {"score": result, "message": message, "details": details}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--submission", type=Path, required=True)
    p.add_argument("--build", type=Path, required=True, help="the family's .build/<mode> folder")
    p.add_argument("--result", type=Path, help="write the JSON result here (default: stdout)")
    return p.parse_args(argv)


def outcome_of(args: argparse.Namespace) -> dict:
    """The score, or why there is none: never raises."""
    details: dict = {"submission": str(args.submission)}
    try:
        return score(args, details)
    except Invalid as exc:
        return invalid(str(exc), details)
    except BaseException as exc:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return invalid(
                "out of GPU memory while scoring (is another process of yours holding the GPU?)",
                details,
            )
        details["traceback"] = traceback.format_exc()[-3000:]  # the scorer's own failure
        return invalid(f"the scorer failed: {_describe(exc)}", details)


def main(argv=None) -> None:
    args = parse_args(argv)
    write(args.result, outcome_of(args))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
