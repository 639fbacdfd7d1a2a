"""``task note "text"``: add an entry to the run's research log, stamped by the server."""

from __future__ import annotations

import argparse

from . import display
from .client import OK, Client

HELP = 'add a line to your research log: task note "tried a bigger block size"'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="+", help="the note (quotes keep it one argument)")


def run(client: Client, args: argparse.Namespace) -> int:
    note = client.post("/notes", {"text": " ".join(args.text)})
    print(
        f"Note saved at {display.hms(note.get('working_s'))} of working time"
        f" ({display.when(note.get('created_at'))})."
    )
    return OK
