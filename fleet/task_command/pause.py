"""``task pause`` and ``task resume``: stop the clock for a break, and start it again.

Paused time is not working time. Scoring needs a running clock, so the portal refuses
``task score`` while paused (the message says so)."""

from __future__ import annotations

import argparse

from . import display
from .client import OK, Client

HELP = "pause the clock for a break (paused time is not working time)"
RESUME_HELP = "start the clock again after `task pause`"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def pause(client: Client, args: argparse.Namespace) -> int:
    clock = client.post("/pause", {})
    print(
        f"Clock paused at {display.hms(clock.get('working_s'))} of working time."
        " `task resume` when you are back."
    )
    return OK


def resume(client: Client, args: argparse.Namespace) -> int:
    clock = client.post("/resume", {})
    if clock.get("clock") == "paused":
        print(
            f"Your pause has ended, but the clock is still paused for another reason"
            f" (working time {display.hms(clock.get('working_s'))}); `task status` says why."
        )
        return OK
    print(f"Clock running again from {display.hms(clock.get('working_s'))} of working time.")
    return OK
