"""Route modules, one per area of the portal; each builds its router with ``pages_router``."""

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from webapp.auth.csrf import csrf_protect
from webapp.deps import optional_user


def pages_router(**kwargs) -> APIRouter:
    """A router for HTML pages: the user is looked up and every POST must carry the CSRF token."""
    return APIRouter(
        default_response_class=HTMLResponse,
        dependencies=[Depends(optional_user), Depends(csrf_protect)],
        include_in_schema=False,
        **kwargs,
    )
