"""Security headers on every answer the portal sends, as a pure ASGI middleware (no body copy).

Portal pages get a strict Content-Security-Policy: scripts, styles, images and fetches from this
origin only, no inline script or style. The templates keep to that: their scripts are
``/static/clock.js`` and ``/static/copy.js``, styles live in ``/static/style.css``, the score
chart is inline SVG (markup, not script). ``form-action`` is left out on purpose: the Stripe
onboarding form answers with a redirect to Stripe's own pages, which ``form-action 'self'`` would
block. A page that needs more (the API docs' bundled Swagger UI, with one inline start-up script)
sets its own policy, built with ``policy``; a header a response already carries is never replaced.

Answers proxied from code-server (``/ide/<run>/...``) keep code-server's own policy: the
workbench page sends one (4.139.1: nonces, ``'unsafe-eval'``, blob: workers, inline styles) that
the portal's would break. They only get what stops another site from framing an expert's IDE
(clickjacking): ``X-Frame-Options: SAMEORIGIN`` (code-server's policy has no ``frame-ancestors``)
and, on answers without a policy of their own, ``Content-Security-Policy: frame-ancestors 'self'``.

``Referrer-Policy: same-origin``: a set-password link carries its token in the address, which
must not leave in a Referer. HSTS only when the portal is served over https (``public_url``).
"""

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

IDE_PREFIX = "/ide/"
HSTS = "max-age=31536000"
DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'self'",
}


def policy(**overrides: str) -> str:
    """The portal's Content-Security-Policy, with some directives replaced (``script_src=...``
    for ``script-src``), for a page that needs more than the default."""
    directives = DIRECTIVES | {name.replace("_", "-"): value for name, value in overrides.items()}
    return "; ".join(f"{name} {value}" for name, value in directives.items())


PORTAL_CSP = policy()
FRAMES_ONLY_CSP = "frame-ancestors 'self'"


def headers_for(path: str, *, https: bool) -> list[tuple[str, str]]:
    """The headers an answer at ``path`` gets (where it has not set them itself)."""
    frames = [("X-Frame-Options", "SAMEORIGIN")]
    if path.startswith(IDE_PREFIX):
        return [("Content-Security-Policy", FRAMES_ONLY_CSP), *frames]
    return [
        ("Content-Security-Policy", PORTAL_CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        *frames,
        *([("Strict-Transport-Security", HSTS)] if https else []),
    ]


def _add(headers: MutableHeaders, wanted: list[tuple[str, str]]) -> None:
    for name, value in wanted:
        if name not in headers:
            headers.append(name, value)


def added(request: Request, response: Response) -> Response:
    """The headers on an answer that does not pass the middleware: Starlette sends the page for
    an unhandled error from its outermost layer, around every middleware."""
    https = request.app.state.settings.secure_cookies
    _add(response.headers, headers_for(request.url.path, https=https))
    return response


class SecurityHeaders:
    """Adds the headers above to each HTTP response start; WebSockets pass through untouched."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.portal = headers_for("/", https=https)
        self.ide = headers_for(IDE_PREFIX, https=https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = self.ide if scope["path"].startswith(IDE_PREFIX) else self.portal

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add(MutableHeaders(scope=message), wanted)
            await send(message)

        await self.app(scope, receive, send_with_headers)
