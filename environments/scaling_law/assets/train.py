"""Train one model of this task's fixed family, under the FLOP cap, and log the run.

    python3 train.py --n_embd 128 --max_iters 200 [--seed 0]
    python3 train.py --flops 128 2000        # FLOPs of a run, and how it compares with C
    python3 train.py --check                 # is answer.json well formed and within budget?

Everything except the width (n_embd) and the number of steps (max_iters) is fixed by
config.json: a causal transformer from lmkit with n_layer layers, n_head = n_embd / head_dim,
seq_len, batch_size, AdamW with the learning-rate schedule of lmkit.train (linear warm-up over
5% of the steps, cosine decay to min_lr_ratio of the peak). A run's FLOPs are

    flops_per_token(n_embd) * batch_size * seq_len * max_iters
    flops_per_token = 6*(12*n_layer*n_embd**2 + n_embd*vocab_size) + 6*n_layer*seq_len*n_embd

(lmkit.model.ModelConfig.flops_per_token). A run over C / cap_divisor is refused. Each run
trains on data/train_tokens.npy without its last dev_tokens tokens (the dev slice), reports the
mean training loss of its last tenth of steps and the loss on fixed batches of the dev slice,
and appends one JSON line to runs.jsonl. Import it to run from Python: ``train.run(128, 200)``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "config.json"
TOKENS = HERE / "data" / "train_tokens.npy"
LOG = HERE / "runs.jsonl"
ANSWER = HERE / "answer.json"
DEV_SEED = 1234  # the dev slice's fixed evaluation batches


class OverCap(ValueError):
    """A run that would spend more than the cap."""


def load_config(path: Path = CONFIG) -> dict:
    return json.loads(Path(path).read_text())


def model_config(config: dict, n_embd: int):
    from lmkit.model import ModelConfig

    check_width(config, n_embd)
    return ModelConfig(
        vocab_size=config["vocab_size"],
        n_layer=config["n_layer"],
        n_head=n_embd // config["head_dim"],
        n_embd=n_embd,
        seq_len=config["seq_len"],
        causal=True,
    )


def check_width(config: dict, n_embd: int) -> None:
    head_dim = config["head_dim"]
    if isinstance(n_embd, bool) or not isinstance(n_embd, int):
        raise ValueError(f"n_embd must be an integer (is {n_embd!r})")
    if n_embd < head_dim or n_embd % head_dim or n_embd > config["max_width"]:
        raise ValueError(
            f"n_embd must be a multiple of {head_dim} from {head_dim} to {config['max_width']} "
            f"(is {n_embd})"
        )


def flops(config: dict, n_embd: int, max_iters: int) -> int:
    """Training FLOPs of a run: lmkit's flops_per_token * batch_size * seq_len * max_iters."""
    per_token = model_config(config, n_embd).flops_per_token()
    return per_token * config["batch_size"] * config["seq_len"] * max_iters


def cap(config: dict) -> float:
    return config["budget_flops"] / config["cap_divisor"]


def split(tokens: np.ndarray, config: dict) -> tuple[np.ndarray, np.ndarray]:
    """Training tokens and the dev slice (the last dev_tokens tokens, never trained on)."""
    return tokens[: -config["dev_tokens"]], tokens[-config["dev_tokens"] :]


@contextlib.contextmanager
def one_thread_on_cpu(device: str) -> Iterator[None]:
    """Tiny CPU models run fastest on one thread, and a busy machine does not slow them."""
    import torch

    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_model(
    config: dict,
    n_embd: int,
    max_iters: int,
    tokens: np.ndarray,
    *,
    seed: int = 0,
    device: str | None = None,
):
    """Build and train one model on ``tokens`` (no cap, no log: run() adds those; the rule
    that a run spends at most C / cap_divisor holds however a run is made). Returns (model,
    lmkit.train's stats). The ground-truth table was trained with this function."""
    from lmkit.hardware import device as pick_device
    from lmkit.hardware import seed_everything
    from lmkit.model import Transformer
    from lmkit.train import TrainConfig, train

    where = device or pick_device()
    seed_everything(seed)
    model = Transformer(model_config(config, n_embd))
    settings = TrainConfig(
        steps=max_iters,
        batch_size=config["batch_size"],
        seq_len=config["seq_len"],
        lr=config["lr"],
        min_lr_ratio=config["min_lr_ratio"],
        weight_decay=config["weight_decay"],
        grad_clip=config["grad_clip"],
        seed=seed,
    )
    with one_thread_on_cpu(where):
        stats = train(model, tokens, settings, device=where)
    return model, stats


def evaluate_on(model, tokens: np.ndarray, config: dict, count: int, seed: int, device: str):
    """Mean loss on ``count`` fixed batches of ``tokens`` (the same batches every time)."""
    from lmkit.data import eval_batches
    from lmkit.train import evaluate

    batches = eval_batches(
        tokens, config["seq_len"], config["batch_size"], count, seed, objective="causal"
    )
    with one_thread_on_cpu(device):
        return evaluate(model, batches, device=device)


def run(
    n_embd: int,
    max_iters: int,
    *,
    seed: int = 0,
    config: dict | None = None,
    tokens: np.ndarray | None = None,
    log: Path | None = LOG,
    device: str | None = None,
) -> dict:
    """Train, evaluate on the dev slice and log one run; OverCap if it would spend more than
    C / cap_divisor FLOPs."""
    from lmkit.hardware import device as pick_device

    config = config or load_config()
    if isinstance(max_iters, bool) or not isinstance(max_iters, int) or max_iters < 1:
        raise ValueError(f"max_iters must be a positive integer (is {max_iters!r})")
    spent = flops(config, n_embd, max_iters)
    if spent > cap(config):
        raise OverCap(
            f"refused: n_embd {n_embd} for {max_iters} steps is {spent:.4g} FLOPs, over the cap "
            f"of {cap(config):.4g} (C / {config['cap_divisor']}); at this width at most "
            f"{int(cap(config) // (spent / max_iters))} steps"
        )
    where = device or pick_device()
    all_tokens = np.load(TOKENS, mmap_mode="r") if tokens is None else tokens
    train_tokens, dev = split(np.asarray(all_tokens), config)
    started = time.monotonic()
    model, stats = train_model(config, n_embd, max_iters, train_tokens, seed=seed, device=where)
    dev_loss = evaluate_on(model, dev, config, config["dev_batches"], DEV_SEED, where)
    record = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "n_embd": n_embd,
        "max_iters": max_iters,
        "seed": seed,
        "flops": spent,
        "cap_fraction": round(spent / cap(config), 6),
        "train_loss": round(stats["final_loss"], 6),
        "dev_loss": round(dev_loss, 6),
        "tokens": stats["tokens"],
        "seconds": round(time.monotonic() - started, 3),
        "device": where,
    }
    if log is not None:
        with Path(log).open("a") as out:
            out.write(json.dumps(record) + "\n")
    return record


def check_answer(path: Path = ANSWER, config: dict | None = None) -> tuple[bool, str]:
    """What the scorer checks before it looks anything up: the keys and their types, the width's
    range and the FLOPs' range. (The scorer's own checks are the ones that count.)"""
    config = config or load_config()
    low_w, high_w = min(config["table_widths"]), max(config["table_widths"])
    try:
        answer = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        return False, f"cannot read {path}: {exc}"
    if not isinstance(answer, dict):
        return False, "answer.json must hold an object {n_embd, max_iters, loss}"
    for key, kinds in (("n_embd", int), ("max_iters", int), ("loss", (int, float))):
        value = answer.get(key)
        if isinstance(value, bool) or not isinstance(value, kinds):
            return False, f"{key} is missing or not a number of the right kind ({value!r})"
    if not math.isfinite(answer["loss"]):
        return False, "loss is not finite"
    n_embd, max_iters = answer["n_embd"], answer["max_iters"]
    if n_embd % config["head_dim"] or not low_w <= n_embd <= high_w:
        return False, (
            f"n_embd must be a multiple of {config['head_dim']} from {low_w} to {high_w} "
            f"(is {n_embd})"
        )
    if max_iters < 1:
        return False, "max_iters must be at least 1"
    spent = flops(config, n_embd, max_iters)
    budget = config["budget_flops"]
    ratio = spent / budget
    low, high = min(config["fractions"]), max(config["fractions"])
    ok = low <= ratio <= high
    verdict = "within" if ok else "OUTSIDE"
    return ok, (
        f"n_embd {n_embd}, max_iters {max_iters}: {spent:.4g} FLOPs = {ratio:.4f} C, {verdict} "
        f"the allowed {low}-{high} C ({low * budget:.4g} to {high * budget:.4g} FLOPs)"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n_embd", type=int)
    p.add_argument("--max_iters", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flops", nargs=2, type=int, metavar=("N_EMBD", "MAX_ITERS"))
    p.add_argument("--check", action="store_true", help="check answer.json")
    args = p.parse_args(argv)
    config = load_config()
    if args.check:
        ok, text = check_answer(config=config)
        print(text)
        return 0 if ok else 1
    if args.flops:
        n_embd, max_iters = args.flops
        spent = flops(config, n_embd, max_iters)
        print(
            f"{spent:.6g} FLOPs = {spent / config['budget_flops']:.4f} C = "
            f"{spent / cap(config):.4f} of the cap (C / {config['cap_divisor']})"
        )
        return 0
    if args.n_embd is None or args.max_iters is None:
        p.error("give --n_embd and --max_iters (or --flops, or --check)")
    try:
        record = run(args.n_embd, args.max_iters, seed=args.seed, config=config)
    except ValueError as exc:  # OverCap included
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
