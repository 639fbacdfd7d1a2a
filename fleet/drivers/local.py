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
from typing import BinaryIO

from fleet.drivers.base import CommandTimeout
from fleet.drivers.streams import Feed, Sink, StreamingDriver

CHUNK = 1 << 16


class LocalDriver(StreamingDriver):
    # Commands run on the portal's own machine (its interpreter and checkout are there).
    on_this_machine = True

    @staticmethod
    def _exec(
        command: str, timeout: float, feed: Feed | None, sink: Sink | None
    ) -> tuple[int, bytes]:
        return _exec(command, timeout, feed, sink)

    def endpoint(self, port: int) -> tuple[str, int]:
        return ("127.0.0.1", port)

    def reverse_port(self, target: tuple[str, int]) -> int:
        return target[1]  # the host is this machine: the target is right there

    def close(self) -> None:
        pass


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
