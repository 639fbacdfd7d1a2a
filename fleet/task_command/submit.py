"""``task submit``: the final checkpoint, which ends the run. It asks first, since nothing in the
workspace can be changed or scored afterwards."""

from __future__ import annotations

import argparse
import sys

from . import display, score
from .client import REFUSED, Client, RunEnded

HELP = "submit your final work: a last checkpoint, and the run ends"
PROMPT = "This ends your run. Type yes to submit: "


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def run(client: Client, args: argparse.Namespace) -> int:
    if not args.yes and not _confirmed():
        print("Not submitted; your run goes on.")
        return REFUSED
    checkpoint = client.post("/submit", {"confirm": True})
    print(
        f"Final checkpoint {checkpoint['seq']} submitted at"
        f" {display.hms(checkpoint.get('working_s'))} of working time; your run has ended."
        " Scoring…",
        flush=True,
    )
    try:
        return score.wait_and_report(client, checkpoint)
    except RunEnded:
        print("The final score will appear in the portal once it is scored.")
        return 0


def _confirmed() -> bool:
    print(PROMPT, end="", flush=True)
    answer = sys.stdin.readline()
    if not answer:
        print()
    return answer.strip().lower() == "yes"
