"""``task status``: is the clock running, how much working time is used and left, and the
latest scores."""

from __future__ import annotations

import argparse

from . import display
from .client import OK, Client

HELP = "the clock (running or paused), working time, time left and your latest scores"
RECENT = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(client: Client, args: argparse.Namespace) -> int:
    status = client.get("/status")
    environment = status.get("environment") or "-"
    print(f"Run {status.get('run_id', '-')} · {environment} · {status.get('status', '-')}")
    print(f"Clock: {clock(status)}")
    print(f"Working time: {display.hms(status.get('working_s'))}")
    limit = status.get("time_limit_s")
    if isinstance(limit, (int, float)):
        print(f"Time left: {display.hms(status.get('time_left_s'))} of {display.hms(limit)}")
    else:
        print("Time left: no time limit")
    if status.get("warning_minutes"):
        print(
            f"Warning: {status['warning_minutes']} minutes or less left. At the limit your task"
            " folder is scored as your final checkpoint and the workspace stops."
        )
    if status.get("idle_excluded_s"):
        print(f"Idle time excluded: {display.hms(status.get('idle_excluded_s'))}")
    recent = list(status.get("recent") or [])[-RECENT:]
    if not recent:
        print("No checkpoints yet: `task score` scores the task folder as it is now.")
        return OK
    print("Latest checkpoints:")
    for checkpoint in recent:
        print(
            f"  #{checkpoint.get('seq')}  {display.hms(checkpoint.get('working_s')):>8}"
            f"  {display.outcome(checkpoint)}"
        )
    return OK


def clock(status: dict) -> str:
    if status.get("clock") != "paused":
        return "running"
    # The portal says what each reason means (timetracking.pause_reasons); a portal from before
    # it did gives the reasons' names.
    reasons = status.get("paused_because") or [str(r) for r in status.get("paused_by") or []]
    return "paused" + (f" ({'; '.join(reasons)})" if reasons else "")
