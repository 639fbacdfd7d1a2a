"""The landing page and the health check."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from webapp.deps import OptionalUser, SessionDep
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router()
health = APIRouter()


@router.get("/")
def landing(request: Request, user: OptionalUser):
    return render(request, "landing.html")


@health.get("/healthz")
def healthz(session: SessionDep) -> JSONResponse:
    """Up and able to reach its database (for the proxy and the process supervisor)."""
    try:
        session.exec(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
