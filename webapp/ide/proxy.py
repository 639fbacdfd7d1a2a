"""Reverse proxy from ``/ide/<run>/`` to a run's code-server, for HTTP and WebSocket.

The caller has already checked access and found the upstream: any ``(host, port)`` on loopback
(a local code-server, or a local forwarder to an SSH host). Bodies and frames are streamed, never
buffered whole, so large downloads and long-lived sockets cost little memory.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Origin, Subprotocol

from fleet import codeserver
from webapp.ide.headers import browser_response_headers, upstream_request_headers

log = logging.getLogger(__name__)

SESSION_COOKIE = "baseliner_session"
IDE_COOKIE = codeserver.SESSION_COOKIE.encode()
NOT_ANSWERING = "The IDE is not answering. It may still be starting, or its host may be down."
# Close codes that can't go in a close frame (RFC 6455 section 7.4.1), and what the other side
# gets instead: a browser that vanished is "going away"; an upstream that did is a bad gateway.
TO_UPSTREAM = {1005: 1000, 1006: 1001, 1015: 1001}
TO_BROWSER = {1005: 1000, 1006: 1014, 1015: 1014}


class _RejectAll(DefaultCookiePolicy):
    """The shared client serves every participant: it must never keep one upstream's cookies."""

    def set_ok(self, cookie, request) -> bool:  # type: ignore[no-untyped-def]
        return False


@dataclass
class OpenTraffic:
    """What this process is carrying right now, for /metrics. Only the event loop changes it,
    so plain integers do."""

    websockets: int = 0
    http_streams: int = 0


class _Upstreamed(StreamingResponse):
    """A streamed upstream response that always releases its connection, even when the browser
    goes away mid-body (Starlette skips ``background`` then)."""

    def __init__(
        self, upstream: httpx.Response, headers: list[tuple[bytes, bytes]], traffic: OpenTraffic
    ) -> None:
        super().__init__(upstream.aiter_raw(), status_code=upstream.status_code)
        self.raw_headers = headers
        self._upstream = upstream
        self._traffic = traffic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._traffic.http_streams += 1
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._traffic.http_streams -= 1
            await self._upstream.aclose()


def _netloc(upstream: tuple[str, int]) -> str:
    host, port = upstream
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _sendable(code: int | None, replacements: dict[int, int]) -> int:
    if code is None:
        return replacements[1006]
    return replacements.get(code, code)


class IdeProxy:
    """One per app: holds the pooled HTTP client that every run's IDE traffic shares."""

    def __init__(self, *, session_cookie: str = SESSION_COOKIE, connect_timeout: float = 10.0):
        self._session_cookie = session_cookie.encode()
        self._connect_timeout = connect_timeout
        self._client: httpx.AsyncClient | None = None
        self.open = OpenTraffic()

    def _http_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                http1=True,
                http2=False,
                # Only connecting may time out: downloads and slow responses stream for as long as
                # they take.
                timeout=httpx.Timeout(
                    None, connect=self._connect_timeout, pool=self._connect_timeout
                ),
                limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
                follow_redirects=False,
                trust_env=False,  # never send loopback traffic through an HTTP_PROXY
                cookies=CookieJar(policy=_RejectAll()),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _forwarded_from(
        self, scope: Scope, headers: list[tuple[bytes, bytes]], prefix: str, ide_key: str
    ) -> dict:
        host = next((v for k, v in headers if k == b"host"), b"")
        if not host and scope.get("server"):
            server_host, server_port = scope["server"][:2]
            host = f"{server_host}:{server_port}".encode()
        scheme = scope.get("scheme", "http")
        proto = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        client = scope.get("client")
        return {
            "session_cookie": self._session_cookie,
            "host": host,
            "proto": proto.encode(),
            "client_ip": client[0].encode() if client else None,
            "prefix": prefix.encode(),
            "ide_cookie": (IDE_COOKIE, ide_key.encode()) if ide_key else None,
        }

    @staticmethod
    def _upstream_target(scope: Scope, prefix: str) -> str | None:
        """The path and query the upstream sees, or None where the path isn't under ``prefix``.
        The raw (still percent-encoded) path is used so ``%2F`` and friends survive."""
        raw = scope.get("raw_path") or scope["path"].encode()
        raw_prefix = prefix.encode()
        if not raw.startswith(raw_prefix + b"/"):
            return None
        target = raw[len(raw_prefix) :].decode("latin-1")
        if query := scope.get("query_string", b""):
            target += "?" + query.decode("latin-1")
        return target

    async def http(
        self, request: Request, upstream: tuple[str, int], prefix: str, ide_key: str = ""
    ) -> Response:
        """Forward one HTTP request; the response body streams back as the upstream sends it.
        ``ide_key``: the run's key, sent as code-server's session cookie."""
        scope = request.scope
        raw_path = scope.get("raw_path") or scope["path"].encode()
        if raw_path == prefix.encode():
            query = scope.get("query_string", b"").decode("latin-1")
            return RedirectResponse(prefix + "/" + (f"?{query}" if query else ""))
        target = self._upstream_target(scope, prefix)
        if target is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)

        raw = scope["headers"]
        headers = upstream_request_headers(raw, **self._forwarded_from(scope, raw, prefix, ide_key))
        has_body = any(k in (b"content-length", b"transfer-encoding") for k, _ in raw)
        netloc = _netloc(upstream)
        upstream_request = httpx.Request(
            request.method,
            f"http://{netloc}{target}",
            headers=headers,
            content=request.stream() if has_body else None,
        )
        try:
            response = await self._http_client().send(upstream_request, stream=True)
        except httpx.TransportError as exc:
            log.info("IDE upstream %s not answering: %r", netloc, exc)
            return _not_answering(request)
        out_headers = browser_response_headers(
            response.headers.raw,
            prefix=prefix,
            upstream_netloc=netloc,
            session_cookie=self._session_cookie,
        )
        return _Upstreamed(response, out_headers, self.open)

    async def websocket(
        self,
        websocket: WebSocket,
        upstream: tuple[str, int],
        prefix: str,
        on_client_frame: Callable[[bytes | str], None] | None = None,
        ide_key: str = "",
    ) -> None:
        """Join the browser's socket to one opened to the upstream and pump frames both ways
        until either side closes. ``on_client_frame`` gets every browser frame's payload before
        it is forwarded (the caller tells work from VS Code's own chatter) and must be cheap."""
        scope = websocket.scope
        target = self._upstream_target(scope, prefix)
        if target is None:
            await websocket.close(code=1008)
            return
        raw = scope["headers"]
        headers = upstream_request_headers(
            raw, websocket=True, **self._forwarded_from(scope, raw, prefix, ide_key)
        )
        origin = next((v for k, v in raw if k == b"origin"), None)
        user_agent = next((v for k, v in raw if k == b"user-agent"), None)
        if user_agent is not None:
            headers.append((b"user-agent", user_agent))
        subprotocols = [Subprotocol(p) for p in scope.get("subprotocols", [])]
        try:
            upstream_ws = await connect(
                f"ws://{_netloc(upstream)}{target}",
                origin=Origin(origin.decode("latin-1")) if origin else None,
                subprotocols=subprotocols or None,
                additional_headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
                user_agent_header=None,
                compression=None,  # loopback: deflating costs CPU and saves nothing
                proxy=None,
                open_timeout=self._connect_timeout,
                ping_interval=None,  # VS Code keeps its own sockets alive
                max_size=None,  # VS Code sends large messages (file contents, extension hosts)
                max_queue=64,
            )
        except InvalidStatus as exc:
            log.info("IDE upstream refused the websocket: %s", exc.response.status_code)
            await _deny(websocket, exc.response.status_code)
            return
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            log.info("IDE upstream websocket failed: %r", exc)
            await _deny(websocket, 502)
            return

        async with upstream_ws:
            await websocket.accept(subprotocol=upstream_ws.subprotocol)
            self.open.websockets += 1
            try:
                await _pump(websocket, upstream_ws, on_client_frame)
            finally:
                self.open.websockets -= 1


async def _deny(websocket: WebSocket, status: int) -> None:
    """Refuse the browser's handshake with the upstream's status where the server can send one
    (else a plain close, which the browser sees as 403)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(
            JSONResponse({"detail": NOT_ANSWERING}, status_code=status)
        )
    else:
        await websocket.close(code=1014)


class NotAnswering(HTMLResponse):
    """The proxy's own 502 page (no upstream answered); the portal shows its styled page in its
    place (webapp.routes.ide), a bare proxy this one."""


def _not_answering(request: Request) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        return NotAnswering(
            "<!doctype html><title>IDE not answering</title>"
            f"<h1>IDE not answering</h1><p>{NOT_ANSWERING}</p>",
            status_code=502,
        )
    return JSONResponse({"detail": NOT_ANSWERING}, status_code=502)


async def _browser_to_upstream(
    websocket: WebSocket,
    upstream: ClientConnection,
    on_frame: Callable[[bytes | str], None] | None,
) -> bool:
    """Returns True when the browser closed, False when the upstream went away first."""
    receive = websocket.receive
    send = upstream.send
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                payload = text if text is not None else message["bytes"]
                if on_frame is not None:
                    on_frame(payload)
                await send(payload)
            elif kind == "websocket.disconnect":
                code = _sendable(message.get("code", 1000), TO_UPSTREAM)
                await upstream.close(code, message.get("reason") or "")
                return True
    except ConnectionClosed:
        return False


async def _upstream_to_browser(upstream: ClientConnection, websocket: WebSocket) -> None:
    send = websocket.send
    # The browser may vanish mid-send (OSError, WebSocketDisconnect): then this side is done too.
    with contextlib.suppress(ConnectionClosed, WebSocketDisconnect, OSError):
        async for data in upstream:
            if isinstance(data, str):
                await send({"type": "websocket.send", "text": data})
            else:
                await send({"type": "websocket.send", "bytes": data})


async def _pump(
    websocket: WebSocket,
    upstream: ClientConnection,
    on_frame: Callable[[bytes | str], None] | None,
) -> None:
    to_upstream = asyncio.create_task(_browser_to_upstream(websocket, upstream, on_frame))
    to_browser = asyncio.create_task(_upstream_to_browser(upstream, websocket))
    try:
        done, _ = await asyncio.wait({to_upstream, to_browser}, return_when=asyncio.FIRST_COMPLETED)
        if to_upstream in done and to_upstream.exception() is not None:
            # A broken callback or server: end both sides rather than leave either hanging.
            log.warning("IDE websocket pump failed", exc_info=to_upstream.exception())
            to_browser.cancel()
            await upstream.close(1011)
            await _close_browser(websocket, 1011, None)
        elif to_upstream in done and to_upstream.result():
            to_browser.cancel()  # the browser closed; its code went upstream already
        else:
            # The upstream closed (or died): give the browser its close code.
            to_upstream.cancel()
            await to_browser
            await _close_browser(websocket, upstream.close_code, upstream.close_reason)
    finally:
        for task in (to_upstream, to_browser):
            task.cancel()
        await asyncio.gather(to_upstream, to_browser, return_exceptions=True)


async def _close_browser(websocket: WebSocket, code: int | None, reason: str | None) -> None:
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(_sendable(code, TO_BROWSER), reason or None)
