"""Where the expert's task folder is."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def home() -> Path:
    """$HOME as the family sees it: METR's /home/agent when unset, so a family runs in any
    workspace (Baseliner sets HOME to the run's folder)."""
    return Path(os.environ.get("HOME") or "/home/agent")


def hand_over(folder: Path) -> None:
    """Make the task folder the workspace user's ($USER) when root runs ``start``, as METR's
    standard does; nothing when run by hand."""
    user = os.environ.get("USER")
    if os.geteuid() == 0 and user and user != "root":
        for path in [folder, *folder.rglob("*")]:
            shutil.chown(path, user, user)
