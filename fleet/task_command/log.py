"""``task log``: every checkpoint of the run as a table, then the notes."""

from __future__ import annotations

import argparse

from . import display
from .client import OK, Client

HELP = "the score log: every checkpoint with its working time and result, and your notes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(client: Client, args: argparse.Namespace) -> int:
    log = client.get("/log")
    checkpoints = log.get("checkpoints") or []
    if checkpoints:
        rows = [
            [
                str(c.get("seq", "")),
                display.hms(c.get("working_s")),
                display.when(c.get("submitted_at")),
                display.outcome(c),
            ]
            for c in checkpoints
        ]
        print(table(["#", "working", "submitted", "result"], rows))
    else:
        print("No checkpoints yet: `task score` scores the task folder as it is now.")
    notes = log.get("notes") or []
    if notes:
        print()
        print("Notes:")
        for note in notes:
            print(f"  {display.hms(note.get('working_s')):>8}  {note.get('text', '')}")
    return OK


def table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns, the last one unpadded (it holds the long messages)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]

    def line(cells: list[str]) -> str:
        return "  ".join([*(c.ljust(w) for c, w in zip(cells, widths)), cells[-1]]).rstrip()

    return "\n".join(line(row) for row in [header, *rows])
