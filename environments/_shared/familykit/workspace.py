"""Where the expert's task folder is."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """$HOME as the family sees it: METR's /home/agent when unset, so a family runs in any
    workspace (Baseliner sets HOME to the run's folder)."""
    return Path(os.environ.get("HOME") or "/home/agent")
