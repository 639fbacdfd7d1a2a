"""TCP forwarders through an SSH connection, both ways: how the portal reaches a port on a GPU
host (``Forwarder``), and how the host reaches the portal (``ReverseForwards``).

A ``Forwarder`` listens on ``127.0.0.1:<ephemeral>`` here; each connection it accepts becomes a
``direct-tcpip`` channel to ``127.0.0.1:<port>`` on the host (code-server binds loopback TCP
there; paramiko cannot forward unix sockets). It asks the driver for a channel per connection,
so when the driver reconnects, new connections use the new transport and the local port stays.
"""

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable

import paramiko

log = logging.getLogger(__name__)

CHUNK = 1 << 16
REBIND_WAIT_S = 2.0  # how long a reconnect waits for its old remote port


class Forwarder:
    def __init__(
        self,
        open_channel: Callable[[tuple[str, int]], paramiko.Channel],
        remote_port: int,
        *,
        remote_host: str = "127.0.0.1",
        bind: str = "127.0.0.1",
    ) -> None:
        """``open_channel(remote)`` returns a ``direct-tcpip`` channel to ``remote`` on the
        host over the current transport (the driver reconnects inside it when needed).
        ``bind`` is loopback unless a reverse proxy on another machine or container must dial
        the forwarder itself (deploy/: Caddy carrying IDE traffic)."""
        self._open_channel = open_channel
        self.remote = (remote_host, remote_port)
        self._listener = socket.create_server((bind, 0), backlog=128)
        port = self._listener.getsockname()[1]
        # Where this machine dials it: a wildcard bind is reached on loopback.
        self.address: tuple[str, int] = (
            "127.0.0.1" if bind in ("0.0.0.0", "") else bind,
            port,
        )
        self._lock = threading.Lock()
        self._pipes: set[_Pipe] = set()
        self._closed = False
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"forward-{remote_port}", daemon=True
        )
        self._thread.start()

    @property
    def alive(self) -> bool:
        return not self._closed and self._thread.is_alive()

    def close(self) -> None:
        """Stop listening and cut every open connection."""
        with self._lock:
            self._closed = True
            pipes = list(self._pipes)
        with contextlib.suppress(OSError):  # shutdown wakes the blocked accept() on Linux
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for pipe in pipes:
            pipe.close()
        self._thread.join(5)

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                if self._closed:
                    return
                continue
            threading.Thread(target=self._connect, args=(sock,), daemon=True).start()

    def _connect(self, sock: socket.socket) -> None:
        """Open the channel off the accept thread: a reconnect may take seconds."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            channel = self._open_channel(self.remote)
        except Exception as e:
            log.info("forward to %s:%d failed: %s", *self.remote, e)
            sock.close()
            return
        pipe = _Pipe(sock, channel, self._forget)
        with self._lock:
            if self._closed:
                pipe.close()
                return
            self._pipes.add(pipe)
        pipe.start()

    def _forget(self, pipe: "_Pipe") -> None:
        with self._lock:
            self._pipes.discard(pipe)


class _Pipe:
    """One forwarded connection: a thread per direction; EOF travels across as a half-close."""

    def __init__(
        self,
        sock: socket.socket,
        channel: paramiko.Channel,
        done: Callable[["_Pipe"], None],
    ) -> None:
        self.sock, self.channel = sock, channel
        self._done = done
        self._lock = threading.Lock()
        self._open_directions = 2
        self._closed = False

    def start(self) -> None:
        for target in (self._up, self._down):
            threading.Thread(target=target, daemon=True).start()

    def _up(self) -> None:
        """Local socket → channel."""
        try:
            while data := self.sock.recv(CHUNK):
                self.channel.sendall(data)
            self.channel.shutdown_write()
        except Exception:
            self.close()
            return
        self._finished()

    def _down(self) -> None:
        """Channel → local socket."""
        try:
            while data := self.channel.recv(CHUNK):
                self.sock.sendall(data)
            self.sock.shutdown(socket.SHUT_WR)
        except Exception:
            self.close()
            return
        self._finished()

    def _finished(self) -> None:
        with self._lock:
            self._open_directions -= 1
            last = self._open_directions == 0
        if last:
            self.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        # Closing a channel sends a message; on a transport that died that raises EOFError.
        with contextlib.suppress(EOFError, OSError, paramiko.SSHException):
            self.channel.close()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._done(self)


class ReverseForwards:
    """Ports on the host's loopback that reach targets on this machine: SSH remote forwards
    (``tcpip-forward``), how the ``task`` command on a host reaches the portal with no route of
    its own to it.

    One forward per target, shared by every run on the host (each run's token tells them apart).
    A transport has a single handler for forwarded connections, so this one dispatches by the
    host port a connection arrived on. The forwards die with their transport: ``attach`` asks
    for them again on the new one, for the same ports if the host still has them free.
    """

    def __init__(self, where: str = "") -> None:
        self._where = where
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None
        self._ports: dict[tuple[str, int], int] = {}  # target → host port, on _transport
        self._targets: dict[int, tuple[str, int]] = {}  # host port → target (read unlocked)
        self._pipes: set[_Pipe] = set()

    def port(self, transport: paramiko.Transport, target: tuple[str, int]) -> int:
        """The host port that reaches ``target`` over ``transport``, asked for on first use."""
        with self._lock:
            if transport is not self._transport:
                self._rebind(transport)
            port = self._ports.get(target)
            if port is None:
                port = self._request(transport, target, 0)
            return port

    def attach(self, transport: paramiko.Transport) -> None:
        """The driver reconnected: ask for every known forward again on ``transport``. A failure
        is logged and left for the next ``port`` call to retry."""
        with self._lock:
            if transport is not self._transport:
                self._rebind(transport)

    def close(self) -> None:
        """Cut every forwarded connection (the forwards themselves end with the transport)."""
        with self._lock:
            pipes, self._pipes = list(self._pipes), set()
            self._ports, self._targets, self._transport = {}, {}, None
        for pipe in pipes:
            pipe.close()

    def _rebind(self, transport: paramiko.Transport) -> None:
        previous = dict(self._ports)
        self._transport, self._ports, self._targets = transport, {}, {}
        for target, port in previous.items():
            try:
                self._request(transport, target, port)
            except Exception as e:
                log.warning("%s: remote forward to %s:%d not restored: %s", self._where, *target, e)

    def _request(self, transport: paramiko.Transport, target: tuple[str, int], want: int) -> int:
        """Ask the host to listen on its loopback: on port ``want`` if given (the one the runs
        there were told; sshd may hold it a moment after the old connection died), else on any
        free port."""
        deadline = time.monotonic() + REBIND_WAIT_S
        while want:
            try:
                return self._record(
                    target, transport.request_port_forward("127.0.0.1", want, self._handle)
                )
            except paramiko.SSHException:
                if not transport.is_active():
                    raise
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        port = transport.request_port_forward("127.0.0.1", 0, self._handle)
        if want:
            log.warning("%s: remote port %d was taken; forwarding %d now", self._where, want, port)
        return self._record(target, port)

    def _record(self, target: tuple[str, int], port: int) -> int:
        self._ports[target] = port
        self._targets = {**self._targets, port: target}
        return port

    def _handle(
        self, channel: paramiko.Channel, origin: tuple[str, int], server: tuple[str, int]
    ) -> None:
        """Called on the transport's thread: must not block, nor take the lock (``_request``
        holds it while the transport thread delivers the answer)."""
        target = self._targets.get(server[1])
        if target is None:
            log.info("%s: forwarded connection to unknown port %d refused", self._where, server[1])
            channel.close()
            return
        threading.Thread(target=self._connect, args=(channel, target), daemon=True).start()

    def _connect(self, channel: paramiko.Channel, target: tuple[str, int]) -> None:
        try:
            sock = socket.create_connection(target, timeout=10)
        except OSError as e:
            log.info("%s: reverse forward to %s:%d failed: %s", self._where, *target, e)
            with contextlib.suppress(EOFError, OSError, paramiko.SSHException):
                channel.close()
            return
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pipe = _Pipe(sock, channel, self._forget)
        with self._lock:
            self._pipes.add(pipe)
        pipe.start()

    def _forget(self, pipe: "_Pipe") -> None:
        with self._lock:
            self._pipes.discard(pipe)
