"""``task``: the command line. One subcommand per module; this file only parses and dispatches,
and turns every failure into a message and an exit status."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from . import instructions, log, model, note, pause, score, status, submit
from .client import TOKEN_ENV, URL_ENV, Client, TaskError

Handler = Callable[[Client, argparse.Namespace], int]

# name → (help, how to add its arguments, what runs it), in the order --help lists them
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {
    "score": (score.HELP, score.add_arguments, score.run),
    "status": (status.HELP, status.add_arguments, status.run),
    "log": (log.HELP, log.add_arguments, log.run),
    "note": (note.HELP, note.add_arguments, note.run),
    "pause": (pause.HELP, pause.add_arguments, pause.pause),
    "resume": (pause.RESUME_HELP, pause.add_arguments, pause.resume),
    "submit": (submit.HELP, submit.add_arguments, submit.run),
    "instructions": (instructions.HELP, instructions.add_arguments, instructions.run),
    "model": (model.HELP, model.add_arguments, model.run),
}

EPILOG = f"""\
Every time shown is the portal's: working time, with pauses and scoring left out.
Exit status: 0 done, 1 refused by the portal (or not confirmed), 2 usage or connection
problem. The portal's address and this run's token come from {URL_ENV} and
{TOKEN_ENV}, else from ~/.baseliner/url and ~/.baseliner/token (the platform
writes them)."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="task",
        description="Baseliner's task command: checkpoints, clock and notes for this run.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (text, add_arguments, handler) in COMMANDS.items():
        sub = commands.add_parser(name, help=text, description=text[:1].upper() + text[1:] + ".")
        add_arguments(sub)
        sub.set_defaults(handler=handler)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:  # a terminal without UTF-8 still gets the text
            reconfigure(errors="replace")
    args = parser().parse_args(argv)
    try:
        return args.handler(Client.from_environment(), args)
    except TaskError as e:
        print(f"task: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `task log | head`
        sys.stderr.close()
        sys.exit(0)
