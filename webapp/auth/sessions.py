"""Signed-cookie sessions: who is signed in, checked against the account on every request."""

from fastapi import Request
from sqlmodel import Session

from baselines.users import Role, User

HOME_BY_ROLE = {
    Role.expert: "/dashboard",
    Role.coordinator: "/coordinator",
    Role.finance: "/finance",
    Role.analyst: "/analyst",
    Role.admin: "/admin",
}


def sign_in(request: Request, user: User) -> None:
    """Start a fresh session (a new CSRF token too), so nothing from before sign-in carries over."""
    request.session.clear()
    request.session["uid"] = user.id
    request.session["epoch"] = user.session_epoch


def sign_out(request: Request) -> None:
    request.session.clear()


def end_sessions(session: Session, user: User) -> None:
    """A signed cookie can't be taken back: a copy (saved, stolen) would still work after
    sign-out. Moving the account's epoch voids every cookie issued before, so signing out also
    signs out the person's other browsers (the price of keeping no session table)."""
    user.session_epoch += 1
    session.add(user)


def user_from_session(request: Request, session: Session) -> User | None:
    """The signed-in user, or None if the account was disabled or its password changed since."""
    uid = request.session.get("uid")
    if uid is None:
        return None
    user = session.get(User, uid)
    if user is None or user.disabled or request.session.get("epoch") != user.session_epoch:
        request.session.clear()
        return None
    return user


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A message shown once on the next page (after a redirect)."""
    request.session.setdefault("flash", []).append([kind, text])
    request.session["flash"] = request.session["flash"]


def pop_flashes(request: Request) -> list[list[str]]:
    return request.session.pop("flash", []) if "flash" in request.session else []


def safe_next(target: str | None, default: str) -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
