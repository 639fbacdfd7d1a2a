"""``GET /metrics``: Prometheus's scrape, in its text format 0.0.4.

Prometheus has no browser session, so with ``metrics_token`` set it sends that token as a bearer
token (and nothing else opens the page); without one, only a signed-in admin may read it.
"""

import secrets

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from baselines.users import Role
from webapp.deps import LoginRequired, SessionDep, SettingsDep, optional_user

router = APIRouter(include_in_schema=False)


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    given = value.strip().encode()
    return scheme.lower() == "bearer" and secrets.compare_digest(given, token.encode())


@router.get("/metrics")
def metrics(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    token = settings.metrics_token.get_secret_value()
    if token:
        if not _bearer_matches(request, token):
            return JSONResponse(
                {"detail": "Send the metrics token as 'Authorization: Bearer <token>'."},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    else:
        user = optional_user(request, session)
        if user is None:
            raise LoginRequired(request.url.path)
        if user.role != Role.admin:
            raise HTTPException(status_code=403, detail="Your role cannot open this page.")
    body = generate_latest(request.app.state.metrics)
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
