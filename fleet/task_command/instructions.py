"""``task instructions``: the task's instructions again, as the portal has them."""

from __future__ import annotations

import argparse

from .client import OK, Client

HELP = "print the task's instructions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(client: Client, args: argparse.Namespace) -> int:
    text = str(client.get("/instructions").get("text") or "")
    print(text.rstrip("\n") if text else "The portal has no instructions for this task.")
    return OK
