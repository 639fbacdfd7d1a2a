"""Batches from a token array: next-token windows for causal models, masked windows for masked
LMs, and fixed evaluation batches so every scoring sees the same tokens."""

from __future__ import annotations

import numpy as np
import torch

IGNORE = -100  # label of positions that do not count in the loss (F.cross_entropy's default)
MASK_RATE = 0.15


def _windows(
    tokens: np.ndarray, length: int, batch_size: int, generator: torch.Generator
) -> torch.Tensor:
    if len(tokens) <= length:
        raise ValueError(f"{len(tokens)} tokens cannot fill a window of {length + 1}")
    starts = torch.randint(0, len(tokens) - length, (batch_size,), generator=generator)
    rows = [torch.from_numpy(tokens[s : s + length].astype(np.int64)) for s in starts.tolist()]
    return torch.stack(rows)


def causal_batch(
    tokens: np.ndarray, seq_len: int, batch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets, each (batch, seq_len), from random offsets."""
    rows = _windows(tokens, seq_len + 1, batch_size, generator)
    return rows[:, :-1], rows[:, 1:]


def mlm_batch(
    tokens: np.ndarray,
    seq_len: int,
    batch_size: int,
    generator: torch.Generator,
    mask_id: int,
    rate: float = MASK_RATE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs with ``rate`` of positions replaced by [MASK], and labels that hold the original
    token there and IGNORE elsewhere (at least one masked position per row)."""
    rows = _windows(tokens, seq_len, batch_size, generator)
    masked = torch.rand(rows.shape, generator=generator) < rate
    one_each = torch.randint(0, seq_len, (batch_size,), generator=generator)
    masked[torch.arange(batch_size), one_each] = True
    inputs = rows.masked_fill(masked, mask_id)
    labels = rows.masked_fill(~masked, IGNORE)
    return inputs, labels


def eval_batches(
    tokens: np.ndarray,
    seq_len: int,
    batch_size: int,
    count: int,
    seed: int,
    *,
    objective: str,
    mask_id: int | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` batches drawn with a fixed seed: the same tokens and masks at every scoring."""
    generator = torch.Generator().manual_seed(seed)
    if objective == "causal":
        return [causal_batch(tokens, seq_len, batch_size, generator) for _ in range(count)]
    if objective == "mlm":
        if mask_id is None:
            raise ValueError("a masked-LM evaluation needs the [MASK] id")
        return [mlm_batch(tokens, seq_len, batch_size, generator, mask_id) for _ in range(count)]
    raise ValueError(f"objective must be causal or mlm (is {objective!r})")
