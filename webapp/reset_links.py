"""Making a one-time set-password link and showing it once to the staff member who asked."""

from datetime import datetime, timedelta

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from baselines import password_resets
from baselines.users import User
from webapp.settings import Settings
from webapp.templating import render


def issue_and_show(
    request: Request,
    session: Session,
    settings: Settings,
    account: User,
    actor: User,
    now: datetime,
    back: str,
) -> HTMLResponse:
    """The link is rendered, not flashed: it must not sit in a cookie or a redirect URL."""
    token = password_resets.issue(
        session, account, actor, timedelta(seconds=settings.reset_link_ttl_s), now
    )
    session.commit()
    link = settings.public_url.rstrip("/") + f"/reset/{token}"
    hours = settings.reset_link_ttl_s // 3600
    return render(
        request, "reset_link.html", {"account": account, "link": link, "hours": hours, "back": back}
    )
