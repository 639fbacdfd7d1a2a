"""Reference recipe for scaling_law: small runs under the cap, a Chinchilla-style fit, an answer.

Run in the task folder (next to train.py and config.json): `python3 reference_solution.py`.

1. Train narrow models (n_embd = 1..6 * head_dim) at the cap, half of it and a quarter of it,
   through train.py's own run() (so each run is capped and logged like any other), skipping
   runs shorter than MIN_STEPS steps.
2. Fit L(N, D) = E + A·N^-alpha + B·D^-beta to their dev losses, with N = flops_per_token / 6
   (the model's weights as the FLOP count sees them) and D the tokens trained on: alpha and
   beta on a grid, E, A, B by least squares held non-negative.
3. For every width of the answer's range, take the steps that spend C, predict the loss, and
   answer the width with the lowest prediction; the predicted loss is kept between the fit's E
   and the lowest dev loss seen (more compute does not make a model worse).

About 10-20 s on an H100 (14 runs of 11-177 steps, 617 in all); seconds on a CPU in tiny mode.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import train

HERE = Path(__file__).resolve().parent
MIN_STEPS = 10
MIN_STEPS_TINY = 3  # CPU mode: its cap leaves only a few steps
MULTIPLES = (1, 2, 3, 4, 5, 6)
BUDGETS = (1.0, 0.5, 0.25)  # of the cap
GRID = np.arange(0.05, 1.51, 0.05)


def plan(config: dict) -> list[tuple[int, int]]:
    least = MIN_STEPS if config["mode"] == "gpu" else MIN_STEPS_TINY
    cap = train.cap(config)
    runs = []
    for k in MULTIPLES:
        n_embd = k * config["head_dim"]
        if n_embd > config["max_width"]:
            break
        per_step = train.flops(config, n_embd, 1)
        for share in BUDGETS:
            steps = int(share * cap // per_step)
            if steps >= least:
                runs.append((n_embd, steps))
    return runs


def features(config: dict, n_embd: int, steps: int) -> tuple[float, float]:
    """(N, D): the weights the FLOP count sees, and the tokens trained on."""
    per_token = train.flops(config, n_embd, 1) / (config["batch_size"] * config["seq_len"])
    return per_token / 6, steps * config["batch_size"] * config["seq_len"]


def fit(points: list[tuple[float, float, float]]) -> tuple[float, float, float, float, float]:
    """(E, A, alpha, B, beta) minimising squared error over (N, D, loss), E, A, B >= 0."""
    n = np.array([p[0] for p in points])
    d = np.array([p[1] for p in points])
    y = np.array([p[2] for p in points])
    best = (math.inf, (float(y.min()), 0.0, 0.5, 0.0, 0.5))
    for alpha, beta in itertools.product(GRID, GRID):
        columns = np.stack([np.ones_like(n), n**-alpha, d**-beta], axis=1)
        for keep in itertools.product((True, False), repeat=3):
            if not any(keep):
                continue
            chosen = columns[:, list(keep)]
            coef, *_ = np.linalg.lstsq(chosen, y, rcond=None)
            if (coef < 0).any():
                continue
            full = np.zeros(3)
            full[list(keep)] = coef
            error = float(((columns @ full - y) ** 2).sum())
            if error < best[0]:
                best = (error, (full[0], full[1], float(alpha), full[2], float(beta)))
    return best[1]


def predict(params: tuple[float, float, float, float, float], n: float, d: float) -> float:
    e, a, alpha, b, beta = params
    return e + a * n**-alpha + b * d**-beta


def main() -> None:
    config = train.load_config()
    records = []
    for n_embd, steps in plan(config):
        record = train.run(n_embd, steps, config=config)
        records.append(record)
        print(json.dumps(record), flush=True)
    points = [(*features(config, r["n_embd"], r["max_iters"]), r["dev_loss"]) for r in records]
    params = fit(points)
    print(
        f"fit: E {params[0]:.4f} A {params[1]:.4g} alpha {params[2]:.2f} "
        f"B {params[3]:.4g} beta {params[4]:.2f}"
    )
    budget = config["budget_flops"]
    widths = config["table_widths"]
    candidates = []
    for n_embd in range(min(widths), max(widths) + 1, config["head_dim"]):
        steps = int(budget // train.flops(config, n_embd, 1))
        candidates.append((predict(params, *features(config, n_embd, steps)), n_embd, steps))
    loss, n_embd, steps = min(candidates)
    seen = min(r["dev_loss"] for r in records)
    loss = min(max(loss, params[0]), seen)
    answer = {"n_embd": n_embd, "max_iters": steps, "loss": round(float(loss), 4)}
    (HERE / "answer.json").write_text(json.dumps(answer) + "\n")
    print("answer:", json.dumps(answer))
    _, text = train.check_answer(HERE / "answer.json", config)
    print(text)


if __name__ == "__main__":
    main()
