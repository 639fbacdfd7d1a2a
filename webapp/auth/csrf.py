"""CSRF protection for forms: a per-session secret echoed in a hidden field on every POST."""

import hmac
import secrets

from fastapi import Request

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


class CsrfFailed(Exception):
    """The form came without the session's token (stale tab, or another site posting it)."""


def token_for(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_protect(request: Request) -> None:
    """Router dependency: every unsafe request must carry the session's token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = (await request.form()).get(FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(expected, sent):
        raise CsrfFailed()
