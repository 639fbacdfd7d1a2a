"""The driver interface every host connection implements, and the errors it raises."""

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_status: int
    stdout: str
    stderr: str


class HostError(Exception):
    """Something about the host stops the operation; the message is fit to show a coordinator."""


class HostUnreachable(HostError):
    """The host did not answer (refused, timed out, authentication failed)."""


class HostKeyMismatch(HostUnreachable):
    """The host presented a key other than the pinned one: possibly not the machine we think."""


class CommandFailed(HostError):
    def __init__(self, result: CommandResult) -> None:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        super().__init__(
            f"`{result.command[:120]}` exited with {result.exit_status}: {' | '.join(detail)}"
        )
        self.result = result


class CommandTimeout(HostError):
    def __init__(self, command: str, timeout: float) -> None:
        super().__init__(f"`{command[:120]}` did not finish within {timeout:g} s")
        self.command = command
        self.timeout = timeout


class Driver(Protocol):
    """A connection to one host. Commands run through ``bash -c`` as the driver's user, who can
    become root (root itself, or passwordless sudo), since workspaces need their own unix users."""

    def run(
        self,
        command: str,
        *,
        timeout: float = 60.0,
        input: bytes | None = None,
        check: bool = True,
    ) -> CommandResult:
        """Run ``command``; raise CommandTimeout past ``timeout`` and, with ``check``,
        CommandFailed on a non-zero exit status."""
        ...

    def run_to_file(self, command: str, destination: Path, *, timeout: float = 600.0) -> int:
        """Run ``command`` and stream its standard output into ``destination`` (e.g. a tar of a
        task folder); returns the bytes written. Raises like ``run`` with check."""
        ...

    def put_tree(self, source: Path, destination: str, *, timeout: float = 300.0) -> None:
        """Copy the contents of the folder ``source`` into ``destination`` on the host."""
        ...

    def endpoint(self, port: int) -> tuple[str, int]:
        """A (host, port) on this machine's loopback that reaches ``127.0.0.1:port`` on the host:
        the port itself for the local driver, a forwarder through the SSH connection for ssh.
        Forwarders are reused per remote port and survive reconnects."""
        ...

    def reverse_port(self, target: tuple[str, int]) -> int:
        """A port on the host's loopback that reaches ``target`` (host, port) as seen from this
        machine: how the in-workspace ``task`` command reaches the portal when the host has no
        route to it. The target's own port for the local driver; for ssh, a remote forward over
        the driver's connection, one per target, shared by every run on the host and asked for
        again after a reconnect (usually the same port; call again for the current one)."""
        ...

    def close(self) -> None:
        """Close connections and forwarders."""
        ...
