"""Header rules for the IDE proxy, kept apart from the I/O so they are easy to test and read.

Headers stay ``bytes`` end to end: Starlette, httpx and ASGI all carry them as bytes, and not
decoding them saves work on every asset the workbench loads.
"""

from urllib.parse import urlsplit, urlunsplit

Headers = list[tuple[bytes, bytes]]

# RFC 9110 section 7.6.1, plus the ones a proxy must own itself: Host (the upstream's), Expect
# (httpx can't do 100-continue) and the WebSocket handshake (the client library makes its own).
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
REQUEST_OWN = frozenset({b"host", b"expect"})
WEBSOCKET_OWN = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
        b"origin",
        b"user-agent",
    }
)
# The proxy sets the X-Forwarded-* itself. A client's own ``Forwarded`` goes too: code-server
# takes its host= over X-Forwarded-Host for its WebSocket origin check, so passing it on would
# let a request name the host its Origin is compared with.
FORWARDED = frozenset(
    {
        b"forwarded",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"x-forwarded-prefix",
        b"x-forwarded-for",
    }
)


def _connection_tokens(headers: Headers) -> set[bytes]:
    """Headers named in ``Connection`` are hop-by-hop too (RFC 9110 section 7.6.1)."""
    return {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    }


def strip_cookie(value: bytes, name: bytes) -> bytes:
    """``value`` (a Cookie header) without the cookie ``name``: the portal's session must not
    reach code that the participant controls."""
    kept = [part for part in value.split(b";") if part.strip().split(b"=", 1)[0] != name]
    return b";".join(kept).strip()


def upstream_request_headers(
    headers: Headers,
    *,
    session_cookie: bytes,
    host: bytes,
    proto: bytes,
    client_ip: bytes | None,
    prefix: bytes,
    websocket: bool = False,
    ide_cookie: tuple[bytes, bytes] | None = None,
) -> Headers:
    """The browser's headers as the upstream should see them: hop-by-hop and the portal's session
    cookie gone, ``X-Forwarded-*`` set so code-server's origin check and links work, and the
    run's own key as code-server's session cookie (``ide_cookie``: name, value), which nothing
    the browser sends can replace."""
    drop = HOP_BY_HOP | REQUEST_OWN | FORWARDED | _connection_tokens(headers)
    if websocket:
        drop |= WEBSOCKET_OWN
    out: Headers = []
    cookies: list[bytes] = []
    for name, value in headers:
        lower = name.lower()
        if lower in drop:
            continue
        if lower == b"cookie":
            value = strip_cookie(value, session_cookie)
            if ide_cookie is not None:
                value = strip_cookie(value, ide_cookie[0])
            if value:
                cookies.append(value)
            continue
        out.append((name, value))
    if ide_cookie is not None:
        cookies.append(ide_cookie[0] + b"=" + ide_cookie[1])
    if cookies:
        out.append((b"cookie", b"; ".join(cookies)))
    out.append((b"x-forwarded-host", host))
    out.append((b"x-forwarded-proto", proto))
    out.append((b"x-forwarded-prefix", prefix))
    if client_ip:
        # The address the portal resolved (uvicorn's proxy_headers already used any incoming
        # chain): appending that chain again would repeat it.
        out.append((b"x-forwarded-for", client_ip))
    return out


def rewrite_location(value: str, prefix: str, upstream_netloc: str) -> str:
    """Put a redirect that the upstream made absolute back under ``prefix``; relative ones
    (``./x``, ``x``, ``?folder=``) already resolve under it in the browser."""
    if value.startswith("/") and not value.startswith("//"):
        return prefix + value
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc == upstream_netloc:
        return urlunsplit(("", "", prefix + (parts.path or "/"), parts.query, parts.fragment))
    return value


def browser_response_headers(
    headers: Headers, *, prefix: str, upstream_netloc: str, session_cookie: bytes
) -> Headers:
    """The upstream's response headers fit for the browser: hop-by-hop gone, redirects kept under
    the prefix, and no ``Set-Cookie`` that would overwrite the portal's session."""
    drop = HOP_BY_HOP | _connection_tokens(headers)
    out: Headers = []
    for name, value in headers:
        lower = name.lower()
        if lower in drop:
            continue
        if lower == b"location":
            value = rewrite_location(value.decode("latin-1"), prefix, upstream_netloc).encode(
                "latin-1"
            )
        elif lower == b"set-cookie" and value.split(b"=", 1)[0].strip() == session_cookie:
            continue
        out.append((lower, value))
    return out
