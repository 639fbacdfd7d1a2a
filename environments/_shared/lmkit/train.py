"""Training and evaluation loops for any model that maps token ids to logits.

One loop serves the families' builds (the models install() makes), their reference recipes and
the experts' own runs, so a number measured by one means the same in the others.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lmkit import data
from lmkit.hardware import autocast


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_size: int
    seq_len: int
    lr: float = 1e-3
    warmup: int = 0  # steps; 0 means 5% of steps
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` of the peak."""
    warmup = config.warmup or max(1, config.steps // 20)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, config.steps - warmup))
    floor = config.lr * config.min_lr_ratio
    return floor + (config.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def loss_of(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in nats over the positions whose target is not data.IGNORE."""
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=data.IGNORE
    )


def batch_for(
    objective: str,
    tokens: np.ndarray,
    config: TrainConfig,
    generator: torch.Generator,
    mask_id: int | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    if objective == "causal":
        return data.causal_batch(tokens, config.seq_len, config.batch_size, generator)
    if mask_id is None:
        raise ValueError("masked-LM training needs the [MASK] id")
    return data.mlm_batch(tokens, config.seq_len, config.batch_size, generator, mask_id)


def train(
    model: nn.Module,
    tokens: np.ndarray,
    config: TrainConfig,
    *,
    device: str,
    objective: str = "causal",
    mask_id: int | None = None,
    parameters: Iterable[nn.Parameter] | None = None,
    log: Callable[[int, float, float], None] | None = None,
    log_every: int = 100,
) -> dict[str, float]:
    """Train in place with AdamW; ``parameters`` limits what is trained (all by default).
    ``log(step, loss, lr)`` is called every ``log_every`` steps. Returns the final loss
    (mean of the last tenth of steps), tokens seen and seconds."""
    model.to(device).train()
    params = [p for p in (parameters if parameters is not None else model.parameters())]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        betas=(0.9, 0.95),
        fused=device == "cuda",
    )
    generator = torch.Generator().manual_seed(config.seed)
    recent: list[float] = []
    started = time.monotonic()
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        x, y = batch_for(objective, tokens, config, generator, mask_id)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device):
            loss = loss_of(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        if step >= config.steps - max(1, config.steps // 10) or (log and step % log_every == 0):
            value = float(loss.detach())
            if step >= config.steps - max(1, config.steps // 10):
                recent.append(value)
            if log and step % log_every == 0:
                log(step, value, lr_at(step, config))
    if device == "cuda":
        torch.cuda.synchronize()
    return {
        "final_loss": sum(recent) / max(1, len(recent)),
        "tokens": config.steps * config.batch_size * config.seq_len,
        "seconds": time.monotonic() - started,
    }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    *,
    device: str,
) -> float:
    """Mean loss over fixed batches (data.eval_batches), weighted by the positions counted."""
    model.to(device).eval()
    total, counted = 0.0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        with autocast(device):
            logits = model(x)
        n = int((y != data.IGNORE).sum())
        total += float(loss_of(logits, y)) * n
        counted += n
    return total / max(1, counted)
