"""The starting solution: a per-position MLP. Each position sees only its own token, so at a
masked position it can only predict how common each word is (it cannot mix positions).

Allowed in forward: nn.Linear, nn.Embedding, matmul/einsum/sum, +, *, relu, indexing, gather,
reshape, as_strided, cat (see README.md for the full rules).
"""

from __future__ import annotations

import os

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, vocab_size: int, width: int = 256, hidden: int = 1024) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width)
        self.up = nn.Linear(width, hidden)
        self.down = nn.Linear(hidden, width)
        self.head = nn.Linear(width, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        x = x + self.down(torch.relu(self.up(x)))
        return self.head(x)


# Without a GPU (BASELINER_LM_DEVICE=cpu or no CUDA) a tiny version, so CPU tests take seconds.
TINY = os.environ.get("BASELINER_LM_DEVICE") == "cpu" or not torch.cuda.is_available()


def build_model(vocab_size: int, seq_len: int) -> nn.Module:
    return MLP(vocab_size, 32, 128) if TINY else MLP(vocab_size)
