"""``/ide/<run>/``: the only way to a run's code-server, for its expert (while the run is live).
Coordinators and admins look in only where IDEs have origins of their own (per-run subdomains,
through ``/ide-auth``): on the portal's origin the workspace's code could act with their session
(webapp.ide.origin). Everyone else is refused before any byte reaches the IDE."""

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from baselines import run_notices
from baselines.runs import OPEN, Run, RunStatus
from baselines.users import Role, User
from fleet.backends import registry
from fleet.hosts import Host
from webapp.auth.sessions import user_from_session
from webapp.deps import RowId
from webapp.ide.frames import WorkFrames
from webapp.ide.origin import STAFF_REFUSED
from webapp.ide.proxy import NOT_ANSWERING, NotAnswering
from webapp.templating import render

router = APIRouter(include_in_schema=False)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Refused(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        staff: User | None = None,
        user: User | None = None,
        run_id: int | None = None,
    ) -> None:
        # staff: set when a coordinator or admin was refused for the IDE's origin alone; the
        # page then says how to look in (it is not an error of theirs).
        # user: who was refused (detached), for the page's header; run_id: set when they may
        # see the run, so the page links back to it.
        self.status, self.message, self.staff = status, message, staff
        self.user, self.run_id = user or staff, run_id


def _authorize(
    scope_holder: Request | WebSocket, run_id: int, *, through_portal: bool = True
) -> tuple[User, Run, Host]:
    if through_portal and not scope_holder.app.state.settings.ide_url.startswith("/ide/"):
        raise Refused(
            404, "IDEs are served on their own addresses here; open it from the run page."
        )
    with Session(scope_holder.app.state.engine) as session:
        user = user_from_session(scope_holder, session)
        if user is None:
            raise Refused(401, "Sign in first.")
        session.expunge(user)
        if user.role not in (Role.expert, Role.coordinator, Role.admin):
            raise Refused(403, "Your role cannot open workspaces.", user=user)
        run = session.get(Run, run_id)
        if run is None or (user.role == Role.expert and run.expert_id != user.id):
            raise Refused(404, "No such workspace.", user=user)
        if through_portal and user.id != run.expert_id:
            # The portal's own /ide/ path is the portal's origin: staff never get it, whatever
            # the run's state, and nothing is dialed for them.
            raise Refused(403, STAFF_REFUSED, staff=user)
        if run.status == RunStatus.provisioning:
            message = "The workspace is still starting. Try again in a moment."
            raise Refused(503, message, user=user, run_id=run.id)
        if run.status == RunStatus.pending:
            message = "The workspace is waiting for the cluster's GPUs. Try again in a while."
            raise Refused(503, message, user=user, run_id=run.id)
        if run.status != RunStatus.active:
            raise Refused(410, "This run's IDE is closed.", user=user, run_id=run.id)
        if run.lost_at is not None:  # nothing answers there: say why, not a bad gateway
            said = run_notices.expert_text(run) if user.id == run.expert_id else run.status_reason
            raise Refused(409, f"{said} Restart it from the run page.", user=user, run_id=run.id)
        host = session.get(Host, run.host_id)
        session.expunge_all()
        return user, run, host


async def _endpoint(holder: Request | WebSocket, run: Run, host: Host) -> tuple[str, int]:
    driver = holder.app.state.workspaces.connections.driver(host)
    return await run_in_threadpool(driver.endpoint, run.port)


@router.api_route("/ide/{run_id}", methods=METHODS)
@router.api_route("/ide/{run_id}/{path:path}", methods=METHODS)
async def ide_http(request: Request, run_id: RowId, path: str = "") -> Response:
    try:
        user, run, host = await run_in_threadpool(_authorize, request, run_id)
    except Refused as refused:
        if refused.status == 401 and request.method == "GET":
            return RedirectResponse(f"/login?next=/runs/{run_id}", status_code=303)
        if "text/html" in request.headers.get("accept", ""):
            if refused.staff is not None:
                request.state.user = refused.staff
                return render(
                    request,
                    "ide/staff_refused.html",
                    {"run_id": run_id, "message": refused.message},
                    status_code=refused.status,
                )
            request.state.user = refused.user
            return unavailable(request, refused.status, refused.message, refused.run_id)
        return JSONResponse({"detail": refused.message}, status_code=refused.status)
    upstream = await _endpoint(request, run, host)
    proxy = request.app.state.ide_proxy
    answer = await proxy.http(request, upstream, f"/ide/{run_id}", run.ide_key)
    if isinstance(answer, NotAnswering):  # the portal's own page, with the way back and a retry
        request.state.user = user
        return unavailable(request, answer.status_code, NOT_ANSWERING, run.id)
    return answer


TITLES = {
    502: "The IDE is not answering",
    503: "The workspace is still starting",
    409: "The workspace was lost",
    410: "This run's IDE is closed",
}
# What to try, for the refusals that pass (the others say their own way out).
RETRY_HINTS = {
    502: "After Restart IDE it takes a few seconds. Try again; if it still does not answer,"
    " press Restart IDE on the run page: your files and the clock are kept.",
    503: "This page tries again by itself every few seconds.",
}


def unavailable(request: Request, status: int, message: str, run_id: int | None) -> Response:
    """Why the IDE cannot be opened, as a portal page with the right status code, a link back
    to the run and, where waiting helps, a retry."""
    return render(
        request,
        "ide/unavailable.html",
        {
            "title": TITLES.get(status, "The IDE cannot be opened"),
            "message": message,
            "hint": RETRY_HINTS.get(status, ""),
            "run_id": run_id,
            "retry": f"/ide/{run_id}/" if run_id is not None and status in RETRY_HINTS else "",
            "refresh": status == 503,
        },
        status_code=status,
    )


@router.websocket("/ide/{run_id}/{path:path}")
async def ide_websocket(websocket: WebSocket, run_id: RowId, path: str = "") -> None:
    if not _same_origin(websocket):
        await _deny(websocket, 403, "This socket must come from the portal's own pages.")
        return
    try:
        user, run, host = await run_in_threadpool(_authorize, websocket, run_id)
    except Refused as refused:
        await _deny(websocket, refused.status, refused.message)
        return
    upstream = await _endpoint(websocket, run, host)
    # Only the expert's own frames are their work; a coordinator looking in is not.
    on_frame = _activity(websocket, run.id) if user.id == run.expert_id else None
    await websocket.app.state.ide_proxy.websocket(
        websocket, upstream, f"/ide/{run_id}", on_frame, run.ide_key
    )


def _activity(websocket: WebSocket, run_id: int) -> Callable[[bytes | str], None]:
    """Touch the run's activity for frames that carry a person's input, not for the keep-alives,
    acks and background calls an open tab sends on its own (webapp.ide.frames says which)."""
    recorder = websocket.app.state.activity
    work = WorkFrames()

    def on_frame(payload: bytes | str) -> None:
        if work.is_work(payload):
            recorder.touch(run_id)

    return on_frame


RUN_HOST = re.compile(r"^run-(\d{1,10})\.")


@router.get("/ide-auth")
async def ide_auth(request: Request) -> Response:
    """Forward-auth for a reverse proxy that carries IDE traffic itself (deploy/nginx): given
    the original Host ``run-<id>.<ide domain>`` and the browser's cookie, answer 200 with the
    upstream to dial in ``X-Baseliner-Upstream``, or 401/403/404/410 with the reason."""
    match = RUN_HOST.match(request.headers.get("x-forwarded-host", request.headers.get("host", "")))
    if match is None or int(match.group(1)) >= 2**31:
        return JSONResponse({"detail": "Not a workspace address."}, status_code=404)
    run_id = int(match.group(1))
    try:
        _, run, host = await run_in_threadpool(
            lambda: _authorize(request, run_id, through_portal=False)
        )
    except Refused as refused:
        if refused.status == 401 and request.headers.get("x-baseliner-signin") == "redirect":
            # Caddy hands a non-2xx answer to the browser as it is (nginx wants the 401).
            public = request.app.state.settings.public_url.rstrip("/")
            return RedirectResponse(f"{public}/login?next=/runs/{run_id}", status_code=303)
        return JSONResponse({"detail": refused.message}, status_code=refused.status)
    upstream = await _endpoint(request, run, host)
    address = request.app.state.settings.ide_tunnel_address
    if address and registry.reach(host.driver).forwards:  # the proxy dials our forwarder
        upstream = (address, upstream[1])
    # The run's key goes to the front proxy only (never to the browser), which sends it on as
    # code-server's session cookie.
    return Response(
        status_code=200,
        headers={
            "X-Baseliner-Upstream": f"{upstream[0]}:{upstream[1]}",
            "X-Baseliner-Ide-Session": run.ide_key,
        },
    )


@router.get("/ide-tls")
async def ide_tls(request: Request, domain: str = "") -> Response:
    """Caddy's on-demand TLS asks here before it gets a certificate for a run's IDE address:
    yes (200) only for a live run's own name, so nobody can make it request certificates for
    made-up names (and spend the certificate authority's rate limit)."""
    template = urlsplit(request.app.state.settings.ide_url).hostname or ""
    if "{run}" not in template:
        return JSONResponse({"detail": "IDEs are served through the portal here."}, 404)
    prefix, _, suffix = template.partition("{run}")
    name = domain.lower()
    digits = name.removeprefix(prefix).removesuffix(suffix)
    if not (name.startswith(prefix) and name.endswith(suffix) and digits.isdigit()):
        return JSONResponse({"detail": "Not a workspace address."}, 404)
    if len(digits) > 10 or int(digits) >= 2**31:
        return JSONResponse({"detail": "Not a workspace address."}, 404)

    def live() -> bool:
        with Session(request.app.state.engine) as session:
            run = session.get(Run, int(digits))
            return run is not None and run.status in OPEN

    if not await run_in_threadpool(live):
        return JSONResponse({"detail": "No live workspace has this address."}, 404)
    return Response(status_code=200)


def _same_origin(websocket: WebSocket) -> bool:
    """A second layer under code-server's own check: a page on another site cannot open an
    IDE socket with the expert's cookie (browsers always send Origin on WebSockets)."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser; the session cookie check still applies
    return urlsplit(origin).netloc == websocket.headers.get("host", "")


async def _deny(websocket: WebSocket, status: int, message: str) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"detail": message}, status_code=status))
    else:
        await websocket.close(code=1008, reason=message[:100])
