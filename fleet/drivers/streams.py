"""What both drivers build on one primitive: run a command with a byte feed for its standard
input and a sink for its standard output (``_exec``). Running, streaming to a file and copying a
folder are the same on this machine and over SSH, so they are written once, here."""

from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from fleet.drivers.base import CommandFailed, CommandResult
from fleet.drivers.trees import extract_command, write_tree

Feed = Callable[[Any], None]  # writes the command's stdin to the writable it is given
Sink = Callable[[bytes], object]  # takes the command's stdout, chunk by chunk


def text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


class _Sink:
    """Writes a command's output to a file and keeps the first write error rather than raising
    it in the thread that drains the pipe (where it would vanish, and the command, its pipe
    cut, might even exit 0); the output that follows is read and dropped."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.error: OSError | None = None

    def write(self, chunk: bytes) -> None:
        if self.error is not None:
            return
        try:
            self.file.write(chunk)
        except OSError as exc:
            self.error = exc


class StreamingDriver:
    def _exec(
        self, command: str, timeout: float, feed: Feed | None, sink: Sink | None
    ) -> tuple[int, bytes]:
        """Run ``command``; returns (exit status, stderr). Raises CommandTimeout past timeout."""
        raise NotImplementedError

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
        status, err = self._exec(command, timeout, feed, out.extend)
        result = CommandResult(command, status, text(out), text(err))
        if check and status != 0:
            raise CommandFailed(result)
        return result

    def run_to_file(self, command: str, destination: Path, *, timeout: float = 600.0) -> int:
        """Stream stdout into ``destination`` through a ``.part`` file: a failure leaves none."""
        part = destination.with_name(destination.name + ".part")
        try:
            with part.open("wb") as f:
                sink = _Sink(f)
                status, err = self._exec(command, timeout, None, sink.write)
            if sink.error is not None:  # e.g. the disk filled: what was written is partial
                raise sink.error
            if status != 0:
                raise CommandFailed(CommandResult(command, status, "", text(err)))
            part.replace(destination)
        finally:
            part.unlink(missing_ok=True)
        return destination.stat().st_size

    def put_tree(self, source: Path, destination: str, *, timeout: float = 300.0) -> None:
        if not source.is_dir():
            raise NotADirectoryError(f"{source} is not a folder")
        command = extract_command(destination)
        status, err = self._exec(command, timeout, lambda pipe: write_tree(source, pipe), None)
        if status != 0:
            raise CommandFailed(CommandResult(command, status, "", text(err)))
