"""Builds fix_embedding's models into ``.build/<mode>/`` from the corpus and fixed seeds.

What it makes, for one device mode ("cuda": the real task; "cpu": tiny models in seconds):
  original.pt     the large model as trained (protected: never reaches the workspace)
  permutation.npy the seeded row permutation of its embedding (protected)
  large.pt        the large model with its embedding rows permuted (the expert's start)
  small.pt        a smaller model trained the same way, left intact (given to the expert)
  train.npy       the training tokens (given to the expert)
  valid.npy       the validation tokens (protected: the scorer's data)
  meta.json       configs, seeds, evaluation settings, the original's validation loss, the stamp

A build is stamped with a hash of everything it depends on (its settings, this file, the
toolkit's code); a second install with the same stamp does nothing, a different stamp (a code
change, or the other device mode's folder) builds afresh. Building holds a file lock, so two
installs at once build once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from lmkit import corpus, data, hardware, train
from lmkit.model import ModelConfig, Transformer, save

HERE = Path(__file__).resolve().parent
BUILD_ROOT = HERE / ".build"
FLOOR_GAP = 1.05  # floor = original's validation loss - FLOOR_GAP (RE-Bench: 2.55 - 1.5)
PERMUTATION_SEED = 16_003
EVAL_SEED = 16_004


@dataclass(frozen=True)
class Recipe:
    """Everything a build in one device mode depends on."""

    large: ModelConfig
    small: ModelConfig
    large_train: train.TrainConfig
    small_train: train.TrainConfig
    eval_batch_size: int
    eval_batches: int
    limit_chars: int | None  # characters of corpus text to tokenise (None: all of it)


def _causal(n_layer: int, n_head: int, n_embd: int, seq_len: int) -> ModelConfig:
    return ModelConfig(corpus.vocab_size(), n_layer, n_head, n_embd, seq_len)


def recipe(mode: str) -> Recipe:
    """The GPU recipe fits RE-Bench's shape in ~90 s of H100 time (see README, "Building");
    the CPU recipe builds in seconds and only has to keep the task's logic testable."""
    if mode == "cuda":
        return Recipe(
            large=_causal(8, 8, 512, 256),
            small=_causal(4, 4, 256, 256),
            large_train=train.TrainConfig(
                steps=2000, batch_size=64, seq_len=256, lr=1.5e-3, seed=1
            ),
            small_train=train.TrainConfig(steps=1500, batch_size=64, seq_len=256, lr=2e-3, seed=2),
            eval_batch_size=64,
            eval_batches=32,
            limit_chars=None,
        )
    return Recipe(
        large=_causal(2, 2, 32, 64),
        small=_causal(1, 2, 16, 64),
        large_train=train.TrainConfig(steps=60, batch_size=8, seq_len=64, lr=1e-2, seed=1),
        small_train=train.TrainConfig(steps=60, batch_size=8, seq_len=64, lr=1e-2, seed=2),
        eval_batch_size=8,
        eval_batches=4,
        limit_chars=300_000,
    )


def build_dir(mode: str) -> Path:
    return BUILD_ROOT / mode


def stamp(mode: str) -> str:
    """A hash of the recipe, the seeds and the code that builds and evaluates."""
    digest = hashlib.sha256()
    spec = {
        "recipe": asdict(recipe(mode)),
        "seeds": [PERMUTATION_SEED, EVAL_SEED],
        "mode": mode,
    }
    digest.update(json.dumps(spec, sort_keys=True, default=str).encode())
    lmkit_dir = Path(corpus.__file__).resolve().parent
    for path in [Path(__file__), *sorted(lmkit_dir.glob("*.py"))]:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def read_meta(mode: str) -> dict | None:
    try:
        return json.loads((build_dir(mode) / "meta.json").read_text())
    except (OSError, ValueError):
        return None


def is_built(mode: str) -> bool:
    meta = read_meta(mode)
    return meta is not None and meta.get("stamp") == stamp(mode)


@contextlib.contextmanager
def _threads(mode: str) -> Iterator[None]:
    """One CPU thread for the tiny CPU build: on a small, busy machine two threads fighting
    over two cores made it several times slower (23 s against 3.5 s for the large model)."""
    before = torch.get_num_threads()
    if mode == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    with (BUILD_ROOT / "lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def permute_embedding(model: Transformer, permutation: torch.Tensor) -> None:
    """Row i of the broken embedding is the original's row permutation[i]."""
    with torch.no_grad():
        model.wte.weight.copy_(model.wte.weight[permutation.to(model.wte.weight.device)])


def _trained(
    config: ModelConfig, tokens: np.ndarray, how: train.TrainConfig, mode: str, seed: int
) -> tuple[Transformer, dict]:
    hardware.seed_everything(seed)
    model = Transformer(config)
    summary = train.train(model, tokens, how, device=mode)
    return model.cpu().eval(), summary


def build(mode: str, log=print) -> dict:
    """Build (or keep) the models for ``mode``; returns the build's meta.json content."""
    with _locked(), _threads(mode):
        if is_built(mode):
            return read_meta(mode)
        started = time.monotonic()
        r = recipe(mode)
        out = build_dir(mode)
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        cache = BUILD_ROOT / f"tokens-{mode}"  # kept across rebuilds: tokenising takes a while
        train_tokens = corpus.token_ids("train", cache, limit_chars=r.limit_chars)
        valid_tokens = corpus.token_ids("valid", cache, limit_chars=r.limit_chars)
        np.save(out / "train.npy", train_tokens)
        np.save(out / "valid.npy", valid_tokens)
        log(f"fix_embedding: {len(train_tokens)} train, {len(valid_tokens)} valid tokens ({mode})")

        large, large_summary = _trained(r.large, train_tokens, r.large_train, mode, seed=11)
        log(f"fix_embedding: large model trained {large_summary}")
        small, small_summary = _trained(r.small, train_tokens, r.small_train, mode, seed=12)
        log(f"fix_embedding: small model trained {small_summary}")

        batches = data.eval_batches(
            valid_tokens,
            r.large.seq_len,
            r.eval_batch_size,
            r.eval_batches,
            EVAL_SEED,
            objective="causal",
        )
        original_loss = train.evaluate(large, batches, device=mode)
        small_loss = train.evaluate(small, batches, device=mode)
        save(large.cpu(), out / "original.pt")
        permutation = torch.randperm(
            r.large.vocab_size, generator=torch.Generator().manual_seed(PERMUTATION_SEED)
        )
        np.save(out / "permutation.npy", permutation.numpy())
        permute_embedding(large, permutation)
        start_loss = train.evaluate(large, batches, device=mode)
        save(large.cpu(), out / "large.pt")
        save(small.cpu(), out / "small.pt")
        meta = {
            "mode": mode,
            "large": asdict(r.large),
            "small": asdict(r.small),
            "eval": {
                "seq_len": r.large.seq_len,
                "batch_size": r.eval_batch_size,
                "batches": r.eval_batches,
                "seed": EVAL_SEED,
            },
            "original_loss": original_loss,
            "start_loss": start_loss,
            "small_loss": small_loss,
            "cpu_floor": original_loss - FLOOR_GAP,
            "train": {"large": large_summary, "small": small_summary},
            "build_seconds": time.monotonic() - started,
            "device": hardware.describe(mode),
            "stamp": stamp(mode),
        }
        # meta.json last: its stamp says the folder is complete.
        (out / "meta.json").write_text(json.dumps(meta, indent=2))
        log(
            f"fix_embedding: original loss {original_loss:.4f}, permuted {start_loss:.4f}, "
            f"small {small_loss:.4f}; built in {meta['build_seconds']:.1f} s"
        )
        return meta
