"""Build the FastAPI application: middleware, routers, static files and error pages."""

import logging
from contextlib import asynccontextmanager, suppress
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from baselines.errors import DomainError, FieldErrors
from fleet.task_command_setup import TaskCommandSetup
from timetracking.utc import utcnow
from webapp import db, docs, scheduler, security_headers
from webapp.auth.csrf import CsrfFailed
from webapp.auth.sessions import user_from_session
from webapp.checkpoint_worker import CheckpointWorker
from webapp.deps import LoginRequired
from webapp.ide.proxy import IdeProxy
from webapp.ide_activity import ActivityRecorder
from webapp.metrics import registry as metrics_registry
from webapp.model_gateway import ModelGateway
from webapp.routes import (
    account,
    admin,
    analyst,
    analytics_api,
    api,
    apply,
    assignments,
    auth,
    checkpoints,
    coordinator,
    expert,
    finance,
    hosts,
    ide,
    lists_api,
    metrics,
    model_api,
    payouts,
    public,
    run_clock,
    runs,
    stripe_connect,
    task_activity,
    task_api,
    timesheets,
)
from webapp.settings import Settings
from webapp.task_tunnels import TaskTunnels
from webapp.templating import STATIC_DIR, render
from webapp.workspace_jobs import WorkspaceJobs

log = logging.getLogger("baseliner")

_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Already done",
    410: "Link no longer valid",
    422: "Check the input",
    429: "Too many tries",
    503: "Try again in a moment",
    507: "No room left",
}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _load_viewer(request: Request) -> None:
    """The signed-in user for an error raised before any route's dependency loaded them (an
    unknown address): the page keeps its signed-in header. Best effort: with the database away
    the page is shown signed out rather than not at all."""
    if hasattr(request.state, "user") or "session" not in request.scope:
        return
    user = None
    try:
        with Session(request.app.state.engine, expire_on_commit=False) as session:
            user = user_from_session(request, session)
    except Exception as exc:  # the error page must still be shown
        log.debug("error page without its user: %s", exc)
    request.state.user = user


def _error_page(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    if status != 503:  # 503: the database is not answering; don't ask it again
        _load_viewer(request)
    title = _TITLES.get(status, "Something went wrong")
    return render(request, "error.html", {"title": title, "message": message}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "Sign in first."}, status_code=401)
        target = f"/login?next={quote(exc.next_path)}" if exc.next_path else "/login"
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return _error_page(
            request,
            403,
            "This form has expired or did not come from this site. Go back, reload the page "
            "and send it again.",
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "Request not allowed."
        if exc.status_code == 404 and message == "Not Found":
            message = "There is no page at this address."
        if exc.status_code == 405:
            message = "This address does not accept that kind of request."
        response = _error_page(request, exc.status_code, message)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if _wants_json(request):
            body = {"detail": exc.message, **({"field": exc.field} if exc.field else {})}
            if isinstance(exc, FieldErrors):  # every field's message, not only the first
                body["errors"] = exc.errors
            return JSONResponse(body, status_code=exc.status_code)
        return _error_page(request, exc.status_code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if _wants_json(request):
            detail = [
                {
                    "field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
                    "message": e["msg"],
                    "type": e["type"],
                }
                for e in exc.errors()
            ]
            return JSONResponse({"detail": detail}, status_code=422)
        # Pages validate their own forms; this is a malformed address such as /x/abc for /x/{id}.
        return _error_page(request, 404, "There is no page at this address.")

    @app.exception_handler(OperationalError)
    async def _database_away(request: Request, exc: OperationalError) -> Response:
        # A restart or failover of the database: the pool reconnects on the next request.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc.orig)
        response = _error_page(
            request, 503, "The database is not answering right now. Try again in a moment."
        )
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        response = _error_page(request, 500, "Something broke on our side. It has been logged.")
        return security_headers.added(request, response)  # sent around the middleware


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or Settings()
    # The data dir holds the secret key, the SQLite database, snapshots and archives: the
    # portal's alone, also where workspace users live on the same machine (the local host).
    # Made private even if `baseliner db upgrade` (or an older version) made it first; a folder
    # another account owns keeps the mode its owner gave it.
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(PermissionError):
        settings.data_dir.chmod(0o700)
    if migrate:
        db.upgrade(settings.db_url)
    engine = db.make_engine(settings.db_url)
    task_command = TaskCommandSetup.from_url(settings.task_api_url or settings.public_url)
    jobs = WorkspaceJobs(
        engine,
        settings.data_dir,
        settings.prefix,
        task_command=task_command,
        forward_bind=settings.ide_tunnel_bind,
    )
    activity = ActivityRecorder(engine)
    proxy = IdeProxy()
    scoring = CheckpointWorker(engine, settings, jobs, utcnow)
    background = scheduler.Scheduler(engine, settings, jobs, scoring, utcnow)
    tunnels = TaskTunnels(engine, jobs, utcnow)
    model_gateway = ModelGateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.scheduler:
            background.start()
        if settings.scoring_worker:
            scoring.start()
            tunnels.start()
        yield
        scoring.close()
        if settings.scoring_worker:
            tunnels.close()
        if settings.scheduler:
            background.close()
        await proxy.aclose()
        await model_gateway.aclose()  # stops the stand-ins it started
        activity.close()
        jobs.close()
        engine.dispose()

    app = FastAPI(
        title="Baseliner",
        summary="Human expert baselines for AI R&D benchmarks.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.workspaces = jobs
    app.state.activity = activity
    app.state.ide_proxy = proxy
    app.state.scoring = scoring
    app.state.scheduler = background
    leases = {
        "scoring": scoring.lease,
        "scheduler": background.lease,
        "task-tunnels": tunnels.lease,
    }

    def clock():  # the app's clock, as NowDep reads it (a test may freeze it)
        return getattr(app.state, "clock", utcnow)()

    app.state.metrics = metrics_registry(engine, proxy.open, leases, clock)
    app.state.task_tunnels = tunnels
    app.state.model_gateway = model_gateway
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret,
        session_cookie="baseliner_session",
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.secure_cookies,
        domain=settings.cookie_domain or None,
    )
    app.add_middleware(security_headers.SecurityHeaders, https=settings.secure_cookies)
    docs.install(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        """Browsers ask for it on every site, whatever the page links (pages link the SVG)."""
        headers = {"Cache-Control": "public, max-age=86400"}
        return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon", headers=headers)

    pages = (public, auth, apply, account, expert, coordinator, assignments, hosts, runs)
    pages += (checkpoints, run_clock, timesheets, payouts, stripe_connect)
    for module in (*pages, finance, analyst, admin, ide):
        app.include_router(module.router)
    app.include_router(public.health)
    app.include_router(api.router)
    app.include_router(task_api.router)
    app.include_router(model_api.router)
    app.include_router(payouts.api)
    app.include_router(analytics_api.api)
    app.include_router(stripe_connect.webhooks)
    app.include_router(timesheets.api)
    app.include_router(lists_api.api)
    app.include_router(task_activity.router)
    app.include_router(metrics.router)
    _install_error_handlers(app)
    return app
