"""Where the toolkit computes: the GPU when there is one, else the CPU in tiny mode.

``BASELINER_LM_DEVICE`` (auto | cuda | cpu) overrides the choice; tests set ``cpu`` so a
machine without a GPU builds tiny models in seconds, and scores say they are not comparable.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

SETTING = "BASELINER_LM_DEVICE"


def device(setting: str | None = None) -> str:
    """ "cuda" or "cpu"; ValueError for a setting that is neither (or cuda without a GPU)."""
    wanted = (setting or os.environ.get(SETTING) or "auto").strip().lower()
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{SETTING}=cuda but torch sees no GPU")
    if wanted not in ("cuda", "cpu"):
        raise ValueError(f"{SETTING} must be auto, cuda or cpu (is {wanted!r})")
    return wanted


def describe(where: str) -> str:
    """The card's name, or "cpu": recorded with every score."""
    return torch.cuda.get_device_name() if where == "cuda" else "cpu"


@contextlib.contextmanager
def autocast(where: str) -> Iterator[None]:
    """bf16 matrix work on the GPU (the H100's fast path); full precision on the CPU."""
    if where == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
