"""Device cookies (OWASP's "slow down online guessing attacks with device cookies").

A browser that signed in to an account gets a cookie, signed with the session key, naming that
account. While the account is paused by failures from many addresses (webapp.auth.throttle), a
try carrying it goes through: its owner's usual browser is never slowed by someone else's
guessing, while a guesser, who has no such cookie, waits. It proves only that this browser once
knew the password; the password is still checked, and the address limits still apply.
"""

import hashlib
import hmac
import secrets

from fastapi import Request, Response

COOKIE = "baseliner_device"
MAX_AGE_S = 180 * 24 * 3600
PATH = "/login"  # sent with sign-in tries only


def _signature(secret: str, email: str, nonce: str) -> str:
    message = f"device|{email}|{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def value_for(secret: str, email: str) -> str:
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{_signature(secret, email, nonce)}"


def trusted(request: Request, secret: str, email: str) -> bool:
    """Whether this browser signed in to ``email`` before (a valid cookie for it)."""
    nonce, _, signature = request.cookies.get(COOKIE, "").partition(".")
    if not nonce or not signature:
        return False
    return hmac.compare_digest(signature, _signature(secret, email, nonce))


def remember(response: Response, secret: str, email: str, secure: bool) -> None:
    response.set_cookie(COOKIE, value_for(secret, email), max_age=MAX_AGE_S, path=PATH,
                        httponly=True, samesite="lax", secure=secure)  # fmt: skip
