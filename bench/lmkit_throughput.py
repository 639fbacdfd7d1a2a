"""Training throughput of lmkit's transformer at the sizes the language-model families use, so
their GPU budgets (install builds, reference recipes, the scaling-law sweep) rest on measured
tokens per second rather than guesses. Prints one line per configuration.

    python3 bench/lmkit_throughput.py [--steps 40]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "environments" / "_shared"))

from lmkit.hardware import describe, device
from lmkit.model import ModelConfig, Transformer
from lmkit.train import TrainConfig, train

CONFIGS = [  # name, layers, width, heads, seq, batch, causal
    ("small 4x256", 4, 256, 4, 256, 64, True),
    ("large 8x512", 8, 512, 8, 256, 64, True),
    ("large 8x512 b128", 8, 512, 8, 256, 128, True),
    ("mlm 4x256 s128", 4, 256, 4, 128, 128, False),
    ("width 128 4L", 4, 128, 2, 256, 64, True),
    ("width 768 4L", 4, 768, 12, 256, 64, True),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    where = device()
    print(f"device {describe(where)}, torch {torch.__version__}")
    tokens = np.random.default_rng(0).integers(3, 8192, 2_000_000).astype(np.uint16)
    print(f"{'config':<18} {'params M':>9} {'ms/step':>8} {'tok/s M':>8} {'TFLOP/s':>8}")
    for name, layers, width, heads, seq, batch, causal in CONFIGS:
        config = ModelConfig(8192, layers, heads, width, seq, causal)
        model = Transformer(config)
        mode = "causal" if causal else "mlm"
        warm = TrainConfig(steps=5, batch_size=batch, seq_len=seq)
        train(model, tokens, warm, device=where, objective=mode, mask_id=1)
        timed = TrainConfig(steps=args.steps, batch_size=batch, seq_len=seq)
        started = time.monotonic()
        train(model, tokens, timed, device=where, objective=mode, mask_id=1)
        seconds = time.monotonic() - started
        per_step = seconds / args.steps
        rate = batch * seq / per_step
        flops = config.flops_per_token() * rate
        params = model.num_params() / 1e6
        figures = f"{params:>9.1f} {per_step * 1e3:>8.1f} {rate / 1e6:>8.2f} {flops / 1e12:>8.1f}"
        print(f"{name:<18} {figures}")


if __name__ == "__main__":
    main()
