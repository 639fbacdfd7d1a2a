"""A small transformer, causal (GPT) or bidirectional (masked LM), shared by the language-model
families so their models, checkpoints and FLOP counts mean the same thing everywhere.

It is deliberately plain (pre-norm blocks, learned positions, untied head, PyTorch's fused
attention): experts read and change this code, and a checkpoint is a config plus a state dict,
loadable without pickled classes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    n_layer: int
    n_head: int
    n_embd: int
    seq_len: int
    causal: bool = True

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")

    def params_excluding_embeddings(self) -> int:
        """Weights in the blocks (what scaling laws count as N): 12·layers·width²."""
        return 12 * self.n_layer * self.n_embd**2

    def flops_per_token(self) -> int:
        """Training FLOPs per token, forward and backward: 6·N (Kaplan et al.), N counting the
        blocks and the output head, plus the attention scores 6·layers·seq·width."""
        n = self.params_excluding_embeddings() + self.n_embd * self.vocab_size
        return 6 * n + 6 * self.n_layer * self.seq_len * self.n_embd


class Block(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.causal = config.causal
        self.n_head = config.n_head
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.up = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.down = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.down(F.gelu(self.up(self.ln2(x))))


class Transformer(nn.Module):
    """Token ids (batch, time) in, logits (batch, time, vocab) out."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.seq_len, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith(("proj.weight", "down.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        if t > self.config.seq_len:
            raise ValueError(f"sequence of {t} tokens is longer than seq_len {self.config.seq_len}")
        x = self.wte(ids) + self.wpe(torch.arange(t, device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def save(model: Transformer, path: Path | str) -> None:
    """A checkpoint as {"config": dict, "state_dict": tensors}: loads with weights_only=True."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    partial = path.with_name(path.name + ".partial")
    torch.save({"config": asdict(model.config), "state_dict": state}, partial)
    partial.replace(path)


def load(path: Path | str, device: str = "cpu") -> Transformer:
    """A checkpoint written by ``save``; ValueError when it is not one or does not fit its own
    config (so a scorer can say why a submission is unusable)."""
    try:
        data = torch.load(path, map_location=device, weights_only=True)
        config = ModelConfig(**data["config"])
    except (KeyError, TypeError, RuntimeError, EOFError, OSError) as exc:
        problem = f"{exc.__class__.__name__}: {exc}"
        raise ValueError(f"not a checkpoint this toolkit wrote ({problem})") from exc
    model = Transformer(config)
    try:
        model.load_state_dict(data["state_dict"])
    except (RuntimeError, KeyError) as exc:
        raise ValueError(f"the weights do not fit the checkpoint's config: {exc}") from exc
    return model.to(device)
