"""The fixed experiment of scaling_law: everything but width and steps, for the GPU and for CPU.

One place holds it, because the expert's ``config.json``, the ground-truth table and the scorer
must agree on it: install() writes the mode's setup as ``config.json`` for the workspace, the
calibration sweep records it in the table, and install() refuses a table measured under another.

FLOPs of a run = lmkit's ``ModelConfig.flops_per_token()`` * batch_size * seq_len * max_iters,
with n_head = n_embd / head_dim. ``flops_per_token`` is 6·(12·n_layer·n_embd² + n_embd·vocab)
+ 6·n_layer·seq_len·n_embd (blocks and output head, forward and backward, plus attention scores).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

FRACTIONS = (0.9, 1.0, 1.1)  # of the budget: the table's runs per width, and the valid range


@dataclass(frozen=True)
class Setup:
    mode: str  # "gpu" (the real task) or "cpu" (tiny, tests; not comparable)
    budget_flops: int  # C: the target compute budget of the answer
    cap_divisor: int  # the expert's runs may spend at most C / cap_divisor FLOPs each
    table_widths: tuple[int, ...]  # widths of the ground-truth table = the answer's range
    n_layer: int
    head_dim: int  # n_head = n_embd / head_dim; n_embd must be a multiple of it
    seq_len: int
    batch_size: int
    lr: float
    weight_decay: float
    grad_clip: float
    min_lr_ratio: float
    vocab_size: int
    max_width: int  # the widest model train.py builds (exploration)
    dev_tokens: int  # the last tokens of the training split, held out as the dev slice
    dev_batches: int  # fixed batches of the dev slice that train.py evaluates
    val_batches: int  # fixed batches of the protected validation split (ground truth)
    limit_chars: int | None  # of the corpus, per split (None: all of it)

    @property
    def cap_flops(self) -> float:
        return self.budget_flops / self.cap_divisor

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len

    def flops_per_token(self, n_embd: int) -> int:
        """lmkit's ModelConfig.flops_per_token, restated so the scorer needs no torch (a test
        checks that the two agree)."""
        blocks = 12 * self.n_layer * n_embd**2
        return 6 * (blocks + n_embd * self.vocab_size) + 6 * self.n_layer * self.seq_len * n_embd

    def flops(self, n_embd: int, max_iters: int) -> int:
        return self.flops_per_token(n_embd) * self.tokens_per_step * max_iters

    def steps_for(self, n_embd: int, flops: float) -> int:
        """The most steps that spend no more than ``flops`` at this width."""
        return int(flops // (self.flops_per_token(n_embd) * self.tokens_per_step))

    def as_json(self) -> dict:
        data = asdict(self)
        data["table_widths"] = list(self.table_widths)
        data["fractions"] = list(FRACTIONS)
        data["formula"] = (
            "FLOPs = flops_per_token(n_embd) * batch_size * seq_len * max_iters; "
            "flops_per_token = 6*(12*n_layer*n_embd**2 + n_embd*vocab_size) "
            "+ 6*n_layer*seq_len*n_embd"
        )
        return data


GPU = Setup(
    mode="gpu",
    budget_flops=300_000_000_000_000,  # 3e14: 1,552 steps at n_embd 128, ~6-17 s on an H100
    cap_divisor=50,
    table_widths=(64, 128, 192, 256, 384),
    n_layer=4,
    head_dim=32,
    seq_len=256,
    batch_size=64,
    lr=1.5e-3,
    weight_decay=0.1,
    grad_clip=1.0,
    min_lr_ratio=0.1,
    vocab_size=8192,
    max_width=1024,
    dev_tokens=262_144,
    dev_batches=16,
    val_batches=24,
    limit_chars=None,
)

# Tiny, for machines without a GPU (tests, laptops): the whole table trains in seconds. The cap
# is C/5 here, not C/50: at C/50 a CPU-sized budget leaves the expert's runs a step or two.
CPU = Setup(
    mode="cpu",
    budget_flops=3_000_000_000,
    cap_divisor=5,
    table_widths=(16, 32, 48),
    n_layer=2,
    head_dim=16,
    seq_len=16,
    batch_size=4,
    lr=3e-3,
    weight_decay=0.1,
    grad_clip=1.0,
    min_lr_ratio=0.1,
    vocab_size=8192,
    max_width=128,
    dev_tokens=2048,
    dev_batches=4,
    val_batches=8,
    limit_chars=300_000,
)


def for_mode(mode: str) -> Setup:
    if mode not in ("gpu", "cpu"):
        raise ValueError(f"mode must be gpu or cpu (is {mode!r})")
    return GPU if mode == "gpu" else CPU


def from_json(data: dict) -> Setup:
    """The setup a config.json or a table records (extra keys such as the formula ignored)."""
    fields = {k: data[k] for k in Setup.__dataclass_fields__}
    fields["table_widths"] = tuple(fields["table_widths"])
    return Setup(**fields)
