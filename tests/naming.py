"""This pytest session's workspace prefix (fleet.naming), and the names it gives.

Each session has its own (``bt`` and its pid in hex), set in the environment so every portal and
CLI the tests start inherits it: two sessions at once, or a ``make demo`` beside the suite, never
touch each other's workspaces, and a sweep can tell a dead session's leftovers from a live one's.
"""

import os
import pwd
import re
import subprocess

from fleet import naming
from fleet.runtimes import USER_COMMENT, remove_user

PREFIX = f"bt{os.getpid():x}"
TEST_PREFIX = re.compile(r"^bt([0-9a-f]+)-")


def workspace(run_id: int) -> str:
    """The unix user (process runtime) or container of run ``run_id`` in this session."""
    return naming.workspace(PREFIX, run_id)


def dead_session(name: str) -> bool:
    """Whether ``name`` was made by a test session whose process has ended."""
    match = TEST_PREFIX.match(name)
    if match is None:
        return False
    pid = int(match.group(1), 16)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def ours_or_dead(name: str) -> bool:
    """What a sweep of this session may remove: its own, and those of sessions that died."""
    return naming.owned(PREFIX, name) or dead_session(name)


def sweep_users() -> list[str]:
    """Remove the workspace users this session or a dead test session made; returns their
    names. Users of other installations (a ``make demo`` beside the suite) stay."""
    swept = []
    for entry in pwd.getpwall():
        if entry.pw_gecos == USER_COMMENT and ours_or_dead(entry.pw_name):
            command = remove_user(entry.pw_name, entry.pw_dir)
            subprocess.run(command, shell=True, check=False, capture_output=True)
            swept.append(entry.pw_name)
    return swept
