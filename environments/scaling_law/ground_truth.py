"""The ground-truth table: real runs at the target budget across widths, each scored on the
protected validation split.

For every width of the setup's table and every fraction in 0.9, 1.0, 1.1 of the budget, one
model is trained with the workspace's own ``train.py`` code (``train_model``: the same model,
data, schedule and seed as the expert's runs; only the cap is not applied) for the steps that
spend that fraction of C, then evaluated on fixed batches of the validation split (and of the
dev slice, for the README's dev-to-validation offset). On the GPU, calibrate.py --sweep builds
it once on an H100 and it is committed as scoring/ground_truth_h100.json; on a CPU, install()
builds a tiny one in .build/.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scaling_setup import FRACTIONS, Setup

FAMILY_DIR = Path(__file__).resolve().parent
TRAIN_SCRIPT = FAMILY_DIR / "assets" / "train.py"
VAL_SEED = 4321  # the validation split's fixed evaluation batches


def train_module():
    """assets/train.py as a module (lmkit resolves through the family's link)."""
    if str(FAMILY_DIR) not in sys.path:
        sys.path.insert(0, str(FAMILY_DIR))
    spec = importlib.util.spec_from_file_location("scaling_law_train", TRAIN_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def environment(device: str) -> dict:
    import torch
    from lmkit.hardware import describe

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "device": device,
        "card": describe(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": sys.version.split()[0],
    }


def build(
    setup: Setup,
    train_tokens: np.ndarray,
    val_tokens: np.ndarray,
    device: str,
    *,
    seed: int = 0,
    widths: tuple[int, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Train and evaluate every run of the table; returns the table as JSON-ready data."""
    trainer = train_module()
    config = setup.as_json()
    train_part, dev = trainer.split(np.asarray(train_tokens), config)
    runs = []
    for n_embd in widths or setup.table_widths:
        for fraction in FRACTIONS:
            steps = max(1, round(fraction * setup.budget_flops / setup.flops(n_embd, 1)))
            started = time.monotonic()
            model, stats = trainer.train_model(
                config, n_embd, steps, train_part, seed=seed, device=device
            )
            trained_s = time.monotonic() - started
            val = trainer.evaluate_on(
                model, val_tokens, config, setup.val_batches, VAL_SEED, device
            )
            dev_loss = trainer.evaluate_on(
                model, dev, config, setup.dev_batches, trainer.DEV_SEED, device
            )
            spent = setup.flops(n_embd, steps)
            run = {
                "n_embd": n_embd,
                "max_iters": steps,
                "flops": spent,
                "fraction": spent / setup.budget_flops,
                "val_loss": val,
                "dev_loss": dev_loss,
                "train_loss": stats["final_loss"],
                "train_seconds": round(trained_s, 3),
                "ms_per_step": round(1000 * trained_s / steps, 3),
            }
            runs.append(run)
            if progress:
                progress(
                    f"n_embd {n_embd:4d} x{fraction:.1f} {steps:6d} steps  val {val:.4f}  "
                    f"dev {dev_loss:.4f}  train {stats['final_loss']:.4f}  {trained_s:6.1f} s"
                )
            del model
    return {
        "setup": config,
        "environment": environment(device),
        "seed": seed,
        "train_tokens": len(train_tokens),
        "val_tokens": len(val_tokens),
        "runs": runs,
    }
