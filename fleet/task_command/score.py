"""``task score``: submit the task folder as it is now as a checkpoint, then wait for its score.

The portal snapshots the folder and scores it while the clock is paused, so waiting costs no
working time; the working time shown is the server's, at the moment of submission.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from . import display
from .client import OK, REFUSED, Client, PortalFailed, Unreachable

HELP = "score the task folder as it is now (a checkpoint), and wait for the result"
WAIT_S = 30  # the longest the portal holds one poll open
# Pauses between polls that failed in a row (the tunnel reconnecting, the portal restarting):
# about half a minute in all, then the command gives up and says the checkpoint is safe.
BACKOFF_S = (1, 2, 4, 8, 10, 10)
MIN_POLL_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(client: Client, args: argparse.Namespace) -> int:
    checkpoint = client.post("/checkpoints", {})
    print(
        f"Checkpoint {checkpoint['seq']} submitted at {display.hms(checkpoint.get('working_s'))}"
        " of working time; scoring…",
        flush=True,
    )
    return wait_and_report(client, checkpoint)


def wait_and_report(client: Client, checkpoint: dict[str, Any]) -> int:
    """Long-poll the checkpoint until it is scored (or fails), print the outcome, and return the
    exit status: 0 once scored (valid or not), 1 when scoring failed."""
    try:
        checkpoint = wait(client, checkpoint)
    except KeyboardInterrupt:
        print(
            f"\nStopped waiting. Checkpoint {checkpoint['seq']} is still being scored;"
            " `task log` shows its result later."
        )
        return 130
    print(f"Checkpoint {checkpoint['seq']}: {display.outcome(checkpoint)}")
    print(f"Working time at submission: {display.hms(checkpoint.get('working_s'))}")
    return REFUSED if checkpoint.get("status") == "error" else OK


def wait(client: Client, checkpoint: dict[str, Any]) -> dict[str, Any]:
    seq, failures = checkpoint["seq"], 0
    while checkpoint.get("status") in display.PENDING:
        asked = time.monotonic()
        try:
            checkpoint = client.get(f"/checkpoints/{seq}?wait={WAIT_S}", timeout=WAIT_S + 15)
            failures = 0
            if checkpoint.get("status") in display.PENDING:
                # A portal that answers at once (not holding the poll) is asked once a second.
                time.sleep(max(0.0, MIN_POLL_S - (time.monotonic() - asked)))
        except (Unreachable, PortalFailed) as e:
            if failures >= len(BACKOFF_S):
                raise Unreachable(
                    f"{e} Checkpoint {seq} was submitted and is scored all the same;"
                    " `task log` shows its result later."
                ) from None
            time.sleep(BACKOFF_S[failures])
            failures += 1
    return checkpoint
