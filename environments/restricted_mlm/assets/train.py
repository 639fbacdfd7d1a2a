"""Train submission/model.py as a masked LM and write its weights to submission/model.pt.

    python train.py [--model submission/model.py] [--out submission/model.pt]
                    [--steps N | --minutes M] [--batch-size 64] [--lr 1e-3]

It builds the model with build_model(vocab_size=8192, seq_len=128), trains it on data/train.npy
with 15% of positions replaced by [MASK] (lmkit.data.mlm_batch; the loss counts the masked
positions only), AdamW with warm-up and cosine decay, bf16 autocast on the GPU (lmkit.train),
and saves the state_dict. With --minutes it first times a few steps on a copy of the model and
picks the number of steps that fits. It prints the training loss and, at the end, the loss on a
held-out slice of data/train.npy (the task's own validation data is not in this folder).

Training may use any operations; only the model's forward pass is restricted (README.md).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # lmkit, copied next to this script

import numpy as np  # noqa: E402
import torch  # noqa: E402
from lmkit import data, hardware  # noqa: E402
from lmkit.train import TrainConfig, evaluate, train  # noqa: E402
from torch import nn  # noqa: E402

VOCAB_SIZE, SEQ_LEN, MASK_ID = 8192, 128, 1
HELD_OUT = 200_000  # tokens at the end of train.npy kept for the final check


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"model_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    spec.loader.exec_module(module)
    return module


def train_submission(
    model_py: Path,
    out: Path,
    tokens: np.ndarray,
    *,
    steps: int = 0,
    seconds: float = 0.0,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    vocab_size: int = VOCAB_SIZE,
    mask_id: int = MASK_ID,
    device: str | None = None,
    quiet: bool = False,
    prepare: Callable[[nn.Module, np.ndarray], None] | None = None,
) -> dict:
    """Train model_py's model on ``tokens`` for ``steps`` (or as many as fit in ``seconds``) and
    save its state_dict to ``out``. ``prepare(model, tokens)``, if given, runs first (e.g. to
    initialise weights from the data). Returns what happened (steps, losses, seconds)."""
    where = device or hardware.device()
    hardware.seed_everything(seed)
    model = load_module(model_py).build_model(vocab_size, SEQ_LEN).to(where)
    held = min(HELD_OUT, len(tokens) // 10)
    train_tokens, check_tokens = tokens[: len(tokens) - held], tokens[len(tokens) - held :]
    if prepare is not None:
        prepare(model, train_tokens)
    started = time.monotonic()
    if seconds and not steps:
        probe = TrainConfig(steps=12, batch_size=batch_size, seq_len=SEQ_LEN, lr=lr, seed=seed)
        spent = train(
            copy.deepcopy(model),
            train_tokens,
            probe,
            device=where,
            objective="mlm",
            mask_id=mask_id,
        )["seconds"]
        left = seconds - (time.monotonic() - started)
        steps = max(20, int(left / (spent / probe.steps)))
    config = TrainConfig(steps=steps, batch_size=batch_size, seq_len=SEQ_LEN, lr=lr, seed=seed)

    def log(step: int, loss: float, rate: float) -> None:
        if not quiet:
            print(f"step {step:6d}  loss {loss:.4f}  lr {rate:.2e}", flush=True)

    result = train(
        model,
        train_tokens,
        config,
        device=where,
        objective="mlm",
        mask_id=mask_id,
        log=log,
        log_every=max(1, steps // 20),
    )
    checks = data.eval_batches(
        check_tokens, SEQ_LEN, min(batch_size, 32), 4, seed=1, objective="mlm", mask_id=mask_id
    )
    held_loss = evaluate(model, checks, device=where)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    partial = out.with_name(out.name + ".partial")
    torch.save(state, partial)
    partial.replace(out)
    summary = {
        "steps": steps,
        "final_train_loss": result["final_loss"],
        "held_out_loss": held_loss,
        "seconds": time.monotonic() - started,
        "device": where,
    }
    if not quiet:
        print(summary, flush=True)
    return summary


def unigram_bias(model: nn.Module, tokens: np.ndarray, vocab_size: int = VOCAB_SIZE) -> None:
    """Set the output layer's bias (``model.head``) to the log frequency of each token, so the
    model predicts the unigram distribution before any training step (smoothed by one count)."""
    counts = np.bincount(np.asarray(tokens, dtype=np.int64), minlength=vocab_size) + 1.0
    with torch.no_grad():
        model.head.bias.copy_(torch.from_numpy(np.log(counts / counts.sum())).float())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=HERE / "submission" / "model.py")
    parser.add_argument("--out", type=Path, default=HERE / "submission" / "model.pt")
    parser.add_argument("--data", type=Path, default=HERE / "data" / "train.npy")
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--unigram-bias",
        action="store_true",
        help="start the output bias (model.head.bias) at the tokens' log frequencies",
    )
    args = parser.parse_args()
    if not args.steps and not args.minutes:
        args.steps = 1000
    tokens = np.load(args.data, mmap_mode="r")
    train_submission(
        args.model,
        args.out,
        tokens,
        steps=args.steps,
        seconds=args.minutes * 60,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        prepare=unigram_bias if args.unigram_bias else None,
    )


if __name__ == "__main__":
    main()
