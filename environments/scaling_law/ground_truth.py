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


def _one_run(
    trainer,
    setup: Setup,
    n_embd: int,
    fraction: float,
    train_part,
    dev,
    val_tokens,
    device: str,
    seed: int,
) -> dict:
    """Train one model of the table for ``fraction`` of C and evaluate it."""
    config = setup.as_json()
    steps = max(1, round(fraction * setup.budget_flops / setup.flops(n_embd, 1)))
    started = time.monotonic()
    model, stats = trainer.train_model(config, n_embd, steps, train_part, seed=seed, device=device)
    trained_s = time.monotonic() - started
    val = trainer.evaluate_on(model, val_tokens, config, setup.val_batches, VAL_SEED, device)
    dev_loss = trainer.evaluate_on(model, dev, config, setup.dev_batches, trainer.DEV_SEED, device)
    spent = setup.flops(n_embd, steps)
    return {
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


_WORKER: dict = {}


def _worker_init(setup: Setup, train_part, dev, val_tokens, device: str, seed: int) -> None:
    """Each worker process loads train.py and receives the token arrays once."""
    _WORKER.update(
        trainer=train_module(),
        setup=setup,
        train_part=train_part,
        dev=dev,
        val_tokens=val_tokens,
        device=device,
        seed=seed,
    )


def _worker_run(n_embd: int, fraction: float) -> dict:
    w = _WORKER
    return _one_run(
        w["trainer"],
        w["setup"],
        n_embd,
        fraction,
        w["train_part"],
        w["dev"],
        w["val_tokens"],
        w["device"],
        w["seed"],
    )


def build(
    setup: Setup,
    train_tokens: np.ndarray,
    val_tokens: np.ndarray,
    device: str,
    *,
    seed: int = 0,
    widths: tuple[int, ...] | None = None,
    jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Train and evaluate every run of the table; returns the table as JSON-ready data.

    ``jobs`` > 1 trains that many runs at once in separate processes on the same device: the
    table's models are small enough that one run leaves an H100 mostly idle (launch-bound), so
    concurrent runs finish the sweep several times sooner. Each run's losses do not depend on
    it (same seed, same data, its own process); its train_seconds then include the sharing.
    """
    trainer = train_module()
    config = setup.as_json()
    train_part, dev = trainer.split(np.asarray(train_tokens), config)
    val_tokens = np.asarray(val_tokens)
    cells = [(n, f) for n in (widths or setup.table_widths) for f in FRACTIONS]

    def report(run: dict) -> None:
        if progress:
            progress(
                f"n_embd {run['n_embd']:4d} x{run['fraction']:.2f} {run['max_iters']:6d} steps  "
                f"val {run['val_loss']:.4f}  dev {run['dev_loss']:.4f}  "
                f"train {run['train_loss']:.4f}  {run['train_seconds']:6.1f} s"
            )

    if jobs <= 1:
        runs = []
        for n_embd, fraction in cells:
            runs.append(
                _one_run(
                    trainer, setup, n_embd, fraction, train_part, dev, val_tokens, device, seed
                )
            )
            report(runs[-1])
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        by_cell: dict[tuple[int, float], dict] = {}
        with ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(setup, train_part, dev, val_tokens, device, seed),
        ) as pool:
            # Narrow models take the most steps: start them first.
            order = sorted(cells, key=lambda c: -setup.budget_flops * c[1] / setup.flops(c[0], 1))
            futures = {pool.submit(_worker_run, *cell): cell for cell in order}
            for future, cell in futures.items():
                by_cell[cell] = future.result()
                report(by_cell[cell])
        runs = [by_cell[cell] for cell in cells]
    return {
        "setup": config,
        "environment": environment(device),
        "seed": seed,
        "jobs": jobs,
        "train_tokens": len(train_tokens),
        "val_tokens": len(val_tokens),
        "runs": runs,
    }
