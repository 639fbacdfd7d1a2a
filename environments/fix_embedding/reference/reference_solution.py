"""The reference recipe for fix_embedding (METR's, scaled): run in the task folder ($HOME).

1. Learn a linear adapter from the small model's embedding to the large model's width: the
   large model's embedding becomes ``small_wte @ A + b``, and only A and b train, with the rest
   of the large model frozen. The adapter starts with output statistics matching the broken
   table's (a permutation keeps each column's mean and spread).
2. Train everything (adapter, the small table it reads, and the large model) briefly, at a
   lower learning rate so the large model's blocks keep what they learned.
3. Fold the adapter into a plain embedding table (wte = adapter(small_wte)) and save the large
   model, its config unchanged, to submission/model.pt.

On the GPU this takes about a minute on an H100; on a CPU (tiny models) a few seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from lmkit import hardware
from lmkit.model import Transformer, load, save
from lmkit.train import TrainConfig, train
from torch import nn

HOME = Path(__file__).resolve().parent
# (adapter steps, adapter lr, full steps, full lr, batch size) per device
PLAN = {"cuda": (400, 3e-3, 1200, 5e-4, 64), "cpu": (40, 1e-2, 40, 2e-3, 8)}


class AdaptedEmbedding(nn.Module):
    """Token ids -> the small model's embedding, mapped to the large width."""

    def __init__(self, small_table: torch.Tensor, broken_table: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Embedding.from_pretrained(small_table.clone(), freeze=True)
        self.map = nn.Linear(small_table.shape[1], broken_table.shape[1])
        with torch.no_grad():
            # Match the broken table's per-column spread and mean (both permutation-invariant).
            spread = broken_table.std(dim=0) / (small_table.std() * small_table.shape[1] ** 0.5)
            self.map.weight.normal_().mul_(spread[:, None])
            self.map.bias.copy_(broken_table.mean(dim=0))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.map(self.table(ids))

    @torch.no_grad()
    def folded(self) -> torch.Tensor:
        return self.map(self.table.weight)


def main() -> None:
    started = time.monotonic()
    device = hardware.device()
    if device == "cpu":
        torch.set_num_threads(1)  # tiny models: one thread is fastest on a busy small machine
    adapter_steps, adapter_lr, full_steps, full_lr, batch = PLAN[device]
    tokens = np.load(HOME / "data" / "train.npy", mmap_mode="r")
    small = load(HOME / "small_model.pt")
    large: Transformer = load(HOME / "large_model.pt")
    seq_len = large.config.seq_len
    hardware.seed_everything(0)

    adapted = AdaptedEmbedding(small.wte.weight.detach(), large.wte.weight.detach())
    large.wte = adapted
    for p in large.parameters():
        p.requires_grad_(False)
    for p in adapted.map.parameters():
        p.requires_grad_(True)

    def log(step: int, loss: float, lr: float) -> None:
        print(f"  step {step:5d}  loss {loss:.4f}  lr {lr:.2e}", flush=True)

    print(f"1. adapter only: {adapter_steps} steps on {device}", flush=True)
    first = TrainConfig(
        steps=adapter_steps, batch_size=batch, seq_len=seq_len, lr=adapter_lr, seed=1
    )
    summary = train(
        large, tokens, first, device=device, parameters=adapted.map.parameters(), log=log
    )
    print(f"   final loss {summary['final_loss']:.4f}", flush=True)

    for p in large.parameters():
        p.requires_grad_(True)
    print(f"2. everything: {full_steps} steps", flush=True)
    second = TrainConfig(steps=full_steps, batch_size=batch, seq_len=seq_len, lr=full_lr, seed=2)
    summary = train(large, tokens, second, device=device, log=log)
    print(f"   final loss {summary['final_loss']:.4f}", flush=True)

    table = adapted.folded().float().cpu()
    large = large.cpu()
    large.wte = nn.Embedding.from_pretrained(table, freeze=False)
    save(large, HOME / "submission" / "model.pt")
    print(f"3. folded and saved submission/model.pt in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
