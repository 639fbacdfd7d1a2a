"""The ``task`` command experts type in their workspace's terminal: score a checkpoint, see the
clock and the score log, write notes, pause, submit.

It runs on the GPU host (or in the workspace's container) under whatever ``python3`` is there,
3.8 or newer, so it is standard library only. It talks to the portal's ``/api/v1/task`` API with
the run's token, through a port the platform forwards from the host's loopback to the portal.
Every time it shows comes from the portal: the clock is the server's, never this machine's.
``install.py`` (how the platform puts it on a host) is the one module that is not copied there.
"""

import sys

# Plain syntax up to here, so an older python3 gets words rather than a SyntaxError trace.
if sys.version_info < (3, 8):  # noqa: UP036
    sys.stderr.write(
        "task: needs Python 3.8 or newer, and python3 here is "
        + sys.version.split()[0]
        + "; tell your coordinator.\n"
    )
    sys.exit(2)
