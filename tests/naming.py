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
from fleet.backends.common import remove_user, user_owner

PREFIX = f"bt{os.getpid():x}"
# A session's prefix, or one of its sub-prefixes (a letter after the pid, for installations of
# its own with a database of their own: the demo, the deploy stack), then the name.
TEST_PREFIX = re.compile(r"^bt([0-9a-f]+)[g-z]?-")


def sub_prefix(letter: str) -> str:
    """A prefix for an installation this session starts with its own database (its run ids
    start at 1 again, so it must not share the session's names), swept with the session's."""
    assert len(letter) == 1 and "g" <= letter <= "z", letter
    return PREFIX + letter


def workspace(run_id: int) -> str:
    """The unix user (process runtime) or container of run ``run_id`` in this session."""
    return naming.workspace(PREFIX, run_id)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ours_or_dead(name: str) -> bool:
    """What a sweep of this session may remove: names its prefixes made, and those of test
    sessions whose process has ended. Any other installation's are left alone."""
    match = TEST_PREFIX.match(name)
    if match is None:
        return False
    pid = int(match.group(1), 16)
    return pid == os.getpid() or not _alive(pid)


def sweep_users() -> list[str]:
    """Remove the workspace users this session or a dead test session made; returns their
    names. Users of other installations (a ``make demo`` beside the suite) stay."""
    swept = []
    for entry in pwd.getpwall():
        owner = user_owner(entry.pw_gecos)
        if owner is None:
            continue  # not a workspace user
        # Named with its maker's prefix, or (METR's ``agent``) marked with it in the comment.
        if ours_or_dead(entry.pw_name) or (owner and ours_or_dead(f"{owner}-")):
            command = remove_user(entry.pw_name, entry.pw_dir)
            subprocess.run(command, shell=True, check=False, capture_output=True)
            swept.append(entry.pw_name)
    return swept
