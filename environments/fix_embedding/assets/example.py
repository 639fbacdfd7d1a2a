"""An example to start from: load the models, measure them, train a little, save a submission.

    python3 example.py

It measures the broken large model and the small one on a held-out slice of the training
tokens (the scorer uses separate, hidden validation text, so expect its loss to differ a
little), trains the large model as it is for a few steps, and saves it to submission/model.pt.
Training the broken model as it is works poorly: that is the task.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from lmkit import data, hardware
from lmkit.model import load, save
from lmkit.train import TrainConfig, evaluate, train

HOME = Path(__file__).resolve().parent


def main() -> None:
    device = hardware.device()
    tokens = np.load(HOME / "data" / "train.npy", mmap_mode="r")
    held_out, tokens = tokens[: len(tokens) // 50], tokens[len(tokens) // 50 :]
    large = load(HOME / "large_model.pt", device=device)
    small = load(HOME / "small_model.pt", device=device)
    print("large:", large.config, f"{large.num_params():,} parameters")
    print("small:", small.config, f"{small.num_params():,} parameters")
    batches = data.eval_batches(held_out, large.config.seq_len, 8, 8, seed=0, objective="causal")
    print(
        f"held-out loss: large {evaluate(large, batches, device=device):.3f}, "
        f"small {evaluate(small, batches, device=device):.3f}"
    )

    steps = 200 if device == "cuda" else 10
    how = TrainConfig(steps=steps, batch_size=32, seq_len=large.config.seq_len, lr=3e-4)
    print(
        train(
            large,
            tokens,
            how,
            device=device,
            log=lambda step, loss, lr: print(step, round(loss, 3)),
        )
    )
    print(f"held-out loss after training: {evaluate(large, batches, device=device):.3f}")
    save(large, HOME / "submission" / "model.pt")  # then run `task score`


if __name__ == "__main__":
    main()
