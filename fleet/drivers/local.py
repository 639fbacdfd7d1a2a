"""The driver for this machine: the embedded default, where the portal and the GPU share a host.

Each command gets its own session (``setsid``) so a timeout can kill everything it started, not
just the shell; output is read on threads so neither pipe can fill up and stall the command.
"""

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from fleet.drivers.base import CommandFailed, CommandResult, CommandTimeout
from fleet.drivers.trees import extract_command, write_tree

CHUNK = 1 << 16

Feed = Callable[[BinaryIO], None]
Sink = Callable[[bytes], object]


class LocalDriver:
    def run(
        self,
        command: str,
        *,
        timeout: float = 60.0,
        input: bytes | None = None,
        check: bool = True,
    ) -> CommandResult:
        out = bytearray()
        feed = None if input is None else (lambda pipe: pipe.write(input))
        status, err = _exec(command, timeout, feed, out.extend)
        result = CommandResult(command, status, _text(out), _text(err))
        if check and status != 0:
            raise CommandFailed(result)
        return result

    def run_to_file(self, command: str, destination: Path, *, timeout: float = 600.0) -> int:
        part = destination.with_name(destination.name + ".part")
        try:
            with part.open("wb") as f:
                status, err = _exec(command, timeout, None, f.write)
            if status != 0:
                raise CommandFailed(CommandResult(command, status, "", _text(err)))
            part.replace(destination)
        finally:
            part.unlink(missing_ok=True)
        return destination.stat().st_size

    def put_tree(self, source: Path, destination: str, *, timeout: float = 300.0) -> None:
        if not source.is_dir():
            raise NotADirectoryError(f"{source} is not a folder")
        command = extract_command(destination)
        status, err = _exec(command, timeout, lambda pipe: write_tree(source, pipe), None)
        if status != 0:
            raise CommandFailed(CommandResult(command, status, "", _text(err)))

    def endpoint(self, port: int) -> tuple[str, int]:
        return ("127.0.0.1", port)

    def close(self) -> None:
        pass


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def _exec(command: str, timeout: float, feed: Feed | None, sink: Sink | None) -> tuple[int, bytes]:
    """Run ``bash -c command`` in a new session: ``feed`` writes its stdin, ``sink`` takes its
    stdout. Returns (exit status, stderr); past ``timeout`` kills the session and raises."""
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(
        ["bash", "-c", command],
        stdin=subprocess.DEVNULL if feed is None else subprocess.PIPE,
        stdout=subprocess.DEVNULL if sink is None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    err = bytearray()
    feed_error: list[BaseException] = []
    threads = [threading.Thread(target=_drain, args=(proc.stderr, err.extend), daemon=True)]
    if sink is not None:
        threads.append(threading.Thread(target=_drain, args=(proc.stdout, sink), daemon=True))
    if feed is not None:
        threads.append(
            threading.Thread(target=_feed, args=(proc.stdin, feed, feed_error), daemon=True)
        )
    for t in threads:
        t.start()
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
        for t in threads:
            # A background child may still hold a pipe open; the deadline covers it too.
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                raise subprocess.TimeoutExpired(command, timeout)
    except subprocess.TimeoutExpired:
        _kill_session(proc)
        raise CommandTimeout(command, timeout) from None
    except BaseException:
        _kill_session(proc)
        raise
    if feed_error:
        raise feed_error[0]
    return proc.returncode, bytes(err)


def _drain(pipe: BinaryIO, sink: Sink) -> None:
    with pipe:
        while chunk := pipe.read1(CHUNK):  # type: ignore[attr-defined]
            sink(chunk)


def _feed(pipe: BinaryIO, feed: Feed, errors: list[BaseException]) -> None:
    try:
        with pipe:
            feed(pipe)
    except BrokenPipeError:
        pass  # the command stopped reading; its exit status tells the story
    except BaseException as e:
        errors.append(e)


def _kill_session(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
