"""The reference recipe: train submission/model.py (the reference's window-mixing model, laid
over the task folder with it) with the expert's own train.py, and write submission/model.pt.

    python3 reference_solution.py

On the GPU it trains for REFERENCE_GPU_STEPS (a fixed number, so y_r is the same model on any
card; 29 s on an H100); on the CPU a few dozen steps of a tiny version.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import train  # noqa: E402  ($HOME/train.py)
from lmkit import hardware  # noqa: E402

REFERENCE_GPU_STEPS = 1500
CPU_STEPS = 30
BATCH_SIZE = {"cuda": 128, "cpu": 8}
LR = {"cuda": 2e-3, "cpu": 1e-2}


def main() -> None:
    where = hardware.device()
    tokens = np.load(HERE / "data" / "train.npy", mmap_mode="r")
    train.train_submission(
        HERE / "submission" / "model.py",
        HERE / "submission" / "model.pt",
        tokens,
        steps=CPU_STEPS if where == "cpu" else REFERENCE_GPU_STEPS,
        batch_size=BATCH_SIZE[where],
        lr=LR[where],
        device=where,
        prepare=train.unigram_bias,  # the head starts at the tokens' log frequencies
    )


if __name__ == "__main__":
    main()
