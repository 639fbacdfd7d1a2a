"""The driver for a GPU host over SSH (paramiko), trusting only the pinned host key.

One connection per driver, shared by commands and forwarders both ways (paramiko channels are
thread-safe) and reopened transparently once per call when it has died; the host's remote
forwards are asked for again on the new connection. Remote commands run under
``timeout --signal=KILL`` so a timeout kills everything the command started even if this side
has lost the connection; the client's own deadline is only a backstop.
"""

import base64
import contextlib
import hashlib
import shlex
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paramiko

from fleet.drivers.base import (
    CommandTimeout,
    HostError,
    HostKeyMismatch,
    HostUnreachable,
)
from fleet.drivers.streams import StreamingDriver
from fleet.tunnels import Forwarder, ReverseForwards

CHUNK = 1 << 16
POLL = 0.25  # how often blocked channel reads look at the deadline
GRACE = 1.0  # past the remote timeout, how long to wait for its verdict before giving up
WINDOW = 8 << 20  # per-channel flow-control window: bigger than paramiko's 2 MB for bulk copies

Feed = Callable[["_ChannelWriter"], None]
Sink = Callable[[bytes], object]


def parse_key_line(key_line: str) -> paramiko.PKey:
    """An OpenSSH public-key line (``ssh-ed25519 AAAA… [comment]``) as a paramiko key."""
    parts = key_line.split()
    if len(parts) < 2:
        raise ValueError(f"not an OpenSSH public key line: {key_line[:60]!r}")
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1], validate=True))
    except Exception as e:
        raise ValueError(f"not an OpenSSH public key line ({e}): {key_line[:60]!r}") from None


def fingerprint(key_line: str) -> str:
    """``SHA256:…`` of a public-key line, as ``ssh-keygen -l`` prints it."""
    blob = base64.b64decode(key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def key_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def fetch_host_key(address: str, port: int = 22, timeout: float = 10.0) -> str:
    """The host key ``address:port`` presents, as an OpenSSH line, read without logging in, so a
    coordinator can compare its fingerprint with the host's console before pinning it."""
    where = f"{address}:{port}"
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as e:
        raise HostUnreachable(f"{where}: {_reason(e, timeout)}") from None
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
        return key_line(transport.get_remote_server_key())
    except (OSError, EOFError, paramiko.SSHException) as e:
        raise HostUnreachable(f"{where}: {_reason(e, timeout)}") from None
    finally:
        transport.close()


class SSHDriver(StreamingDriver):
    on_this_machine = False

    def __init__(
        self,
        address: str,
        port: int,
        username: str,
        key_path: Path | str,
        host_key: str,
        connect_timeout: float = 10.0,
        max_sessions: int = 8,
        forward_bind: str = "127.0.0.1",
    ) -> None:
        """``max_sessions`` caps concurrent commands on the one connection: OpenSSH refuses
        sessions past its MaxSessions (10 by default), so further calls wait their turn."""
        self.address, self.port, self.username = address, port, username
        self.key_path = Path(key_path)
        self.connect_timeout = connect_timeout
        self._pinned = parse_key_line(host_key)
        self._where = f"{address}:{port}"
        self._lock = threading.RLock()
        self._client: paramiko.SSHClient | None = None
        self._forwarders: dict[int, Forwarder] = {}
        self._forward_bind = forward_bind
        self._reverse = ReverseForwards(self._where)
        self._sessions = threading.BoundedSemaphore(max_sessions)
        self._closed = False

    # -- the Driver protocol ---------------------------------------------------------------

    def endpoint(self, port: int) -> tuple[str, int]:
        with self._lock:
            self._check_open()
            forwarder = self._forwarders.get(port)
            if forwarder is None or not forwarder.alive:
                forwarder = Forwarder(self._open_forward, port, bind=self._forward_bind)
                self._forwarders[port] = forwarder
            return forwarder.address

    def reverse_port(self, target: tuple[str, int]) -> int:
        for attempt in (1, 2):  # once more on a new connection if this one turns out dead
            transport = self._transport()
            try:
                return self._reverse.port(transport, target)
            except (OSError, EOFError, paramiko.SSHException) as e:
                if transport.is_active():
                    raise HostError(
                        f"{self._where} refused to forward a port on its loopback to this"
                        f" machine ({e}); its sshd needs AllowTcpForwarding yes (or remote)"
                    ) from None
                self._drop(transport)
                if attempt == 2:
                    raise HostUnreachable(f"{self._where}: {_reason(e, None)}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            forwarders, self._forwarders = list(self._forwarders.values()), {}
            client, self._client = self._client, None
        for forwarder in forwarders:
            forwarder.close()
        self._reverse.close()
        if client is not None:
            client.close()

    # -- the connection ------------------------------------------------------------------

    def connect(self) -> None:
        """Connect now (otherwise the first call does): raises HostKeyMismatch or
        HostUnreachable."""
        self._transport()

    def _check_open(self) -> None:
        if self._closed:
            raise HostUnreachable(f"{self._where}: the driver was closed")

    def _transport(self) -> paramiko.Transport:
        """The live transport, reconnecting if the last one died."""
        with self._lock:
            self._check_open()
            transport = self._client.get_transport() if self._client else None
            if transport is None or not transport.is_active():
                if self._client is not None:
                    self._client.close()
                    self._client = None
                self._client = self._connect()
                transport = self._client.get_transport()
                assert transport is not None
                self._reverse.attach(transport)
            return transport

    def _drop(self, transport: paramiko.Transport) -> None:
        """Forget ``transport`` (it failed us), unless another thread has already replaced it."""
        with self._lock:
            if self._client is not None and self._client.get_transport() is transport:
                self._client.close()
                self._client = None

    def _connect(self) -> paramiko.SSHClient:
        timeout = self.connect_timeout
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_RejectUnpinned(self._pinned, self._where))
        name = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        client.get_host_keys().add(name, self._pinned.get_name(), self._pinned)
        try:
            client.connect(
                self.address,
                self.port,
                username=self.username,
                key_filename=str(self.key_path),
                look_for_keys=False,
                allow_agent=False,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
                transport_factory=_transport_factory,
            )
        except paramiko.BadHostKeyException as e:
            client.close()
            raise HostKeyMismatch(_mismatch(self._where, self._pinned, e.key)) from None
        except HostKeyMismatch:
            client.close()
            raise
        except paramiko.AuthenticationException as e:
            client.close()
            raise HostUnreachable(
                f"{self._where}: authentication as {self.username} with {self.key_path} "
                f"failed ({e})"
            ) from None
        except FileNotFoundError as e:
            client.close()
            raise HostUnreachable(f"{self._where}: cannot read the private key: {e}") from None
        except (OSError, EOFError, paramiko.SSHException) as e:
            client.close()
            raise HostUnreachable(f"{self._where}: {_reason(e, timeout)}") from None
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(15)
        return client

    def _open(self, kind: str, dest: tuple[str, int] | None = None) -> paramiko.Channel:
        """Open a channel, reconnecting once if the connection turns out to be dead."""
        for attempt in (1, 2):
            transport = self._transport()
            try:
                if kind == "session":
                    return transport.open_session(timeout=self.connect_timeout)
                return transport.open_channel(
                    kind, dest, ("127.0.0.1", 0), timeout=self.connect_timeout
                )
            except (OSError, EOFError, paramiko.SSHException) as e:
                # A refusal on a live connection (paramiko reports concurrent refusals as a bare
                # "Unable to open channel") must not tear down the channels of other calls.
                if transport.is_active() and "Timeout" not in str(e):
                    to = f" to {dest[0]}:{dest[1]}" if dest else ""
                    reason = e.text if isinstance(e, paramiko.ChannelException) else str(e)
                    raise HostUnreachable(
                        f"{self._where}: the host refused a {kind} channel{to} ({reason})"
                    ) from None
                self._drop(transport)
                if attempt == 2:
                    raise HostUnreachable(f"{self._where}: {_reason(e, None)}") from None
        raise AssertionError("unreachable")

    def _open_forward(self, remote: tuple[str, int]) -> paramiko.Channel:
        return self._open("direct-tcpip", remote)

    # -- running a command ---------------------------------------------------------------

    def _exec(
        self, command: str, timeout: float, feed: Feed | None, sink: Sink | None
    ) -> tuple[int, bytes]:
        """Run ``command`` on the host: ``feed`` writes its stdin, ``sink`` takes its stdout.
        Returns (exit status, stderr). Waiting for a free session counts toward ``timeout``."""
        start = time.monotonic()
        if not self._sessions.acquire(timeout=timeout):
            raise CommandTimeout(command, timeout)
        try:
            left = timeout - (time.monotonic() - start)
            status, err = self._exec_session(command, left, feed, sink)
        except CommandTimeout:
            raise CommandTimeout(command, timeout) from None
        finally:
            self._sessions.release()
        return status, err

    def _exec_session(
        self, command: str, timeout: float, feed: Feed | None, sink: Sink | None
    ) -> tuple[int, bytes]:
        start = time.monotonic()
        deadline = start + timeout + GRACE
        channel = self._open("session")
        transport = channel.get_transport()
        err = bytearray()
        feed_error: list[BaseException] = []
        try:
            channel.settimeout(POLL)
            channel.exec_command(_remote_command(command, timeout))
            threads = [
                threading.Thread(target=_drain_stderr, args=(channel, err, deadline), daemon=True)
            ]
            if feed is None:
                channel.shutdown_write()
            else:
                writer = _ChannelWriter(channel, deadline)
                threads.append(
                    threading.Thread(target=_feed, args=(writer, feed, feed_error), daemon=True)
                )
            for t in threads:
                t.start()
            while True:
                try:
                    data = channel.recv(CHUNK)
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise CommandTimeout(command, timeout) from None
                    continue
                if not data:
                    break
                if sink is not None:
                    sink(data)
            if not channel.status_event.wait(max(0.0, deadline - time.monotonic())):
                raise CommandTimeout(command, timeout)
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
            status = channel.recv_exit_status()
        except (paramiko.SSHException, EOFError) as e:
            raise HostUnreachable(f"{self._where}: {_reason(e, None)}") from None
        finally:
            channel.close()
        if status == -1 and not transport.is_active():
            raise HostUnreachable(f"{self._where}: the connection dropped during `{command[:80]}`")
        if status in (-1, 124, 137) and time.monotonic() - start >= timeout:
            raise CommandTimeout(command, timeout)
        if feed_error:
            raise feed_error[0]
        return status, bytes(err)


def _remote_command(command: str, timeout: float) -> str:
    """What the login shell runs: ``bash -c command`` that the host itself kills (with all its
    children: ``timeout`` gives them a process group) once ``timeout`` has passed. ``--norc``
    because the login shell has already read ~/.bashrc (bash reads it when run by sshd)."""
    seconds = f"{max(timeout, 0.01):.3f}"
    return f"timeout --signal=KILL {seconds} bash --norc -c {shlex.quote(command)}"


class _RejectUnpinned(paramiko.MissingHostKeyPolicy):
    """Only the pinned key is trusted; an unknown host is never added."""

    def __init__(self, pinned: paramiko.PKey, where: str) -> None:
        self._pinned, self._where = pinned, where

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey):
        raise HostKeyMismatch(_mismatch(self._where, self._pinned, key))


class _ChannelWriter:
    """A file-like ``write`` onto a channel's stdin that gives up at the deadline."""

    def __init__(self, channel: paramiko.Channel, deadline: float) -> None:
        self._channel, self._deadline = channel, deadline

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            try:
                sent = self._channel.send(bytes(view[:CHUNK]))
            except TimeoutError:
                if self._channel.closed or time.monotonic() > self._deadline:
                    raise BrokenPipeError("the command stopped reading its input") from None
                continue
            except OSError:
                raise BrokenPipeError("the command stopped reading its input") from None
            if sent <= 0:
                raise BrokenPipeError("the command stopped reading its input")
            view = view[sent:]
        return len(data)


def _transport_factory(sock: socket.socket, **kwargs) -> paramiko.Transport:
    """A transport with a window big enough for a long fat link (2 MB, paramiko's default, caps
    a 50 ms path at 40 MB/s) and AES-GCM first: one AEAD pass per packet instead of AES-CTR plus
    HMAC, about 1.3-1.5x the forwarder's upload throughput here (bench/ssh_tunnel.py)."""
    transport = paramiko.Transport(
        sock, default_window_size=WINDOW, default_max_packet_size=1 << 15, **kwargs
    )
    options = transport.get_security_options()
    gcm = tuple(c for c in options.ciphers if c.endswith("-gcm@openssh.com"))
    options.ciphers = gcm + tuple(c for c in options.ciphers if c not in gcm)
    return transport


def _feed(writer: _ChannelWriter, feed: Feed, errors: list[BaseException]) -> None:
    try:
        feed(writer)
    except BrokenPipeError:
        pass  # the command stopped reading; its exit status tells the story
    except BaseException as e:
        errors.append(e)
    finally:
        with contextlib.suppress(Exception):
            writer._channel.shutdown_write()


def _drain_stderr(channel: paramiko.Channel, err: bytearray, deadline: float) -> None:
    while True:
        try:
            data = channel.recv_stderr(CHUNK)
        except TimeoutError:
            if channel.closed or time.monotonic() > deadline:
                return
            continue
        if not data:
            return
        err.extend(data)


def _mismatch(where: str, pinned: paramiko.PKey, presented: paramiko.PKey) -> str:
    return (
        f"{where} presented host key {fingerprint(key_line(presented))} "
        f"({presented.get_name()}), but {fingerprint(key_line(pinned))} "
        f"({pinned.get_name()}) is pinned: it may not be the machine registered. If the host was "
        "rebuilt, confirm its new fingerprint on its console and pin that."
    )


def _reason(e: BaseException, timeout: float | None) -> str:
    if isinstance(e, TimeoutError) or "timeout" in type(e).__name__.lower():
        return f"timed out{f' after {timeout:g} s' if timeout else ''}"
    if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError):
        inner = next(iter(e.errors.values()), None)
        if isinstance(inner, ConnectionRefusedError):
            return "connection refused"
        return str(inner or e)
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, EOFError):
        return "the connection closed unexpectedly"
    if any(m in str(e) for m in ("protocol banner", "No existing session")):
        # paramiko's words when the port accepts but never completes an SSH handshake
        within = f" within {timeout:g} s" if timeout else ""
        return f"no SSH handshake{within} (is an SSH server listening there?)"
    return str(e) or type(e).__name__
