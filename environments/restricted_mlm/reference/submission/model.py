"""The reference solution: mixing across positions without attention, built only from the
allowed operations (METR's idea for RE-Bench's restricted MLM, scaled to one H100).

- Offset tables ("bigram-style"): each position adds a learned embedding of the tokens at
  offsets -2..+2 (one table per offset), so a masked position sees its neighbours' identities
  directly.
- Window mixing: each block mixes a window of 2w+1 positions with one weight matrix per offset,
  a convolution written as a zero-padded `cat`, an `as_strided` window view and an `einsum`;
  then a relu MLP. Residual connections, no normalisation (division and sqrt are forbidden), so
  the residual branches start small.
"""

from __future__ import annotations

import os

import torch
from torch import nn


class WindowMix(nn.Module):
    """y[t] = sum_k x[t + k - w] @ W[k] over a window of 2w+1 positions (zeros past the ends)."""

    def __init__(self, width: int, w: int, scale: float) -> None:
        super().__init__()
        self.w = w
        self.weight = nn.Parameter(torch.randn(2 * w + 1, width, width) * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        pad = x.new_zeros(b, self.w, d)
        padded = torch.cat([pad, x, pad], dim=1).contiguous()
        window = padded.as_strided(
            (b, t, 2 * self.w + 1, d), (padded.stride(0), d, d, 1), padded.storage_offset()
        )
        return torch.einsum("btkd,kde->bte", window, self.weight)


class Block(nn.Module):
    def __init__(self, width: int, w: int, depth: int) -> None:
        super().__init__()
        residual = 0.02 * (2 * depth) ** -0.5
        self.mix = WindowMix(width, w, (width * (2 * w + 1)) ** -0.5)
        self.mix_out = nn.Linear(width, width)
        self.up = nn.Linear(width, 4 * width)
        self.down = nn.Linear(4 * width, width)
        for layer in (self.mix_out, self.down):
            nn.init.normal_(layer.weight, std=residual)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mix_out(torch.relu(self.mix(x)))
        return x + self.down(torch.relu(self.up(x)))


class WindowMLM(nn.Module):
    def __init__(
        self, vocab_size: int, seq_len: int, width: int, depth: int, w: int, offsets: int
    ) -> None:
        super().__init__()
        self.offsets = offsets
        self.embed = nn.Embedding(vocab_size, width)
        self.position = nn.Embedding(seq_len, width)
        self.neighbours = nn.ModuleList(nn.Embedding(vocab_size, width) for _ in range(2 * offsets))
        self.blocks = nn.ModuleList(Block(width, w, depth) for _ in range(depth))
        self.head = nn.Linear(width, vocab_size)
        for table in [self.embed, self.position, *self.neighbours]:
            nn.init.normal_(table.weight, std=0.02)
        nn.init.normal_(self.head.weight, std=width**-0.5 * 0.5)
        nn.init.zeros_(self.head.bias)
        self.pad_id = 0

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        b, t = ids.shape
        x = self.embed(ids) + self.position.weight[:t]
        k = self.offsets
        pad = ids.new_zeros(b, k) + self.pad_id
        padded = torch.cat([pad, ids, pad], dim=1)
        tables = iter(self.neighbours)
        for offset in range(-k, k + 1):
            if offset:
                x = x + next(tables)(padded[:, k + offset : k + offset + t])
        for block in self.blocks:
            x = block(x)
        return self.head(x)


# Sizes: the H100 recipe (reference_solution.py) trains these in about a minute; without a GPU
# (BASELINER_LM_DEVICE=cpu or no CUDA) a tiny version, so CPU tests take seconds.
TINY = os.environ.get("BASELINER_LM_DEVICE") == "cpu" or not torch.cuda.is_available()
WIDTH, DEPTH, WINDOW, OFFSETS = (64, 1, 2, 2) if TINY else (512, 4, 4, 2)


def build_model(vocab_size: int, seq_len: int) -> nn.Module:
    return WindowMLM(vocab_size, seq_len, WIDTH, DEPTH, WINDOW, OFFSETS)
