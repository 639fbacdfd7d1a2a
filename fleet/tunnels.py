"""Local TCP forwarders through an SSH connection: how the portal reaches a port on a GPU host.

A ``Forwarder`` listens on ``127.0.0.1:<ephemeral>`` here; each connection it accepts becomes a
``direct-tcpip`` channel to ``127.0.0.1:<port>`` on the host (code-server binds loopback TCP
there; paramiko cannot forward unix sockets). It asks the driver for a channel per connection,
so when the driver reconnects, new connections use the new transport and the local port stays.
"""

import contextlib
import logging
import socket
import threading
from collections.abc import Callable

import paramiko

log = logging.getLogger(__name__)

CHUNK = 1 << 16


class Forwarder:
    def __init__(
        self,
        open_channel: Callable[[tuple[str, int]], paramiko.Channel],
        remote_port: int,
        *,
        remote_host: str = "127.0.0.1",
    ) -> None:
        """``open_channel(remote)`` returns a ``direct-tcpip`` channel to ``remote`` on the
        host over the current transport (the driver reconnects inside it when needed)."""
        self._open_channel = open_channel
        self.remote = (remote_host, remote_port)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
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
