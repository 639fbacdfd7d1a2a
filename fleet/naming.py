"""The names this installation gives things on a host.

Every workspace user, container, workspace folder and scratch user of ``env check`` starts with
the installation's prefix (kept in the data dir, or set with ``BASELINER_WORKSPACE_PREFIX``), so
two installations that share a machine (two test sessions, ``make demo`` beside ``make test``,
two portals on one GPU host) never remove, adopt or sweep each other's workspaces.
"""

import re
import secrets
from pathlib import Path

PREFIX_FILE = "workspace_prefix"
# Short enough that "<prefix>-run-<id>" stays within useradd's 32 characters; lower case and
# digits only, so it is a valid user, container and folder name everywhere.
PATTERN = re.compile(r"^[a-z][a-z0-9]{1,11}$")


class BadPrefix(ValueError):
    pass


def check(prefix: str) -> str:
    """``prefix`` if it is usable in user and container names, else BadPrefix saying why."""
    if not PATTERN.match(prefix):
        raise BadPrefix(
            f"workspace prefix {prefix!r} must be 2 to 12 lower-case letters or digits,"
            " starting with a letter"
        )
    return prefix


def new_prefix() -> str:
    return "bl" + secrets.token_hex(3)


def load(data_dir: Path, configured: str = "") -> str:
    """The installation's prefix: ``configured`` if set, else the one kept in ``data_dir``
    (made once, at random, on first use)."""
    if configured:
        return check(configured)
    path = data_dir / PREFIX_FILE
    if path.exists():
        return check(path.read_text().strip())
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    prefix = new_prefix()
    try:
        with path.open("x") as handle:  # two processes starting at once keep the first's
            handle.write(prefix + "\n")
    except FileExistsError:
        return check(path.read_text().strip())
    return prefix


def workspace(prefix: str, run_id: int) -> str:
    """A run's workspace: its unix user on the process runtime, its container and folder."""
    return f"{prefix}-run-{run_id}"


def scratch(prefix: str) -> str:
    """A throwaway workspace of ``env check``."""
    return f"{prefix}-check-{secrets.token_hex(3)}"


def owned(prefix: str, name: str) -> bool:
    """Whether this installation made ``name`` (a user or container found on a host)."""
    return name.startswith(f"{prefix}-")
