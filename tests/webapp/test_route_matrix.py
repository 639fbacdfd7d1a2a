"""Every route of the app, requested anonymously and as every role: who gets what answer.

``MATRIX`` maps each (method, path template) to the answer for each caller. Pages send an
anonymous visitor to ``/login?next=<the address asked for>`` (``LOGIN``), answer 403 to a signed-in
user of the wrong role and 200 (or a 303 to the next page) to an allowed one. The JSON API answers
401 without a bearer token and 200 with a token of any role.

``test_every_route_is_in_the_matrix`` walks ``app.routes`` and fails for a route the matrix lacks,
so a new route must be added here, with its answers, before the suite passes again.

Path parameters are filled with real objects made for each case (``PREPARE``), so an allowed
caller gets the real success answer, never a 404 for a missing object. Refused requests must not
change a single row (the whole database is compared before and after), and no request anywhere
may get a 5xx (the IDE's deliberate 502/503 answers, in ``OBJECT_CASES``, aside).

The IDE (``/ide/<run>/...``) is proxied to the run's code-server: here an echo server on a loopback
port stands in for it, so an allowed caller gets the upstream's real answer. Its WebSocket route is
the row ``WS``: ``101`` is an accepted handshake (a frame then round-trips through the proxy), any
other number the status of the refused handshake. Workspace actions that start or stop something
(Start, Stop) run their real background job against no real workspace: Start finds no ready host
and fails at once; Stop finds nothing to stop on the local host and finishes.
"""

import csv
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import WebSocketDenialResponse, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from analytics import importing
from analytics.imported import ImportedRun, ImportedScore
from baselines import (
    applications,
    checkpoints,
    password_resets,
    passwords,
    run_tokens,
    tokens,
    workspace_loss,
)
from baselines.applications import Application
from baselines.assignments import Assignment, AssignmentStatus
from baselines.audit import AuditLog
from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.password_resets import PasswordReset
from baselines.runs import Lease, Run, RunStatus
from baselines.tokens import ApiToken
from baselines.users import Role, User
from environments.calibrations import Calibration
from environments.task_settings import TaskSettings
from fleet import hosts, preparation, snapshots
from fleet.hosts import Host, HostCreate, HostStatus
from payments import batches, rates
from payments.batches import Method, PayoutBatch, PayoutLine
from payments.rates import current_rate
from tests.conftest import PASSWORD, csrf_token, login
from tests.ide.servers import free_port, serve
from timetracking import clock, pauses, timesheets
from timetracking.activity import Activity
from timetracking.pauses import PauseReason
from timetracking.pay_periods import PayCalendar
from timetracking.timesheets import Timesheet, TimesheetStatus
from timetracking.utc import utcnow
from webapp.auth.sessions import HOME_BY_ROLE
from webapp.ide.origin import STAFF_REFUSED

ANON = "anon"
ROLES = (ANON, "expert", "coordinator", "finance", "analyst", "admin")
SIGNED_IN = ROLES[1:]
LOGIN = "login"  # a 303 to /login?next=<the address asked for>
NEW_PASSWORD = "a brand new passphrase"

# What each caller gets: a status, or "login" for a 303 to /login?next=<the address asked for>.
# Columns, in order: anonymous, expert, coordinator, finance, analyst, admin (ROLES).
MATRIX_TABLE = """
#      path                                                anon   expert coord  fin    anlyst admin
GET    /                                                   200    200    200    200    200    200
GET    /healthz                                            200    200    200    200    200    200
GET    /favicon.ico                                        200    200    200    200    200    200
GET    /openapi.json                                       200    200    200    200    200    200
GET    /docs                                               200    200    200    200    200    200
GET    /login                                              200    303    303    303    303    303
POST   /login                                              303    303    303    303    303    303
POST   /logout                                             303    303    303    303    303    303
GET    /reset/{token}                                      200    200    200    200    200    200
POST   /reset/{token}                                      303    303    303    303    303    303
GET    /apply                                              200    303    303    303    303    303
POST   /apply                                              303    303    303    303    303    303
GET    /account                                            login  200    200    200    200    200
POST   /account/password                                   login  303    303    303    303    303
POST   /account/tokens                                     login  200    200    200    200    200
POST   /account/tokens/{token_id}/revoke                   login  303    303    303    303    303
POST   /account/timezone                                   login  303    303    303    303    303
GET    /dashboard                                          login  200    403    403    403    403
GET    /coordinator                                        login  403    303    403    403    303
GET    /coordinator/applications                           login  403    200    403    403    200
GET    /coordinator/applications/{application_id}          login  403    200    403    403    200
POST   /coordinator/applications/{application_id}/approve  login  403    303    403    403    303
POST   /coordinator/applications/{application_id}/reject   login  403    303    403    403    303
GET    /coordinator/experts                                login  403    200    403    403    200
POST   /coordinator/experts/{expert_id}/reset-link         login  403    200    403    403    200
GET    /coordinator/environments                           login  403    200    403    403    200
GET    /coordinator/environments/{family_name}/{task_name} login  403    200    403    403    200
POST   /coordinator/environments/{family_name}/{task_name} login  403    303    403    403    303
POST   /coordinator/environments/{family_name}/{task_name}/calibrations login 403 303 403 403 303
POST   /coordinator/environments/{family_name}/{task_name}/calibrations/delete login 403 303 403 403 303
GET    /finance                                            login  403    403    200    403    200
POST   /finance/rates                                      login  403    403    303    403    303
# Payouts: finance's. Stripe is not configured here, so Pay answers 409 (pay from the CSV).
GET    /finance/payouts                                    login  403    403    200    403    200
POST   /finance/payouts                                    login  403    403    303    403    303
GET    /finance/payouts/{batch_id}                         login  403    403    200    403    200
POST   /finance/payouts/{batch_id}/approve                 login  403    403    303    403    303
POST   /finance/payouts/{batch_id}/discard                 login  403    403    303    403    303
POST   /finance/payouts/{batch_id}/pay                     login  403    403    409    403    409
POST   /finance/payouts/{batch_id}/mark-paid               login  403    403    303    403    303
GET    /finance/payouts/{batch_id}/batch.csv               login  403    403    200    403    200
GET    /finance/payouts/{batch_id}/detail.csv              login  403    403    200    403    200
# An expert's Stripe onboarding: without Stripe keys it is not offered (409). Stripe's webhook
# is not there at all without them (404), whoever asks.
POST   /account/stripe/onboard                             login  409    403    403    403    403
GET    /account/stripe/refresh                             login  409    403    403    403    403
GET    /account/stripe/return                              login  409    403    403    403    403
POST   /webhooks/stripe                                    404    404    404    404    404    404
# Analyses: the page (a GET form), its figures with their CSVs, the summary and the dataset's
# downloads, and the environment catalogue; the same dataset for analysts' API tokens.
GET    /analyst                                            login  403    403    403    200    200
GET    /analyst/environments                               login  403    403    403    200    200
GET    /analyst/plots/{figure}.{fmt}                       login  403    403    403    200    200
GET    /analyst/summary.csv                                login  403    403    403    200    200
GET    /analyst/data/{table}.{fmt}                         login  403    403    403    200    200
GET    /api/v1/analytics/runs                              401    403    403    403    200    200
GET    /api/v1/analytics/score-log                         401    403    403    403    200    200
POST   /api/v1/analytics/import                            401    403    403    403    200    200
GET    /admin                                              login  403    403    403    403    303
GET    /admin/users                                        login  403    403    403    403    200
POST   /admin/users                                        login  403    403    403    403    200
POST   /admin/users/{user_id}/role                         login  403    403    403    403    303
POST   /admin/users/{user_id}/disable                      login  403    403    403    403    303
POST   /admin/users/{user_id}/enable                       login  403    403    403    403    303
POST   /admin/users/{user_id}/reset-link                   login  403    403    403    403    200
GET    /admin/audit                                        login  403    403    403    403    200
# Prometheus's scrape: with no metrics token set (as here), an admin's session opens it.
GET    /metrics                                            login  403    403    403    403    200
# Workspaces. A run is its expert's and the staff's who run workspaces; to finance and analysts,
# as to another expert, it does not exist (404).
POST   /assignments/{assignment_id}/start                  login  303    403    403    403    403
GET    /assignments/{assignment_id}                        login  200    200    404    404    200
GET    /runs/{run_id}                                      login  200    200    404    404    200
GET    /runs/{run_id}/stop                                 login  200    200    404    404    200
POST   /runs/{run_id}/stop                                 login  303    303    404    404    303
POST   /runs/{run_id}/restart                              login  303    303    404    404    303
POST   /runs/{run_id}/relaunch                             login  303    303    404    404    303
# The clock: the expert pauses and resumes their own; coordinators extend and correct, with a
# reason; the page's live clock reads it as JSON.
GET    /runs/{run_id}/clock                                login  200    200    404    404    200
POST   /runs/{run_id}/pause                                login  303    403    404    404    403
POST   /runs/{run_id}/resume                               login  303    403    404    404    403
POST   /runs/{run_id}/extend                               login  403    303    403    403    303
POST   /runs/{run_id}/periods                              login  403    303    403    403    303
# Checkpoints from the portal (an ended run takes none: 409, and nothing changes); notes are the
# expert's own; snapshots and diffs are for the staff's integrity review.
POST   /runs/{run_id}/checkpoints                          login  409    409    404    404    409
POST   /runs/{run_id}/notes                                login  303    403    404    404    403
GET    /runs/{run_id}/checkpoints/{seq}/snapshot           login  403    200    403    403    200
GET    /runs/{run_id}/diff                                 login  403    200    403    403    200
GET    /coordinator/assignments                            login  403    200    403    403    200
POST   /coordinator/assignments                            login  403    303    403    403    303
POST   /coordinator/assignments/{assignment_id}/cancel     login  403    303    403    403    303
POST   /coordinator/assignments/{assignment_id}/retry      login  403    303    403    403    303
GET    /coordinator/assignments/plan                       login  403    200    403    403    200
POST   /coordinator/assignments/plan                       login  403    303    403    403    303
GET    /coordinator/runs                                   login  403    200    403    403    200
POST   /coordinator/runs/{run_id}/stop                     login  403    303    403    403    303
GET    /coordinator/hosts                                  login  403    200    403    403    200
POST   /coordinator/hosts                                  login  403    303    403    403    303
POST   /coordinator/hosts/{host_id}/check                  login  403    303    403    403    303
POST   /coordinator/hosts/{host_id}/prepare                login  403    303    403    403    303
POST   /coordinator/hosts/{host_id}/drain                  login  403    303    403    403    303
POST   /coordinator/hosts/{host_id}/undrain                login  403    303    403    403    303
# Timesheets: an expert's own (another's does not exist for them); coordinators, finance and
# admins review and decide on every one; analysts have no part in them.
GET    /timesheets                                         login  200    403    403    403    403
GET    /timesheets/{sheet_id}                              login  200    200    200    403    200
POST   /timesheets/{sheet_id}/submit                       login  303    403    403    403    403
GET    /review/timesheets                                  login  403    200    200    403    200
POST   /review/timesheets/approve                          login  403    303    303    403    303
POST   /review/timesheets/{sheet_id}/approve               login  403    303    303    403    303
POST   /review/timesheets/{sheet_id}/reject                login  403    303    303    403    303
# The IDE of a live run (the expert's own, for the expert column). Anonymous: a page visit goes to
# sign in and back to the run's page; the IDE's own requests get 401. The bare /ide/<run> sends
# the browser on to /ide/<run>/ (307, method kept). HEAD rides along with GET, as everywhere.
# Staff are refused here: these settings serve IDEs on the portal's own origin (webapp.ide.origin;
# tests/webapp/test_ide_staff.py has them looking in through per-run subdomains).
GET    /ide/{run_id}                                       login  307    403    403    403    403
POST   /ide/{run_id}                                       401    307    403    403    403    403
PUT    /ide/{run_id}                                       401    307    403    403    403    403
PATCH  /ide/{run_id}                                       401    307    403    403    403    403
DELETE /ide/{run_id}                                       401    307    403    403    403    403
OPTIONS /ide/{run_id}                                      401    307    403    403    403    403
GET    /ide/{run_id}/{path:path}                           login  200    403    403    403    403
POST   /ide/{run_id}/{path:path}                           401    200    403    403    403    403
PUT    /ide/{run_id}/{path:path}                           401    200    403    403    403    403
PATCH  /ide/{run_id}/{path:path}                           401    200    403    403    403    403
DELETE /ide/{run_id}/{path:path}                           401    200    403    403    403    403
OPTIONS /ide/{run_id}/{path:path}                          401    200    403    403    403    403
WS     /ide/{run_id}/{path:path}                           401    101    403    403    403    403
# Forward-auth for IDE subdomains (deploy/nginx): the same rule, asked by the front proxy, except
# that staff may look in (each run's IDE has an origin of its own there).
GET    /ide-auth                                           401    200    200    403    403    200
# Caddy's on-demand TLS question; with IDEs served through the portal (these settings) no name is.
GET    /ide-tls                                            404    404    404    404    404    404
# The API: a bearer token of a user in that role, no session; anon sends no token.
GET    /api/v1/me                                          401    200    200    200    200    200
GET    /api/v1/timesheets/{sheet_id}                       401    200    200    200    403    200
GET    /api/v1/payouts/{batch_id}/batch.csv                401    403    403    200    403    200
GET    /api/v1/payouts/{batch_id}/detail.csv               401    403    403    200    403    200
# The long lists as JSON (webapp/routes/lists_api.py), a page at a time, for staff tokens.
GET    /api/v1/applications                                401    403    200    403    403    200
GET    /api/v1/experts                                     401    403    200    200    403    200
GET    /api/v1/assignments                                 401    403    200    403    403    200
GET    /api/v1/runs                                        401    403    200    403    403    200
GET    /api/v1/timesheets                                  401    403    200    200    403    200
GET    /api/v1/payouts                                     401    403    403    200    403    200
GET    /api/v1/audit                                       401    403    403    403    403    200
# The `task` command's API: only a run's own token opens it (the expert column); a person's API
# token is no run token (401). A run that has ended takes no checkpoint (410).
POST   /api/v1/task/checkpoints                            401    410    401    401    401    401
POST   /api/v1/task/submit                                 401    410    401    401    401    401
GET    /api/v1/task/checkpoints/{seq}                      401    200    401    401    401    401
GET    /api/v1/task/status                                 401    200    401    401    401    401
GET    /api/v1/task/log                                    401    200    401    401    401    401
POST   /api/v1/task/notes                                  401    201    401    401    401    401
POST   /api/v1/task/pause                                  401    200    401    401    401    401
POST   /api/v1/task/resume                                 401    200    401    401    401    401
GET    /api/v1/task/instructions                           401    200    401    401    401    401
# The editor extension's activity reports: the same tokens (an ended run takes none: 410).
POST   /api/v1/task/activity                               401    200    401    401    401    401
GET    /api/v1/task/clock                                  401    200    401    401    401    401
# The development model's gateway (rust_scaffolding lends one): the run's token is the key.
GET    /api/v1/task/model                                  401    200    401    401    401    401
GET    /api/v1/task/model/v1/models                        401    200    401    401    401    401
POST   /api/v1/task/model/v1/chat/completions              401    200    401    401    401    401
"""  # noqa: E501 (a table: a row per route, whatever its length)


def _parse(table: str) -> dict[tuple[str, str], tuple[int | str, ...]]:
    matrix: dict[tuple[str, str], tuple[int | str, ...]] = {}
    for line in table.strip().splitlines():
        if line.startswith("#"):
            continue
        method, path, *cells = line.split()
        assert len(cells) == len(ROLES), f"one answer per caller: {line}"
        assert (method, path) not in matrix, f"twice in the table: {method} {path}"
        matrix[(method, path)] = tuple(LOGIN if c == "login" else int(c) for c in cells)
    return matrix


MATRIX = _parse(MATRIX_TABLE)

# Mounts that serve files and need no access rules.
STATIC_MOUNTS = ("/static",)


# --- the world each case runs in -------------------------------------------------------------


@dataclass
class Call:
    """One request to make: the address, the form (the CSRF token is added for a POST) and what
    an allowed caller must see."""

    url: str
    data: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # Where an allowed 303/307 must point (a pattern where the target is made by the request).
    location: str | re.Pattern | None = None
    # The effect of an allowed request (for WS: given the open WebSocketTestSession).
    check: Callable[[httpx.Response], None] | None = None
    sign_in: bool = True  # False: the caller uses a bearer token, not a session
    # Where sign-in returns to, when not the address asked for (the IDE returns to the run page).
    login_next: str | None = None
    json: dict | None = None  # a JSON body (the API) instead of a form
    files: dict | None = None  # uploads, sent as multipart with the form


@dataclass
class World:
    role: str
    client: TestClient
    engine: Engine
    make_user: Callable[..., User]
    actor: User | None
    upstream_port: int  # the stand-in for a run's code-server (an echo server)

    def user(self, role: Role, *, disabled: bool = False) -> User:
        user = self.make_user(role)
        if disabled:
            with Session(self.engine) as s:
                row = s.get(User, user.id)
                row.disabled = True
                s.add(row)
                s.commit()
        return user

    def get(self, model, ident):
        with Session(self.engine) as s:
            row = s.get(model, ident)
            if row is not None:
                s.expunge(row)
            return row

    def application(self, status: str = "pending") -> Application:
        """A fresh expert's application, pending or already decided."""
        expert = self.make_user(Role.expert)
        with Session(self.engine) as s:
            application = applications.for_user(s, expert.id)
            if status != "pending":
                reviewer = self.make_user(Role.coordinator)
                if status == "approved":
                    applications.approve(s, application, reviewer, utcnow())
                else:
                    applications.reject(s, application, reviewer, "Not this round.", utcnow())
                s.commit()
                s.refresh(application)
            s.expunge(application)
            return application

    def api_token(self, user: User, *, revoked: bool = False) -> tuple[int, str]:
        with Session(self.engine) as s:
            row, plain = tokens.create(s, s.get(User, user.id), "matrix", utcnow(), user.id)
            if revoked:
                tokens.revoke(s, s.get(User, user.id), row.id, utcnow())
            s.commit()
            return row.id, plain

    def reset_token(self, user: User, *, issued_ago: timedelta = timedelta(0)) -> str:
        with Session(self.engine) as s:
            token = password_resets.issue(
                s, s.get(User, user.id), None, timedelta(hours=72), utcnow() - issued_ago
            )
            s.commit()
            return token

    def host(
        self, name: str = "local", status: HostStatus = HostStatus.ready, draining: bool = False
    ) -> Host:
        """A host record for this machine (the local driver)."""
        with Session(self.engine) as s:
            host = hosts.add(s, HostCreate(name=name, driver="local"), "", None, utcnow())
            host.status, host.draining = status, draining
            host.status_reason = "ok" if status == HostStatus.ready else "not checked yet"
            s.add(host)
            s.commit()
            s.refresh(host)
            s.expunge(host)
            return host

    def expert(self) -> User:
        """The actor when the case is an expert's, else a bystander expert."""
        return self.actor if self.role == "expert" else self.user(Role.expert)

    def run(
        self,
        expert: User | None = None,
        status: RunStatus = RunStatus.active,
        port: int | None = None,
        assignment_id: int | None = None,
    ) -> Run:
        """A run on a local host record; an active one's IDE is the echo upstream (unless
        ``port`` says otherwise). Nothing runs on the machine for it."""
        expert = expert or self.expert()
        with Session(self.engine) as s:
            host = hosts.by_name(s, "local")
            host_id = host.id if host else None
        if host_id is None:
            host_id = self.host().id
        with Session(self.engine) as s:
            run = Run(
                expert_id=expert.id,
                assignment_id=assignment_id,
                environment=ENVIRONMENT,
                status=status,
                host_id=host_id,
                port=port or self.upstream_port,
                created_at=utcnow(),
                started_at=None if status == RunStatus.provisioning else utcnow(),
                finished_at=utcnow() if status in (RunStatus.finished, RunStatus.failed) else None,
            )
            s.add(run)
            s.commit()
            s.refresh(run)
            s.expunge(run)
            return run

    def assignment(self, expert: User, status: AssignmentStatus = AssignmentStatus.assigned):
        with Session(self.engine) as s:
            row = Assignment(
                expert_id=expert.id,
                environment=ENVIRONMENT,
                status=status,
                created_at=utcnow(),
            )
            s.add(row)
            s.commit()
            s.refresh(row)
            s.expunge(row)
            return row

    def wait_for_jobs(self, run_id: int) -> Run:
        """Let the run's background start/stop finish; the run as it then is."""
        self.client.app.state.workspaces.wait(run_id, timeout=60)
        return self.get(Run, run_id)


def signed_in_as(client: TestClient) -> str | None:
    """The name in the page header of the signed-in user, or None for an anonymous session."""
    response = client.get("/account")
    if response.status_code == 303:
        return None
    assert response.status_code == 200
    return response.text.split('title="Your account">', 1)[1].split("</a>", 1)[0]


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table, to show a refused request changed nothing."""
    with engine.connect() as conn:
        return {
            table.name: [
                tuple(row)
                for row in conn.execute(table.select().order_by(*table.primary_key.columns))
            ]
            for table in SQLModel.metadata.sorted_tables
        }


# --- path parameters and forms, per route ----------------------------------------------------

PREPARE: dict[tuple[str, str], Callable[[World], Call]] = {}


def prepares(method: str, path: str):
    def register(fn: Callable[[World], Call]) -> Callable[[World], Call]:
        assert (method, path) in MATRIX, (method, path)
        PREPARE[(method, path)] = fn
        return fn

    return register


def home(w: World) -> str | None:
    return HOME_BY_ROLE[w.actor.role] if w.actor else None


@prepares("GET", "/login")
def _login_page(w: World) -> Call:
    return Call("/login", location=home(w))


@prepares("POST", "/login")
def _login(w: World) -> Call:
    who = w.actor or w.make_user(Role.expert)

    def check(_):
        assert signed_in_as(w.client) == who.name

    return Call(
        "/login",
        {"email": who.email, "password": PASSWORD},
        location=HOME_BY_ROLE[who.role],
        check=check,
    )


@prepares("POST", "/logout")
def _logout(w: World) -> Call:
    return Call("/logout", location="/", check=lambda _: _assert(signed_in_as(w.client) is None))


@prepares("GET", "/reset/{token}")
def _reset_page(w: World) -> Call:
    target = w.user(Role.finance)
    token = w.reset_token(target)
    return Call(f"/reset/{token}", check=lambda r: _assert(target.email in r.text))


@prepares("POST", "/reset/{token}")
def _reset(w: World) -> Call:
    target = w.user(Role.finance)
    token = w.reset_token(target)

    def check(_):
        assert passwords.verify_password(NEW_PASSWORD, w.get(User, target.id).password_hash)
        assert w.client.get(f"/reset/{token}").status_code == 410  # spent
        assert signed_in_as(w.client) is None

    return Call(
        f"/reset/{token}",
        {"password": NEW_PASSWORD, "password2": NEW_PASSWORD},
        location="/login",
        check=check,
    )


@prepares("GET", "/apply")
def _apply_page(w: World) -> Call:
    return Call("/apply", location=home(w))


@prepares("POST", "/apply")
def _apply(w: World) -> Call:
    form = {
        "name": "Ada Applicant",
        "email": "ada.applicant@example.org",
        "password": NEW_PASSWORD,
        "background": "Twelve years of compilers and GPU kernels.",
        "links": "",
        "availability": "weekends",
        "consent_time_tracking": "on",
        "consent_snapshots": "on",
    }
    if w.role != ANON:  # a signed-in person is sent home; no second account, session kept
        return Call(
            "/apply",
            form,
            location=home(w),
            check=lambda _: _assert(signed_in_as(w.client) == w.actor.name),
        )
    return Call(
        "/apply",
        form,
        location="/dashboard",
        check=lambda _: _assert(signed_in_as(w.client) == "Ada Applicant"),
    )


@prepares("POST", "/account/password")
def _password(w: World) -> Call:
    def check(_):
        assert passwords.verify_password(NEW_PASSWORD, w.get(User, w.actor.id).password_hash)
        assert signed_in_as(w.client) == w.actor.name  # this session stays valid

    form = {"current": PASSWORD, "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    return Call("/account/password", form, location="/account", check=check)


@prepares("POST", "/account/tokens")
def _new_token(w: World) -> Call:
    def check(response):
        assert tokens.PREFIX in response.text
        with Session(w.engine) as s:
            assert [t.name for t in tokens.list_for(s, w.actor.id)] == ["laptop"]

    return Call("/account/tokens", {"name": "laptop"}, check=check)


@prepares("POST", "/account/tokens/{token_id}/revoke")
def _revoke(w: World) -> Call:
    # Anonymous callers get a bystander's token id: it must stay live.
    owner = w.actor or w.user(Role.expert)
    token_id, _ = w.api_token(owner)
    return Call(
        f"/account/tokens/{token_id}/revoke",
        location="/account",
        check=lambda _: _assert(w.get(ApiToken, token_id).revoked_at is not None),
    )


@prepares("POST", "/account/timezone")
def _timezone(w: World) -> Call:
    def check(_):
        assert w.get(User, w.actor.id).timezone == "Europe/Berlin"

    return Call(
        "/account/timezone", {"timezone": "Europe/Berlin"}, location="/account", check=check
    )


@prepares("GET", "/coordinator")
def _coordinator(w: World) -> Call:
    return Call("/coordinator", location="/coordinator/applications")


@prepares("GET", "/coordinator/applications/{application_id}")
def _application_page(w: World) -> Call:
    application = w.application()
    applicant = w.get(User, application.user_id)
    return Call(
        f"/coordinator/applications/{application.id}",
        check=lambda r: _assert(applicant.email in r.text),
    )


@prepares("POST", "/coordinator/applications/{application_id}/approve")
def _approve(w: World) -> Call:
    application = w.application()

    def check(_):
        assert w.get(Application, application.id).status == "approved"
        with Session(w.engine) as s:
            rate = current_rate(s, application.user_id)
            assert (rate.hourly_cents, rate.currency) == (4550, "USD")

    return Call(
        f"/coordinator/applications/{application.id}/approve",
        {"rate": "45.50", "currency": "USD"},
        location=f"/coordinator/applications/{application.id}",
        check=check,
    )


@prepares("POST", "/coordinator/applications/{application_id}/reject")
def _reject(w: World) -> Call:
    application = w.application()
    return Call(
        f"/coordinator/applications/{application.id}/reject",
        {"reason": "We need more PyTorch experience."},
        location=f"/coordinator/applications/{application.id}",
        check=lambda _: _assert(w.get(Application, application.id).status == "rejected"),
    )


def _has_reset_link(w: World, account: User) -> Callable[[httpx.Response], None]:
    def check(response):
        assert "/reset/" in response.text and account.email in response.text
        with Session(w.engine) as s:
            rows = s.exec(select(PasswordReset).where(PasswordReset.user_id == account.id)).all()
            assert len(rows) == 1

    return check


@prepares("POST", "/coordinator/experts/{expert_id}/reset-link")
def _expert_reset_link(w: World) -> Call:
    expert = w.user(Role.expert)
    return Call(f"/coordinator/experts/{expert.id}/reset-link", check=_has_reset_link(w, expert))


@prepares("GET", "/admin")
def _admin(w: World) -> Call:
    return Call("/admin", location="/admin/users")


@prepares("POST", "/admin/users")
def _create_staff(w: World) -> Call:
    def check(response):
        with Session(w.engine) as s:
            made = s.exec(select(User).where(User.email == "new.staff@example.org")).one()
            assert made.role == Role.finance and made.password_hash is None
        assert "/reset/" in response.text

    form = {"email": "new.staff@example.org", "name": "New Staff", "role": "finance"}
    return Call("/admin/users", form, check=check)


@prepares("POST", "/admin/users/{user_id}/role")
def _role(w: World) -> Call:
    target = w.user(Role.coordinator)
    return Call(
        f"/admin/users/{target.id}/role",
        {"role": "analyst"},
        location="/admin/users",
        check=lambda _: _assert(w.get(User, target.id).role == Role.analyst),
    )


@prepares("POST", "/admin/users/{user_id}/disable")
def _disable(w: World) -> Call:
    target = w.user(Role.finance)
    return Call(
        f"/admin/users/{target.id}/disable",
        location="/admin/users",
        check=lambda _: _assert(w.get(User, target.id).disabled),
    )


@prepares("POST", "/admin/users/{user_id}/enable")
def _enable(w: World) -> Call:
    target = w.user(Role.finance, disabled=True)
    return Call(
        f"/admin/users/{target.id}/enable",
        location="/admin/users",
        check=lambda _: _assert(not w.get(User, target.id).disabled),
    )


@prepares("POST", "/admin/users/{user_id}/reset-link")
def _admin_reset_link(w: World) -> Call:
    target = w.user(Role.analyst)
    return Call(f"/admin/users/{target.id}/reset-link", check=_has_reset_link(w, target))


@prepares("GET", "/api/v1/me")
def _me(w: World) -> Call:
    if w.actor is None:
        return Call("/api/v1/me", sign_in=False)
    _, plain = w.api_token(w.actor)

    def check(response):
        assert response.json() == {
            "id": w.actor.id,
            "email": w.actor.email,
            "name": w.actor.name,
            "role": w.role,
        }

    return Call(
        "/api/v1/me", headers={"Authorization": f"Bearer {plain}"}, sign_in=False, check=check
    )


# Workspaces and hosts.

ENVIRONMENT = "warmup/main"
MANIFEST = "tasks:\n  main:\n    resources:\n      cpus: 1\n"


def _numbers_set(w: World) -> None:
    """What a coordinator supplies for warmup/main (its manifest has no baseliner: key)."""
    from environments.task_settings import TaskSettings

    with Session(w.engine) as s:
        numbers = {"metric": "seconds", "direction": "lower", "y_s": 10.0, "y_r": 1.0}
        s.add(TaskSettings(environment=ENVIRONMENT, updated_at=utcnow(), **numbers))
        s.commit()


@prepares("POST", "/assignments/{assignment_id}/start")
def _start(w: World) -> Call:
    """No host is registered, so the background start fails at once, with the reason."""
    assignment = w.assignment(w.expert())
    _numbers_set(w)

    def check(response):
        with Session(w.engine) as s:
            run = s.exec(select(Run).where(Run.assignment_id == assignment.id)).one()
        assert response.headers["location"] == f"/runs/{run.id}"
        run = w.wait_for_jobs(run.id)
        assert run.status == RunStatus.failed
        assert "No ready host has room for a workspace" in run.status_reason

    return Call(
        f"/assignments/{assignment.id}/start", location=re.compile(r"/runs/\d+"), check=check
    )


@prepares("GET", "/runs/{run_id}")
def _run_page(w: World) -> Call:
    """The expert gets Open IDE; staff a note instead (IDEs share the portal's origin here)."""
    run = w.run()

    def check(response: httpx.Response) -> None:
        if w.role == "expert":
            _assert(f'id="open-ide" href="/ide/{run.id}/"' in response.text)
        else:
            _assert('id="ide-staff-note"' in response.text and "open-ide" not in response.text)

    return Call(f"/runs/{run.id}", check=check)


def _stopped(w: World, run: Run) -> Callable[[httpx.Response], None]:
    """The stop job ran to the end although nothing was running for the run: finished, its
    leases gone, the reason saying what the cleanup met."""

    def check(_):
        after = w.wait_for_jobs(run.id)
        assert after.status == RunStatus.finished, after.status_reason
        assert after.finished_at is not None and after.status_reason.startswith("Stopped")
        with Session(w.engine) as s:
            assert s.exec(select(Lease).where(Lease.run_id == run.id)).all() == []

    return check


@prepares("POST", "/runs/{run_id}/relaunch")
def _relaunch(w: World) -> Call:
    """A lost run: the restart job looks for a host with room, finds no ready one here, and
    says so on the run, which stays lost with its clock paused."""
    run = w.run()
    with Session(w.engine) as s:
        workspace_loss.mark_lost(s, s.get(Run, run.id), "local", "its user is gone", utcnow())

    def check(_):
        after = w.wait_for_jobs(run.id)
        assert after.status == RunStatus.active and after.lost_at is not None
        assert "restarting it failed" in after.status_reason, after.status_reason

    return Call(f"/runs/{run.id}/relaunch", location=f"/runs/{run.id}", check=check)


@prepares("GET", "/runs/{run_id}/stop")
def _confirm_stop(w: World) -> Call:
    """The step before Stop: it says the run ends for good; nothing stops yet."""
    run = w.run()

    def check(response: httpx.Response) -> None:
        _assert("This ends the run for good." in response.text)
        _assert('name="confirm" value="yes"' in response.text)
        with Session(w.engine) as s:
            _assert(s.get(Run, run.id).status == RunStatus.active)

    return Call(f"/runs/{run.id}/stop", check=check)


@prepares("POST", "/runs/{run_id}/stop")
def _stop(w: World) -> Call:
    run = w.run()
    return Call(f"/runs/{run.id}/stop", data={"confirm": "yes"}, location=f"/runs/{run.id}",
                check=_stopped(w, run))  # fmt: skip


@prepares("POST", "/runs/{run_id}/restart")
def _restart(w: World) -> Call:
    """Nothing runs for this run on the host: the restart job tries, fails, finds the
    workspace's user missing and records the run as lost (it stays active, its clock paused,
    and offers a restart from its last checkpoint)."""
    run = w.run()

    def check(_):
        after = w.wait_for_jobs(run.id)
        assert after.status == RunStatus.active and after.lost_at is not None
        assert "was lost" in after.status_reason, after.status_reason

    return Call(f"/runs/{run.id}/restart", location=f"/runs/{run.id}", check=check)


@prepares("GET", "/runs/{run_id}/clock")
def _clock(w: World) -> Call:
    run = w.run()
    return Call(f"/runs/{run.id}/clock", check=lambda r: _assert(r.json()["clock"] == "running"))


def _paused_by(w: World, run: Run) -> list[str]:
    with Session(w.engine) as s:
        return pauses.paused_by(s, run.id)


@prepares("POST", "/runs/{run_id}/pause")
def _pause(w: World) -> Call:
    run = w.run()
    check = lambda _: _assert(_paused_by(w, run) == ["manual"])  # noqa: E731
    return Call(f"/runs/{run.id}/pause", location=f"/runs/{run.id}", check=check)


@prepares("POST", "/runs/{run_id}/resume")
def _resume(w: World) -> Call:
    run = w.run()
    with Session(w.engine) as s:
        pauses.pause(s, run.id, PauseReason.manual, utcnow())
        s.commit()
    check = lambda _: _assert(_paused_by(w, run) == [])  # noqa: E731
    return Call(f"/runs/{run.id}/resume", location=f"/runs/{run.id}", check=check)


@prepares("POST", "/runs/{run_id}/extend")
def _extend(w: World) -> Call:
    run = w.run()
    with Session(w.engine) as s:
        row = s.get(Run, run.id)
        row.time_limit_s = 3600
        s.add(row)
        s.commit()

    def check(_):
        with Session(w.engine) as s:
            assert clock.limit_s(s, s.get(Run, run.id)) == 3600 + 1800

    form = {"extend_minutes": "30", "extend_reason": "the host was down for half an hour"}
    return Call(f"/runs/{run.id}/extend", form, location=f"/runs/{run.id}", check=check)


@prepares("POST", "/runs/{run_id}/periods")
def _periods(w: World) -> Call:
    run = w.run(status=RunStatus.finished)
    with Session(w.engine) as s:
        row = s.get(Run, run.id)
        row.started_at = row.finished_at - timedelta(hours=2)
        s.add(row)
        s.commit()
        start = row.started_at

    def check(_):
        after = w.get(Run, run.id)
        assert after.overridden
        with Session(w.engine) as s:
            rows = pauses.for_run(s, run.id)
            assert (
                pauses.working_seconds(after.started_at, rows, utcnow(), after.finished_at) == 3600
            )

    first = (start + timedelta(seconds=1)).replace(microsecond=0)
    line = f"{first:%Y-%m-%d %H:%M:%S} - {first + timedelta(hours=1):%Y-%m-%d %H:%M:%S}"
    form = {"override_periods": line, "override_reason": "forgot to pause over lunch"}
    return Call(f"/runs/{run.id}/periods", form, location=f"/runs/{run.id}", check=check)


def _ended_run(w: World) -> Run:
    return w.run(status=RunStatus.finished)


@prepares("POST", "/runs/{run_id}/checkpoints")
def _score_now(w: World) -> Call:
    """The happy path needs a live workspace (the browser journey has one); an ended run's
    refusal shows the route's access rules."""
    return Call(f"/runs/{_ended_run(w).id}/checkpoints")


@prepares("POST", "/runs/{run_id}/notes")
def _note(w: World) -> Call:
    run = w.run()

    def check(_):
        with Session(w.engine) as s:
            (note,) = checkpoints.notes(s, run.id)
            assert (note.text, note.source) == ("tried a bigger tile", "portal")

    return Call(
        f"/runs/{run.id}/notes", data={"text": "  tried a bigger tile "},
        location=f"/runs/{run.id}", check=check,
    )  # fmt: skip


def _stored_snapshot(w: World, files: dict[str, str]) -> str:
    """A snapshot in the store of the app's data dir; its sha256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    sha = hashlib.sha256(buffer.getvalue()).hexdigest()
    store = w.client.app.state.settings.data_dir / "snapshots"
    path = snapshots.path_for(store, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return sha


def _checkpoint(w: World, run: Run, files: dict[str, str], seq: int = 1) -> Checkpoint:
    with Session(w.engine) as s:
        row = Checkpoint(
            run_id=run.id, seq=seq, source="cli", submitted_at=utcnow(), working_s=60.0 * seq,
            snapshot_sha256=_stored_snapshot(w, files), status=CheckpointStatus.scored,
            score=1.5, valid=True,
        )  # fmt: skip
        s.add(row)
        s.commit()
        s.refresh(row)
        s.expunge(row)
        return row


@prepares("GET", "/runs/{run_id}/checkpoints/{seq}/snapshot")
def _snapshot(w: World) -> Call:
    run = w.run()
    _checkpoint(w, run, {"solution.py": "print(1)\n"})

    def check(response):
        with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
            assert tar.getnames() == ["./solution.py"]

    return Call(f"/runs/{run.id}/checkpoints/1/snapshot", check=check)


@prepares("GET", "/runs/{run_id}/diff")
def _diff(w: World) -> Call:
    run = w.run()
    _checkpoint(w, run, {"solution.py": "tile = 1024\n"})
    _checkpoint(w, run, {"solution.py": "tile = 4096\n"}, seq=2)

    def check(response):
        assert "-tile = 1024" in response.text and "+tile = 4096" in response.text

    return Call(f"/runs/{run.id}/diff?a=1&b=2", check=check)


def _run_token(w: World, run: Run) -> dict[str, str]:
    with Session(w.engine) as s:
        token = run_tokens.issue(s, run.id, utcnow())
        s.commit()
    return {"Authorization": f"Bearer {token}"}


def _task_api(method: str, path: str, *, ended: bool = False, json: dict | None = None,
              check=None, environment: str = ENVIRONMENT):  # fmt: skip
    """The expert calls with their run's token; everyone else with a person's API token."""

    def build(w: World) -> Call:
        if w.actor is None:
            return Call(path, sign_in=False, json=json)
        if w.role != "expert":
            _, plain = w.api_token(w.actor)
            return Call(path, sign_in=False, json=json,
                        headers={"Authorization": f"Bearer {plain}"})  # fmt: skip
        run = w.run(status=RunStatus.finished if ended else RunStatus.active)
        if environment != ENVIRONMENT:
            with Session(w.engine) as s:
                row = s.get(Run, run.id)
                row.environment = environment
                s.add(row)
                s.commit()
        url = path
        if "{seq}" in path:
            url = path.replace("{seq}", str(_checkpoint(w, run, {"a.txt": "a"}).seq))
        return Call(url, sign_in=False, json=json, headers=_run_token(w, run),
                    check=check(w, run) if check else None)  # fmt: skip

    prepares(method, path)(build)


def _api_status(w: World, run: Run):
    def check(response):
        body = response.json()
        assert (body["run_id"], body["clock"], body["environment"]) == (
            run.id,
            "running",
            ENVIRONMENT,
        )

    return check


def _api_note(w: World, run: Run):
    def check(response):
        assert response.json()["working_s"] >= 0
        with Session(w.engine) as s:
            assert [n.text for n in checkpoints.notes(s, run.id)] == ["bigger tiles"]

    return check


def _api_pause(w: World, run: Run):
    def check(response):
        assert response.json()["clock"] == "paused"
        with Session(w.engine) as s:
            assert pauses.paused_by(s, run.id) == [PauseReason.manual]

    return check


_task_api("POST", "/api/v1/task/checkpoints", ended=True, json={})
_task_api("POST", "/api/v1/task/submit", ended=True, json={"confirm": True})
_task_api("GET", "/api/v1/task/checkpoints/{seq}")
_task_api("GET", "/api/v1/task/status", check=_api_status)
_task_api("GET", "/api/v1/task/log")
_task_api("POST", "/api/v1/task/notes", json={"text": "bigger tiles"}, check=_api_note)
_task_api("POST", "/api/v1/task/pause", json={}, check=_api_pause)
_task_api("POST", "/api/v1/task/resume", json={})
_task_api("GET", "/api/v1/task/instructions", environment="triton_cumsum/main")
MODEL_ENVIRONMENT = "rust_scaffolding/main"
_task_api("GET", "/api/v1/task/model", environment=MODEL_ENVIRONMENT)
_task_api("GET", "/api/v1/task/model/v1/models", environment=MODEL_ENVIRONMENT)


def _api_chat(w: World, run: Run):
    """A chat completion from the stand-in, one row of the run's ledger."""

    def check(response):
        from baselines import model_usage

        total = response.json()["usage"]["total_tokens"]
        with Session(w.engine) as s:
            assert model_usage.used(s, run.id) == total > 0

    return check


_task_api(
    "POST",
    "/api/v1/task/model/v1/chat/completions",
    json={"model": "m", "messages": [{"role": "user", "content": "hello"}]},
    check=_api_chat,
    environment=MODEL_ENVIRONMENT,
)


def _api_activity(w: World, run: Run):
    def check(response):
        assert (response.json()["recorded"], response.json()["clock"]) == (True, "running")
        with Session(w.engine) as s:
            rows = s.exec(select(Activity).where(Activity.run_id == run.id)).all()
            assert [row.source for row in rows] == ["extension"]

    return check


_task_api("POST", "/api/v1/task/activity", json={"kind": "edit"}, check=_api_activity)


def _api_clock(w: World, run: Run):
    """The status bar's clock: the run page's reading, and reading it is not activity."""

    def check(response):
        assert (response.json()["clock"], response.json()["status"]) == ("running", "active")
        with Session(w.engine) as s:
            assert s.exec(select(Activity).where(Activity.run_id == run.id)).all() == []

    return check


_task_api("GET", "/api/v1/task/clock", check=_api_clock)


@prepares("POST", "/coordinator/runs/{run_id}/stop")
def _coordinator_stop(w: World) -> Call:
    run = w.run()
    return Call(
        f"/coordinator/runs/{run.id}/stop", location="/coordinator/runs", check=_stopped(w, run)
    )


@prepares("GET", "/coordinator/runs")
def _live_runs(w: World) -> Call:
    run = w.run()
    return Call("/coordinator/runs", check=lambda r: _assert(f'href="/runs/{run.id}"' in r.text))


@prepares("POST", "/coordinator/assignments")
def _assign(w: World) -> Call:
    expert_id = w.application("approved").user_id

    def check(_):
        with Session(w.engine) as s:
            rows = s.exec(select(Assignment).where(Assignment.expert_id == expert_id)).all()
        assert [(a.environment, a.time_limit_s, a.status) for a in rows] == [
            (ENVIRONMENT, 7200, AssignmentStatus.assigned)
        ]

    form = {
        "experts": str(expert_id),
        "environment": ENVIRONMENT,
        "time_limit_hours": "2",
        "ai_tools": "NO_AI_TOOLS",
    }
    return Call("/coordinator/assignments", form, location="/coordinator/assignments", check=check)


@prepares("GET", "/assignments/{assignment_id}")
def _assignment_page(w: World) -> Call:
    """The expert's own; staff who may see any get a bystander's. The family on disk has no
    instructions to give: the page says so instead of failing."""
    assignment = w.assignment(w.expert())

    def check(response):
        assert ENVIRONMENT in response.text
        assert "could not be loaded" in response.text

    return Call(f"/assignments/{assignment.id}", check=check)


@prepares("POST", "/coordinator/assignments/{assignment_id}/cancel")
def _cancel_assignment(w: World) -> Call:
    assignment = w.assignment(w.user(Role.expert))
    return Call(
        f"/coordinator/assignments/{assignment.id}/cancel",
        {"reason": "Wrong task."},
        location="/coordinator/assignments",
        check=lambda _: _assert(
            w.get(Assignment, assignment.id).status == AssignmentStatus.cancelled
        ),
    )


@prepares("POST", "/coordinator/assignments/{assignment_id}/retry")
def _retry_assignment(w: World) -> Call:
    expert = w.user(Role.expert)
    assignment = w.assignment(expert)
    w.run(expert, RunStatus.finished, assignment_id=assignment.id)
    return Call(
        f"/coordinator/assignments/{assignment.id}/retry",
        location="/coordinator/assignments",
        check=lambda _: _assert(w.get(Assignment, assignment.id).retries_granted == 1),
    )


@prepares("GET", "/coordinator/assignments/plan")
def _plan_page(w: World) -> Call:
    return Call("/coordinator/assignments/plan", check=lambda r: _assert(ENVIRONMENT in r.text))


@prepares("POST", "/coordinator/assignments/plan")
def _make_plan(w: World) -> Call:
    experts = [w.application("approved").user_id for _ in range(2)]

    def check(_):
        with Session(w.engine) as s:
            rows = s.exec(select(Assignment).order_by(Assignment.expert_id)).all()
        assert [(a.expert_id, a.environment) for a in rows] == [(e, ENVIRONMENT) for e in experts]

    form = {
        "tasks": ENVIRONMENT,
        "experts": [str(e) for e in experts],
        "runs_per_task": "2",
        "ai_tools": "NO_AI_TOOLS",
        "action": "create",
    }
    return Call(
        "/coordinator/assignments/plan", form, location="/coordinator/assignments", check=check
    )


@prepares("GET", "/coordinator/hosts")
def _hosts_page(w: World) -> Call:
    w.host("gpu-07")
    return Call("/coordinator/hosts", check=lambda r: _assert("gpu-07" in r.text))


LOCAL_HOST_FORM = {
    "name": "box-2",
    "driver": "local",
    "backend": "process",
    "port": "22",
    "username": "root",
    "max_workspaces": "2",
}


@prepares("POST", "/coordinator/hosts")
def _add_host(w: World) -> Call:
    def check(_):
        with Session(w.engine) as s:
            host = hosts.by_name(s, "box-2")
        assert (host.driver, host.max_workspaces) == ("local", 2)
        assert host.status == HostStatus.ready, host.status_reason  # checked at once

    return Call(
        "/coordinator/hosts", dict(LOCAL_HOST_FORM), location="/coordinator/hosts", check=check
    )


@prepares("POST", "/coordinator/hosts/{host_id}/check")
def _check_host(w: World) -> Call:
    host = w.host(status=HostStatus.down)

    def check(_):
        after = w.get(Host, host.id)
        assert after.status == HostStatus.ready, after.status_reason
        assert after.last_seen is not None and after.disk_free_gb

    return Call(f"/coordinator/hosts/{host.id}/check", location="/coordinator/hosts", check=check)


@prepares("POST", "/coordinator/hosts/{host_id}/prepare")
def _prepare_host(w: World) -> Call:
    host = w.host()

    def check(_):
        w.client.app.state.workspaces.wait(("host", host.id), timeout=600)  # in the background
        with Session(w.engine) as s:
            said = {row.family: row.ok for row in preparation.for_host(s, host.id)}
        assert said.get("triton_cumsum") is True, said

    return Call(f"/coordinator/hosts/{host.id}/prepare", location="/coordinator/hosts", check=check)


@prepares("POST", "/coordinator/hosts/{host_id}/drain")
def _drain(w: World) -> Call:
    host = w.host()

    def check(_):
        after = w.get(Host, host.id)
        assert after.draining and after.status == HostStatus.draining

    return Call(f"/coordinator/hosts/{host.id}/drain", location="/coordinator/hosts", check=check)


@prepares("POST", "/coordinator/hosts/{host_id}/undrain")
def _undrain(w: World) -> Call:
    host = w.host(status=HostStatus.draining, draining=True)

    def check(_):
        after = w.get(Host, host.id)
        assert not after.draining and after.status == HostStatus.ready

    return Call(f"/coordinator/hosts/{host.id}/undrain", location="/coordinator/hosts", check=check)


# Environments: warmup/main is a METR family without a baseliner: key (and without
# get_instructions, so its page shows that failure rather than the instructions).

ENVIRONMENT_PAGE = "/coordinator/environments/warmup/main"
ENVIRONMENT_NUMBERS = {
    "metric": "accuracy",
    "direction": "higher",
    "y_s": "0.2",
    "y_r": "0.9",
    "time_limit_hours": "4",
    "aggregation": "best",
}


@prepares("GET", "/coordinator/environments/{family_name}/{task_name}")
def _environment_page(w: World) -> Call:
    def check(response):
        assert "needs: y_s, y_r, direction, metric" in response.text
        assert "get_instructions" in response.text  # the failure, shown on the page

    return Call(ENVIRONMENT_PAGE, check=check)


@prepares("POST", "/coordinator/environments/{family_name}/{task_name}")
def _environment_numbers(w: World) -> Call:
    def check(_):
        with Session(w.engine) as s:
            row = s.exec(select(TaskSettings)).one()
            assert (row.environment, row.y_s, row.y_r, row.time_limit_s) == (
                ENVIRONMENT,
                0.2,
                0.9,
                4 * 3600,
            )
            assert s.exec(select(AuditLog).where(AuditLog.action == "task_settings.set")).one()

    return Call(ENVIRONMENT_PAGE, dict(ENVIRONMENT_NUMBERS), location=ENVIRONMENT_PAGE, check=check)


CALIBRATION = {"cal_condition": "model: big-model", "cal_y_s": "0.1", "cal_y_r": "0.8"}


@prepares("POST", "/coordinator/environments/{family_name}/{task_name}/calibrations")
def _calibration(w: World) -> Call:
    def check(_):
        with Session(w.engine) as s:
            row = s.exec(select(Calibration)).one()
            assert (row.environment, row.condition, row.y_s, row.y_r) == (
                ENVIRONMENT,
                "model: big-model",
                0.1,
                0.8,
            )
            assert s.exec(select(AuditLog).where(AuditLog.action == "calibration.set")).one()

    return Call(
        f"{ENVIRONMENT_PAGE}/calibrations",
        dict(CALIBRATION),
        location=ENVIRONMENT_PAGE,
        check=check,
    )


@prepares("POST", "/coordinator/environments/{family_name}/{task_name}/calibrations/delete")
def _calibration_removed(w: World) -> Call:
    with Session(w.engine) as s:
        s.add(
            Calibration(
                environment=ENVIRONMENT, condition="model: big-model", y_s=0.1, y_r=0.8,
                updated_at=utcnow(),
            )
        )  # fmt: skip
        s.commit()

    def check(_):
        with Session(w.engine) as s:
            assert s.exec(select(Calibration)).first() is None
            assert s.exec(select(AuditLog).where(AuditLog.action == "calibration.remove")).one()

    return Call(
        f"{ENVIRONMENT_PAGE}/calibrations/delete",
        {"condition": "model: big-model"},
        location=ENVIRONMENT_PAGE,
        check=check,
    )


def _environment_numbers_with(**change: str) -> Callable[[World], Call]:
    return lambda w: Call(ENVIRONMENT_PAGE, {**ENVIRONMENT_NUMBERS, **change})


# The IDE. Requests carry Accept: text/html as a browser's page visit does, so refusals are pages.

IDE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
IDE_REFUSED = "Your role cannot open workspaces."
IDE_STAFF_REFUSED = "only the run's expert opens it"  # on the page; over JSON, STAFF_REFUSED
BROWSER = {"accept": "text/html"}


def _ide_bare(w: World) -> Call:
    run = w.run()
    return Call(
        f"/ide/{run.id}",
        headers=dict(BROWSER),
        location=f"/ide/{run.id}/",
        login_next=f"/runs/{run.id}",
    )


def _ide_path(method: str) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        run = w.run()

        def check(response):
            echoed = response.json()
            assert (echoed["method"], echoed["path"], echoed["query"]) == (
                method,
                "/static/a%2Fb.js",
                "v=1",
            )
            assert "baseliner_session" not in echoed["cookie"]  # the portal's session stays home

        return Call(
            f"/ide/{run.id}/static/a%2Fb.js?v=1",
            headers=dict(BROWSER),
            check=check,
            login_next=f"/runs/{run.id}",
        )

    return build


for _method in IDE_METHODS:
    prepares(_method, "/ide/{run_id}")(_ide_bare)
    prepares(_method, "/ide/{run_id}/{path:path}")(_ide_path(_method))


@prepares("WS", "/ide/{run_id}/{path:path}")
def _ide_websocket(w: World) -> Call:
    run = w.run()

    def check(ws: WebSocketTestSession) -> None:
        assert ws.receive_json()["path"] == "/socket"
        ws.send_text("ping")
        assert ws.receive_text() == "ping"

    return Call(f"/ide/{run.id}/socket?reconnection=false", check=check)


@prepares("GET", "/ide-auth")
def _ide_auth(w: World) -> Call:
    run = w.run()
    return Call(
        "/ide-auth",
        headers={"x-forwarded-host": f"run-{run.id}.ide.example.org"},
        check=lambda r: _assert(
            r.headers["x-baseliner-upstream"] == f"127.0.0.1:{w.upstream_port}"
        ),
    )


# Timesheets: weeks from Monday 2024-01-01 in UTC (the settings' defaults); the week of 01-08
# has ended, with one finished two-hour run in it.

SHEET_WEEK = date(2024, 1, 8)


def _sheet(
    w: World, expert: User, status: TimesheetStatus = TimesheetStatus.open, week=SHEET_WEEK
) -> Timesheet:
    """The expert's sheet for ``week`` (with a two-hour run on its Tuesday), in ``status``."""
    start = datetime.combine(week + timedelta(days=1), datetime.min.time(), UTC)
    start += timedelta(hours=9)
    approver = w.user(Role.finance) if status == TimesheetStatus.approved else None
    with Session(w.engine) as s:
        s.add(
            Run(
                expert_id=expert.id, environment=ENVIRONMENT, status=RunStatus.finished,
                created_at=start, started_at=start, finished_at=start + timedelta(hours=2),
            )
        )  # fmt: skip
        sheet = timesheets.sheet_for(s, expert.id, week, PayCalendar(), utcnow())
        if status != TimesheetStatus.open:
            timesheets.submit(s, sheet, "", utcnow(), s.get(User, expert.id))
        if status == TimesheetStatus.approved:
            timesheets.approve(s, sheet, s.get(User, approver.id), utcnow())
        s.commit()
        s.refresh(sheet)
        s.expunge(sheet)
        return sheet


@prepares("GET", "/timesheets")
def _timesheets(w: World) -> Call:
    sheet = _sheet(w, w.expert())

    def check(response):
        assert f'href="/timesheets/{sheet.id}"' in response.text and "2:00:00" in response.text

    return Call("/timesheets", check=check)


@prepares("GET", "/timesheets/{sheet_id}")
def _timesheet_page(w: World) -> Call:
    sheet = _sheet(w, w.expert())

    def check(response):
        assert "2024-01-08 to 2024-01-14" in response.text and "2:00:00" in response.text

    return Call(f"/timesheets/{sheet.id}", check=check)


@prepares("POST", "/timesheets/{sheet_id}/submit")
def _submit_timesheet(w: World) -> Call:
    sheet = _sheet(w, w.expert())

    def check(_):
        after = w.get(Timesheet, sheet.id)
        assert (after.status, after.working_s, after.expert_comment) == (
            TimesheetStatus.submitted, 7200, "all there",
        )  # fmt: skip

    return Call(
        f"/timesheets/{sheet.id}/submit", {"comment": "all there"},
        location=f"/timesheets/{sheet.id}", check=check,
    )  # fmt: skip


@prepares("GET", "/review/timesheets")
def _review_timesheets(w: World) -> Call:
    expert = w.user(Role.expert)
    sheet = _sheet(w, expert, TimesheetStatus.submitted)

    def check(response):
        assert expert.name in response.text and f'href="/timesheets/{sheet.id}"' in response.text

    return Call("/review/timesheets?status=submitted", check=check)


def _decide_timesheet(action: str, status: TimesheetStatus, form: dict[str, str]):
    def build(w: World) -> Call:
        sheet = _sheet(w, w.user(Role.expert), TimesheetStatus.submitted)

        def check(_):
            after = w.get(Timesheet, sheet.id)
            assert (after.status, after.decided_by_id) == (status, w.actor.id)

        return Call(
            f"/review/timesheets/{sheet.id}/{action}", form,
            location=f"/timesheets/{sheet.id}", check=check,
        )  # fmt: skip

    prepares("POST", f"/review/timesheets/{{sheet_id}}/{action}")(build)


_decide_timesheet("approve", TimesheetStatus.approved, {"confirm": "yes"})


@prepares("POST", "/review/timesheets/approve")
def _approve_chosen(w: World) -> Call:
    sheet = _sheet(w, w.user(Role.expert), TimesheetStatus.submitted)

    def check(_):
        after = w.get(Timesheet, sheet.id)
        assert (after.status, after.decided_by_id) == (TimesheetStatus.approved, w.actor.id)

    shown = f"{sheet.id}=unpriced"  # the matrix's experts have no rate
    form = {"sheet": str(sheet.id), "step": "confirm", "shown": shown, "confirm": "yes"}
    return Call("/review/timesheets/approve", form, location="/review/timesheets", check=check)


_decide_timesheet("reject", TimesheetStatus.rejected, {"reason": "Tuesday looks long."})


@prepares("GET", "/api/v1/timesheets/{sheet_id}")
def _timesheet_json(w: World) -> Call:
    sheet = _sheet(w, w.expert())
    if w.actor is None:
        return Call(f"/api/v1/timesheets/{sheet.id}", sign_in=False)
    _, plain = w.api_token(w.actor)

    def check(response):
        body = response.json()
        assert (body["status"], body["working_s"], body["timezone"]) == ("open", 7200, "UTC")
        assert [(x["day"], x["working_s"]) for x in body["lines"]] == [("2024-01-09", 7200)]

    return Call(
        f"/api/v1/timesheets/{sheet.id}", headers={"Authorization": f"Bearer {plain}"},
        sign_in=False, check=check,
    )  # fmt: skip


# Payouts: an expert with a rate and an approved sheet (2 h at 60.00), batched by CSV.


def _payable(w: World) -> Timesheet:
    expert, boss = w.user(Role.expert), w.user(Role.finance)
    with Session(w.engine) as s:
        since = datetime(2024, 1, 1, tzinfo=UTC)
        rates.set_rate(s, s.get(User, expert.id), 6000, "USD", s.get(User, boss.id),
                       utcnow() - timedelta(days=1), effective_from=since)  # fmt: skip
        s.commit()
    return _sheet(w, expert, TimesheetStatus.approved)


def _batch(w: World, approved: bool = False) -> PayoutBatch:
    _payable(w)
    with Session(w.engine) as s:
        boss = s.get(User, w.user(Role.finance).id)
        batch, _ = batches.build(s, SHEET_WEEK, Method.csv, boss, utcnow())
        if approved:
            batches.approve(s, batch, boss, utcnow())
        s.refresh(batch)
        s.expunge(batch)
        return batch


# The long lists as JSON: a row made for the case is among the items of the first page.


def _list_json(path: str, make: Callable[[World], int]) -> None:
    @prepares("GET", path)
    def prepare(w: World) -> Call:
        ident = make(w)
        if w.actor is None:
            return Call(path, sign_in=False)
        _, plain = w.api_token(w.actor)

        def check(response):
            body = response.json()
            assert ident in [item["id"] for item in body["items"]], body
            assert body["page"] == 1 and body["next"] is None

        return Call(path, headers={"Authorization": f"Bearer {plain}"}, sign_in=False, check=check)


def _audited(w: World) -> int:
    with Session(w.engine) as s:
        row = AuditLog(at=utcnow(), action="matrix.probe", object_type="users", object_id="1")
        s.add(row)
        s.commit()
        return row.id


_list_json("/api/v1/applications", lambda w: w.application().id)
_list_json("/api/v1/experts", lambda w: w.user(Role.expert).id)
_list_json("/api/v1/assignments", lambda w: w.assignment(w.user(Role.expert)).id)
_list_json("/api/v1/runs", lambda w: w.run(w.user(Role.expert), RunStatus.finished).id)
_list_json(
    "/api/v1/timesheets",
    lambda w: _sheet(w, w.user(Role.expert), TimesheetStatus.submitted).id,
)
_list_json("/api/v1/payouts", lambda w: _batch(w).id)
_list_json("/api/v1/audit", _audited)


@prepares("POST", "/finance/rates")
def _set_rate(w: World) -> Call:
    expert = w.user(Role.expert)

    def check(_):
        with Session(w.engine) as s:
            (row,) = rates.history(s, expert.id)
            assert (row.hourly_cents, row.currency, row.environment) == (6250, "EUR", None)
            assert row.effective_from == datetime(2026, 12, 1, tzinfo=UTC)

    form = {"expert": str(expert.id), "rate": "62.50", "currency": "EUR",
            "effective_from": "2026-12-01", "environment": ""}  # fmt: skip
    return Call("/finance/rates", form, location="/finance", check=check)


@prepares("GET", "/finance/payouts")
def _payouts(w: World) -> Call:
    _payable(w)
    return Call("/finance/payouts", check=lambda r: _assert("1 approved timesheet" in r.text))


@prepares("POST", "/finance/payouts")
def _build_batch(w: World) -> Call:
    sheet = _payable(w)

    def check(_):
        with Session(w.engine) as s:
            (line,) = s.exec(select(PayoutLine)).all()
            assert (line.timesheet_id, line.seconds, line.amount_cents) == (sheet.id, 7200, 12000)

    form = {"period": SHEET_WEEK.isoformat(), "method": "csv"}
    return Call("/finance/payouts", form, location=re.compile(r"/finance/payouts/\d+"),
                check=check)  # fmt: skip


@prepares("GET", "/finance/payouts/{batch_id}")
def _payout_page(w: World) -> Call:
    batch = _batch(w)
    return Call(f"/finance/payouts/{batch.id}", check=lambda r: _assert("120.00 USD" in r.text))


@prepares("POST", "/finance/payouts/{batch_id}/approve")
def _approve_batch(w: World) -> Call:
    batch = _batch(w)
    check = lambda _: _assert(w.get(PayoutBatch, batch.id).status == "approved")  # noqa: E731
    return Call(f"/finance/payouts/{batch.id}/approve", {"confirm": "yes"},
                location=f"/finance/payouts/{batch.id}", check=check)  # fmt: skip


@prepares("POST", "/finance/payouts/{batch_id}/discard")
def _discard_batch(w: World) -> Call:
    batch = _batch(w)
    check = lambda _: _assert(w.get(PayoutBatch, batch.id) is None)  # noqa: E731
    return Call(f"/finance/payouts/{batch.id}/discard", location="/finance/payouts", check=check)


@prepares("POST", "/finance/payouts/{batch_id}/pay")
def _pay_batch(w: World) -> Call:
    return Call(f"/finance/payouts/{_batch(w, approved=True).id}/pay")


@prepares("POST", "/finance/payouts/{batch_id}/mark-paid")
def _mark_paid(w: World) -> Call:
    batch = _batch(w, approved=True)

    def check(_):
        assert w.get(PayoutBatch, batch.id).status == "paid"
        with Session(w.engine) as s:
            (line,) = batches.lines(s, batch.id)
            assert (line.status, line.reference) == ("paid", "BANK-2024-02")

    return Call(f"/finance/payouts/{batch.id}/mark-paid", {"reference": "BANK-2024-02"},
                location=f"/finance/payouts/{batch.id}", check=check)  # fmt: skip


def _csv_call(kind: str, api: bool):
    def build(w: World) -> Call:
        batch = _batch(w)
        prefix = "/api/v1/payouts" if api else "/finance/payouts"
        url = f"{prefix}/{batch.id}/{kind}.csv"

        def check(response):
            assert response.headers["content-type"].startswith("text/csv")
            assert response.text.splitlines()[0].startswith("line_id,expert_id,")

        if not api:
            return Call(url, check=check)
        if w.actor is None:
            return Call(url, sign_in=False)
        _, plain = w.api_token(w.actor)
        return Call(url, headers={"Authorization": f"Bearer {plain}"}, sign_in=False, check=check)

    return build


for _kind in ("batch", "detail"):
    prepares("GET", f"/finance/payouts/{{batch_id}}/{_kind}.csv")(_csv_call(_kind, api=False))
    prepares("GET", f"/api/v1/payouts/{{batch_id}}/{_kind}.csv")(_csv_call(_kind, api=True))


# The analyst's dataset: a finished human run with scored checkpoints, and an imported agent run.

AGENT = "matrix-bot"
AGENT_RUNS = (
    "run_id,task_id,agent,working_s,status,cost_usd,source\n"
    f"m1,{ENVIRONMENT},{AGENT},3600,submitted,2.5,csv\n"
)
AGENT_LOG = "run_id,elapsed_s,score,score_normalized\nm1,600,4.0,0.6\nm1,3000,2.0,0.9\n"


def _analytics_seed(w: World) -> Run:
    """One human run on warmup/main (two scored checkpoints) and one imported agent run."""
    start = utcnow() - timedelta(hours=3)
    with Session(w.engine) as s:
        run = Run(
            expert_id=w.user(Role.expert).id, environment=ENVIRONMENT, status=RunStatus.finished,
            created_at=start, started_at=start, finished_at=start + timedelta(hours=2),
        )  # fmt: skip
        s.add(run)
        s.flush()
        for seq, (working, score) in enumerate([(1200.0, 0.4), (4800.0, 0.8)], start=1):
            s.add(
                Checkpoint(
                    run_id=run.id,
                    seq=seq,
                    source="cli",
                    submitted_at=start,
                    working_s=working,
                    snapshot_sha256="0" * 64,
                    status=CheckpointStatus.scored,
                    score=score,
                    score_normalized=score,
                    valid=True,
                    scored_at=start,
                )
            )
        rows = [(f"agents.csv line {i}", r) for i, r in enumerate(_csv_rows(AGENT_RUNS), 2)]
        entries = [(f"log.csv line {i}", r) for i, r in enumerate(_csv_rows(AGENT_LOG), 2)]
        importing.store(s, importing.batch_of(rows, entries), utcnow())
        s.commit()
        s.refresh(run)
        s.expunge(run)
        return run


def _csv_rows(text: str) -> list[dict]:
    return [{k: v or None for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


def _agents_in(text: str) -> set[str]:
    return {row["agent"] for row in csv.DictReader(io.StringIO(text))}


ANALYSIS = f"task={ENVIRONMENT}&limit=1&budget=1,2,4"


@prepares("GET", "/analyst")
def _analyses(w: World) -> Call:
    _analytics_seed(w)

    def check(response):
        for name in ("human", AGENT):
            assert f'value="{name}"' in response.text and f"<td>{name}</td>" in response.text
        assert (
            f'src="/analyst/plots/curve.png?task={ENVIRONMENT.replace("/", "%2F")}' in response.text
        )

    return Call(f"/analyst?{ANALYSIS}", check=check)


@prepares("GET", "/analyst/environments")
def _analyst_catalogue(w: World) -> Call:
    return Call("/analyst/environments", check=lambda r: _assert("warmup" in r.text))


@prepares("GET", "/analyst/plots/{figure}.{fmt}")
def _analyst_plot(w: World) -> Call:
    _analytics_seed(w)

    def check(response):
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
        numbers = w.client.get(f"/analyst/plots/best-of-k.csv?{ANALYSIS}")
        assert _agents_in(numbers.text) == {"human", AGENT}

    return Call(f"/analyst/plots/curve.png?{ANALYSIS}", check=check)


@prepares("GET", "/analyst/summary.csv")
def _analyst_summary(w: World) -> Call:
    _analytics_seed(w)
    return Call(
        "/analyst/summary.csv", check=lambda r: _assert(_agents_in(r.text) == {"human", AGENT})
    )


@prepares("GET", "/analyst/data/{table}.{fmt}")
def _analyst_data(w: World) -> Call:
    run = _analytics_seed(w)

    def check(response):
        rows = pq.read_table(io.BytesIO(response.content)).to_pylist()
        assert {(r["run_id"], r["agent"]) for r in rows} == {
            (f"baseliner-{run.id}", "human"),
            ("m1", AGENT),
        }

    return Call(f"/analyst/data/runs.parquet?task={ENVIRONMENT}", check=check)


def _analytics_api(table: str, fmt: str) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        _analytics_seed(w)
        url = f"/api/v1/analytics/{table}?format={fmt}&task={ENVIRONMENT}"
        if w.actor is None:
            return Call(url, sign_in=False)
        _, plain = w.api_token(w.actor)

        def check(response):
            lines = response.text.splitlines()
            agents = (
                {json.loads(line)["agent"] for line in lines}
                if fmt == "jsonl"
                else _agents_in(response.text)
            )
            assert agents == {"human", AGENT} and len(lines) == (2 if fmt == "jsonl" else 5)

        return Call(url, headers={"Authorization": f"Bearer {plain}"}, sign_in=False, check=check)

    return build


prepares("GET", "/api/v1/analytics/runs")(_analytics_api("runs", "jsonl"))
prepares("GET", "/api/v1/analytics/score-log")(_analytics_api("score-log", "csv"))


def _analytics_import(runs: str = AGENT_RUNS, log: str = AGENT_LOG) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        files = {
            "runs": ("agents.csv", runs.encode(), "text/csv"),
            "score_log": ("log.csv", log.encode(), "text/csv"),
        }
        url = "/api/v1/analytics/import"
        if w.actor is None:
            return Call(url, sign_in=False, files=files)
        _, plain = w.api_token(w.actor)

        def check(response):
            assert response.json()["added"] == 1 and response.json()["entries"] == 2
            with Session(w.engine) as s:
                (run,) = s.exec(select(ImportedRun)).all()
                assert (run.run_id, run.agent, run.cost_usd) == ("m1", AGENT, 2.5)
                assert len(s.exec(select(ImportedScore)).all()) == 2
                audit = s.exec(select(AuditLog).where(AuditLog.action == "analytics.import")).one()
                assert audit.actor_id == w.actor.id

        headers = {"Authorization": f"Bearer {plain}"}
        return Call(url, headers=headers, sign_in=False, files=files, check=check)

    return build


prepares("POST", "/api/v1/analytics/import")(_analytics_import())


def _analytics_api_asking(query: str) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        _, plain = w.api_token(w.actor)
        headers = {"Authorization": f"Bearer {plain}"}
        return Call(f"/api/v1/analytics/runs?{query}", headers=headers, sign_in=False)

    return build


@prepares("POST", "/webhooks/stripe")
def _webhook(w: World) -> Call:
    return Call("/webhooks/stripe", sign_in=False, headers={"Stripe-Signature": "t=1,v1=00"})


@prepares("GET", "/metrics")
def _metrics(w: World) -> Call:
    def check(response):
        names = {f.name for f in text_string_to_metric_families(response.text)}
        assert {"baseliner_runs", "baseliner_checkpoint_queue", "baseliner_host_up"} <= names

    return Call("/metrics", check=check)


def _assert(condition: bool) -> None:
    assert condition


def prepare(method: str, path: str, w: World) -> Call:
    fn = PREPARE.get((method, path))
    return fn(w) if fn else Call(path)


# --- running one case ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its real cost takes a few hundred ms a hash here, twice a case (make the user,
    sign in). This module checks who reaches what, not hash strength, so it hashes cheaply."""
    cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("not-a-real-password"))


@pytest.fixture(scope="session")
def environments_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One task family on disk, ``warmup/main``, for assignments and Start."""
    root = tmp_path_factory.mktemp("envs")
    family = root / "warmup"
    (family / "assets").mkdir(parents=True)
    (family / "manifest.yaml").write_text(MANIFEST)
    (family / "warmup.py").write_text("class TaskFamily:\n    standard_version = '0.5.0'\n")
    (family / "assets" / "notes.md").write_text("# Notes\n")
    return root


@pytest.fixture
def settings(settings, environments_dir: Path):
    settings.environment_dirs = str(environments_dir)
    return settings


def _echo_upstream() -> FastAPI:
    """Stands in for a run's code-server: answers every method on every path with what it got,
    and echoes WebSocket frames after a first message naming the path."""
    app = FastAPI()
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    @app.api_route("/{rest:path}", methods=methods)
    async def echo(request: Request, rest: str) -> JSONResponse:
        return JSONResponse(
            {
                "method": request.method,
                "path": request.scope["raw_path"].decode(),
                "query": request.url.query,
                "cookie": request.headers.get("cookie", ""),
            }
        )

    @app.websocket("/{rest:path}")
    async def ws(websocket: WebSocket, rest: str) -> None:
        await websocket.accept()
        await websocket.send_json({"path": websocket.scope["raw_path"].decode()})
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            pass

    return app


@pytest.fixture(scope="module")
def upstream_port() -> Iterator[int]:
    with serve(_echo_upstream()) as base:
        yield int(base.rsplit(":", 1)[1])


def _deliberate(response: httpx.Response) -> bool:
    """The IDE's own 5xx answers: its workspace is still starting (503) or not answering (502)."""
    path = urlsplit(str(response.request.url)).path
    return path.startswith("/ide/") and response.status_code in (502, 503)


@pytest.fixture
def world(
    client: TestClient, engine: Engine, make_user, upstream_port: int
) -> Callable[[str], World]:
    def no_server_errors(response: httpx.Response) -> None:
        assert response.status_code < 500 or _deliberate(response), (
            f"{response.request.method} {response.request.url} answered {response.status_code}"
        )

    client.event_hooks["response"].append(no_server_errors)

    def build(role: str) -> World:
        actor = None if role == ANON else make_user(Role(role))
        return World(role, client, engine, make_user, actor, upstream_port)

    return build


def sign_in(w: World, call: Call) -> bool:
    """Sign the session in as the actor (unless the call uses a bearer token); True if it is."""
    if w.actor is None or not call.sign_in:
        return False
    login(w.client, w.actor)
    return True


def send(
    w: World, method: str, call: Call, signed_in: bool, csrf: str | None = "session"
) -> httpx.Response:
    """Make the request. csrf: 'session' sends the session's token (read from a page's form, as
    a browser would), None sends none, any other string is sent as the token."""
    if call.json is not None:
        return w.client.request(method, call.url, json=call.json, headers=call.headers)
    data = dict(call.data)
    if method == "POST":
        # Signed in, the page header has the sign-out form; anonymous, the sign-in form.
        token = csrf_token(w.client, "/" if signed_in else "/login")
        if csrf == "session":
            data["csrf_token"] = token
        elif csrf is not None:
            data["csrf_token"] = csrf
    return w.client.request(
        method, call.url, data=data or None, files=call.files, headers=call.headers
    )


def _content_types(call: Call) -> tuple[str, ...]:
    """What a refusal may come as: JSON for the API and the front proxy's forward-auth; for the
    IDE, a page when the browser asks for one, else JSON (or the site's 404 page for an address
    that is malformed before the IDE route is reached); a page everywhere else."""
    path = urlsplit(call.url).path
    if path.startswith(("/api/", "/webhooks/")) or path in ("/ide-auth", "/ide-tls"):
        return ("application/json",)
    if path.startswith("/ide/") and "text/html" not in call.headers.get("accept", ""):
        return ("application/json", "text/html")
    return ("text/html",)


def expect(w: World, method: str, call: Call, expected: int | str) -> httpx.Response | None:
    if method == "WS":
        expect_websocket(w, call, expected)
        return None
    signed_in = sign_in(w, call)
    before = snapshot(w.engine)
    response = send(w, method, call, signed_in)
    status = 303 if expected == LOGIN else expected
    where = f"{method} {call.url} as {w.role}"
    assert response.status_code == status, f"{where}: {response.status_code} {response.text[:500]}"
    path = urlsplit(call.url).path
    is_api, is_ide = path.startswith("/api/"), path.startswith(("/ide/", "/ide-auth"))

    if expected == LOGIN:
        location = urlsplit(response.headers["location"])
        assert location.path == "/login", where
        # A page comes back after sign-in; a form's POST-only address does not (the form's page,
        # from the Referer, does; these requests send none).
        wanted = {"next": [call.login_next or call.url]} if method == "GET" else {}
        assert parse_qs(location.query) == wanted, where
    elif status in (303, 307):
        assert call.location is not None, f"{where}: PREPARE must say where the {status} points"
        if isinstance(call.location, re.Pattern):
            assert call.location.fullmatch(response.headers["location"]), where
        else:
            assert response.headers["location"] == call.location, where
    if status == 401:
        if is_api:
            assert response.json()["detail"], where
            assert response.headers["www-authenticate"] == "Bearer", where
        elif method != "HEAD":  # the IDE: its own requests can't follow a sign-in redirect
            assert "Sign in first." in response.text, where
    if status == 403 and method != "HEAD":
        refused = IDE_REFUSED if is_ide else "Your role cannot open this page."
        if path.startswith("/ide/") and w.role in ("coordinator", "admin"):
            html = "text/html" in call.headers.get("accept", "")
            refused = IDE_STAFF_REFUSED if html else STAFF_REFUSED
        assert refused in response.text, where
    if status >= 400:
        assert response.headers["content-type"].startswith(_content_types(call)), where
    if expected == LOGIN or status >= 400:
        assert snapshot(w.engine) == before, f"{where}: a refused request changed the database"
    elif call.check is not None:
        call.check(response)
    return response


def expect_websocket(w: World, call: Call, expected: int | str) -> None:
    """Open the WebSocket: 101 when the handshake is accepted (then ``call.check`` talks through
    it), else the status of the refusal (a denial response; a close before accepting is what a
    server answers 403 to)."""
    sign_in(w, call)
    before = snapshot(w.engine)
    where = f"WS {call.url} as {w.role}"
    try:
        session = w.client.websocket_connect(call.url, headers=dict(call.headers))
        ws = session.__enter__()
    except WebSocketDenialResponse as denial:
        assert denial.status_code == expected, f"{where}: {denial.status_code} {denial.text}"
        assert denial.json()["detail"], where
    except WebSocketDisconnect as closed:
        assert expected == 403, f"{where}: closed with {closed.code} before the handshake"
    else:
        try:
            assert expected == 101, f"{where}: the handshake was accepted"
            if call.check is not None:
                call.check(ws)
        finally:
            session.__exit__(None, None, None)
        return
    assert snapshot(w.engine) == before, f"{where}: a refused handshake changed the database"


# --- the tests -------------------------------------------------------------------------------


def _app_routes(app) -> list[tuple[str, object]]:
    """(path, route) for every route the app answers, whatever way FastAPI nests included
    routers (newer FastAPI keeps them as lazy ``_IncludedRouter`` entries in ``app.routes``)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        return [(route.path, route) for route in app.routes]
    return [(ctx.path, ctx.original_route) for ctx in iter_route_contexts(app.routes)]


def test_every_route_is_in_the_matrix(app) -> None:
    found: set[tuple[str, str]] = set()
    for path, route in _app_routes(app):
        if isinstance(route, Mount):
            assert path.startswith(STATIC_MOUNTS), f"mount {path} needs rows in MATRIX"
            continue
        if isinstance(route, APIWebSocketRoute | WebSocketRoute):
            found.add(("WS", path))  # WebSocket routes are rows too, method "WS"
            continue
        assert isinstance(route, APIRoute | Route), f"{path}: unexpected route type {route!r}"
        # A route without methods takes any method: it must get rows too (it never matches "*").
        for method in route.methods or ("*",):
            if method != "HEAD":  # Starlette adds HEAD to every GET
                found.add((method, path))
    assert ("GET", "/api/v1/me") in found and len(found) >= 30, "route enumeration broke"
    missing = sorted(found - MATRIX.keys())
    assert not missing, f"routes missing from MATRIX (add a row with each role's answer): {missing}"
    stale = sorted(MATRIX.keys() - found)
    assert not stale, f"MATRIX rows for routes the app no longer has: {stale}"
    for method, path in MATRIX:
        if "{" in path:
            assert (method, path) in PREPARE, f"{method} {path}: PREPARE must fill its parameters"


MATRIX_CASES = [
    pytest.param(method, path, role, expected, id=f"{method} {path} as {role}")
    for (method, path), answers in MATRIX.items()
    for role, expected in zip(ROLES, answers, strict=True)
]


@pytest.mark.parametrize(("method", "path", "role", "expected"), MATRIX_CASES)
def test_route_answers_each_caller(world, method, path, role, expected) -> None:
    w = world(role)
    expect(w, method, prepare(method, path, w), expected)


def _allowed_role(method: str, path: str) -> str:
    return next(
        r for r, e in zip(ROLES, MATRIX[(method, path)], strict=True) if e not in (LOGIN, 401, 403)
    )


# The IDE's POSTs are code-server's own requests, passed through: the portal's CSRF token is for
# its forms (the session cookie is SameSite=Lax, so another site's POST carries no session).
POST_PAGES = [
    (method, path)
    for method, path in MATRIX
    # Stripe's webhook is signed by Stripe instead.
    if method == "POST" and not path.startswith(("/api/", "/ide/", "/webhooks/"))
]


@pytest.mark.parametrize("token", ["missing", "wrong"])
@pytest.mark.parametrize(
    ("method", "path"), [pytest.param(m, p, id=f"{m} {p}") for m, p in POST_PAGES]
)
def test_post_without_the_csrf_token_is_refused(world, method, path, token) -> None:
    """As a role the route allows, so only the missing token can be the reason for the 403."""
    w = world(_allowed_role(method, path))
    call = prepare(method, path, w)
    signed_in = sign_in(w, call)
    who, before = signed_in_as(w.client), snapshot(w.engine)
    response = send(w, method, call, signed_in, csrf=None if token == "missing" else "not-it")
    assert response.status_code == 403, response.text[:500]
    assert "This form has expired" in response.text
    assert snapshot(w.engine) == before
    assert signed_in_as(w.client) == who


# --- objects: someone else's, unknown ones, malformed ids, repeated actions --------------------


def _someone_elses_token(w: World) -> Call:
    token_id, _ = w.api_token(w.user(Role.coordinator))
    return Call(f"/account/tokens/{token_id}/revoke")


def _own_revoked_token(w: World) -> Call:
    token_id, _ = w.api_token(w.actor, revoked=True)
    return Call(f"/account/tokens/{token_id}/revoke", location="/account")


def _decided(status: str, action: str) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        application = w.application(status)
        form = {"rate": "45", "currency": "USD", "reason": "Not now."}
        return Call(f"/coordinator/applications/{application.id}/{action}", form)

    return build


def _approve_with(form: dict[str, str]) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        application = w.application()
        return Call(f"/coordinator/applications/{application.id}/approve", form)

    return build


def _reject_with(form: dict[str, str]) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        application = w.application()
        return Call(f"/coordinator/applications/{application.id}/reject", form)

    return build


def _expert_link_for(role: Role | str) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        account = w.actor if role == "self" else w.user(role)
        return Call(f"/coordinator/experts/{account.id}/reset-link")

    return build


def _admin_on_self(action: str, form: dict[str, str]) -> Callable[[World], Call]:
    return lambda w: Call(f"/admin/users/{w.actor.id}/{action}", form)


def _role_to(value: str) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        return Call(f"/admin/users/{w.user(Role.finance).id}/role", {"role": value})

    return build


def _reset_with(kind: str, form: dict[str, str] | None = None) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        target = w.user(Role.finance)
        if kind == "unknown":
            token = "no-such-token"
        elif kind == "expired":
            token = w.reset_token(target, issued_ago=timedelta(hours=73))
        elif kind == "used":
            token = w.reset_token(target)
            w.reset_token(target)  # a newer link ends the older one
        elif kind == "disabled":
            token = w.reset_token(target)
            with Session(w.engine) as s:
                s.get(User, target.id).disabled = True
                s.commit()
        else:
            token = w.reset_token(target)
        return Call(f"/reset/{token}", form or {})

    return build


def _api_with(kind: str) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        if kind == "session only":
            return Call("/api/v1/me")  # signed in by cookie, no token
        if kind == "garbage":
            header = "Bearer bl_not-a-real-token"
        elif kind == "basic":
            header = "Basic dXNlcjpwYXNz"
        elif kind == "revoked":
            header = f"Bearer {w.api_token(w.actor, revoked=True)[1]}"
        else:  # disabled: a live token whose account was disabled since
            owner = w.user(Role.finance)
            header = f"Bearer {w.api_token(owner)[1]}"
            with Session(w.engine) as s:
                s.get(User, owner.id).disabled = True
                s.commit()
        return Call("/api/v1/me", headers={"Authorization": header}, sign_in=False)

    return build


def _url(url: str) -> Callable[[World], Call]:
    return lambda w: Call(url)


def _signed_in_login_with_next(next_: str) -> Callable[[World], Call]:
    return lambda w: Call(f"/login?next={next_}", location=home(w))


def _others(what: str) -> Callable[[World], Call]:
    """Another expert's assignment or run, asked for by the signed-in expert."""

    def build(w: World) -> Call:
        other = w.user(Role.expert)
        if what == "start":
            return Call(f"/assignments/{w.assignment(other).id}/start")
        if what == "assignment":
            return Call(f"/assignments/{w.assignment(other).id}")
        run = w.run(other)
        return Call(f"/runs/{run.id}" + ("/stop" if what == "stop" else ""))

    return build


def _start_closed(w: World) -> Call:
    return Call(f"/assignments/{w.assignment(w.actor, AssignmentStatus.closed).id}/start")


def _start_gone(w: World) -> Call:
    assignment = w.assignment(w.actor)
    with Session(w.engine) as s:
        row = s.get(Assignment, assignment.id)
        row.environment = "retired/main"
        s.add(row)
        s.commit()
    return Call(f"/assignments/{assignment.id}/start")


def _start_not_ready(w: World) -> Call:
    """No y_s, y_r, metric or direction yet: runs are held back (a refusal changes nothing)."""
    return Call(f"/assignments/{w.assignment(w.actor).id}/start")


def _start_cancelled(w: World) -> Call:
    return Call(f"/assignments/{w.assignment(w.actor, AssignmentStatus.cancelled).id}/start")


def _start_used_up(w: World) -> Call:
    """Its one run ended: no second start without a retry (a start that failed before it was
    ever active would not count; this one was active)."""
    assignment = w.assignment(w.actor)
    w.run(w.actor, RunStatus.finished, assignment_id=assignment.id)
    return Call(f"/assignments/{assignment.id}/start")


def _with_run(status: RunStatus, action: str) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        expert = w.user(Role.expert)
        assignment = w.assignment(expert)
        w.run(expert, status, assignment_id=assignment.id)
        return Call(f"/coordinator/assignments/{assignment.id}/{action}")

    return build


_cancel_started = _with_run(RunStatus.active, "cancel")
_retry_live = _with_run(RunStatus.active, "retry")


def _cancel_cancelled(w: World) -> Call:
    assignment = w.assignment(w.user(Role.expert), AssignmentStatus.cancelled)
    return Call(f"/coordinator/assignments/{assignment.id}/cancel")


def _retry_unused(w: World) -> Call:
    return Call(f"/coordinator/assignments/{w.assignment(w.user(Role.expert)).id}/retry")


def _start_live(w: World) -> Call:
    assignment = w.assignment(w.actor)
    run = w.run(w.actor, RunStatus.provisioning, assignment_id=assignment.id)

    def check(_):
        with Session(w.engine) as s:
            runs = s.exec(select(Run).where(Run.assignment_id == assignment.id)).all()
        assert [r.id for r in runs] == [run.id]

    return Call(f"/assignments/{assignment.id}/start", location=f"/runs/{run.id}", check=check)


def _stop_run(url: str, status: RunStatus) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        run = w.run(status=status)
        location = "/coordinator/runs" if url.startswith("/coordinator") else f"/runs/{run.id}"
        check = _stopped(w, run) if status == RunStatus.provisioning else None
        data = {} if url.startswith("/coordinator") else {"confirm": "yes"}  # the portal's Stop
        return Call(url.format(id=run.id), data=data, location=location, check=check)

    return build


def _ide_of(kind: str | RunStatus) -> Callable[[World], Call]:
    """The IDE of a run: another expert's, an unknown one, one in ``kind`` status, one whose IDE
    is down (nothing listens on its port), or the actor's live one asked for as the IDE's own
    scripts do (``xhr``: no text/html in Accept)."""

    def build(w: World) -> Call:
        headers = {} if kind == "xhr" else dict(BROWSER)
        if kind == "unknown":
            return Call("/ide/999999/", headers=headers, login_next="/runs/999999")
        if kind == "other":
            run = w.run(w.user(Role.expert))
        elif kind == "down":
            run = w.run(port=free_port())
        elif kind == "xhr":
            run = w.run()
        else:
            run = w.run(status=RunStatus(kind))
        return Call(f"/ide/{run.id}/x", headers=headers, login_next=f"/runs/{run.id}")

    return build


def _ide_socket(kind: str | RunStatus) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        if kind == "unknown":
            return Call("/ide/999999/socket")
        if kind == "other":
            run = w.run(w.user(Role.expert))
        elif kind == "down":
            run = w.run(port=free_port())
        else:
            run = w.run(status=RunStatus(kind))
        return Call(f"/ide/{run.id}/socket")

    return build


def _ide_auth_for(host: str | RunStatus) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        name = host
        if host == "other":
            name = f"run-{w.run(w.user(Role.expert)).id}.ide.example.org"
        elif isinstance(host, RunStatus):
            name = f"run-{w.run(status=host).id}.ide.example.org"
        return Call("/ide-auth", headers={"x-forwarded-host": name})

    return build


# Ids no row can have: beyond PostgreSQL's 32-bit integer, beyond 64 bits, zero, negative.
def _others_timesheet(path: str, api: bool = False) -> Callable[[World], Call]:
    """Another expert's timesheet, asked for by the signed-in expert."""

    def build(w: World) -> Call:
        sheet = _sheet(w, w.user(Role.expert))
        if not api:
            return Call(path.format(id=sheet.id))
        _, plain = w.api_token(w.actor)
        headers = {"Authorization": f"Bearer {plain}"}
        return Call(path.format(id=sheet.id), headers=headers, sign_in=False)

    return build


def _api_timesheet(ident: str) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        _, plain = w.api_token(w.actor)
        headers = {"Authorization": f"Bearer {plain}"}
        return Call(f"/api/v1/timesheets/{ident}", headers=headers, sign_in=False)

    return build


def _timesheet_in(status: TimesheetStatus, path: str, form=None, current=False):
    """A bystander's sheet in ``status`` (the actor's own for an expert); ``current``: this
    week's, which has not ended."""

    def build(w: World) -> Call:
        week = PayCalendar().period_at(utcnow())[0] if current else SHEET_WEEK
        sheet = _sheet(w, w.expert(), status, week)
        return Call(path.format(id=sheet.id), form or {})

    return build


OUT_OF_RANGE_IDS = ("2147483648", "99999999999999999999", "0", "-99999999999999999999")
ID_ROUTES = [
    (method, path, _allowed_role(method, path))
    for method, path in MATRIX
    # WS: see WS_CASES; the JSON API asks for a token first (see "api timesheet with id").
    if "_id}" in path and method != "WS" and not path.startswith("/api/")
]


def _other_runs_checkpoint(w: World) -> Call:
    """Checkpoint 1 exists only on another expert's run: the caller's own run token finds
    nothing (its token names its run; no address can name another)."""
    other = w.run(w.user(Role.expert))
    _checkpoint(w, other, {"a.txt": "theirs"})
    return Call("/api/v1/task/checkpoints/1", sign_in=False, headers=_run_token(w, w.run()))


def _activity_of(status: RunStatus, kind: str = "edit") -> Callable[[World], Call]:
    """The editor extension's report for a run in ``status`` (an ended one: 410, no row)."""

    def build(w: World) -> Call:
        run = w.run(status=status)
        return Call("/api/v1/task/activity", sign_in=False, json={"kind": kind},
                    headers=_run_token(w, run))  # fmt: skip

    return build


def _unknown_run_token(w: World) -> Call:
    return Call(
        "/api/v1/task/status", sign_in=False, headers={"Authorization": "Bearer blr_not-a-token"}
    )


def _snapshot_gone(w: World) -> Call:
    run = w.run()
    row = _checkpoint(w, run, {"a.txt": "a"})
    snapshots.path_for(
        w.client.app.state.settings.data_dir / "snapshots", row.snapshot_sha256
    ).unlink()
    return Call(f"/runs/{run.id}/checkpoints/1/snapshot")


def _diff_unknown(w: World) -> Call:
    run = w.run()
    _checkpoint(w, run, {"a.txt": "a"})
    return Call(f"/runs/{run.id}/diff?a=1&b=7")


def _someone_elses_notes(w: World) -> Call:
    return Call(f"/runs/{w.run(w.user(Role.expert)).id}/notes", data={"text": "mine now"})


def _empty_note(w: World) -> Call:
    run = w.run()

    def check(response):
        assert "an empty note is not saved" in response.text  # beside the field
        with Session(w.engine) as s:
            assert checkpoints.notes(s, run.id) == []

    return Call(f"/runs/{run.id}/notes", data={"text": "   "}, check=check)


OBJECT_CASES = [
    # The task API and checkpoints.
    pytest.param("expert", "GET", _other_runs_checkpoint, 404, id="another run's checkpoint"),
    pytest.param("expert", "GET", _unknown_run_token, 401, id="an unknown run token"),
    pytest.param("expert", "POST", _activity_of(RunStatus.finished), 410, id="activity, run over"),
    pytest.param("expert", "POST", _activity_of(RunStatus.active, "nap"), 422, id="activity kind"),
    pytest.param("coordinator", "GET", _snapshot_gone, 410, id="a snapshot no longer stored"),
    pytest.param("coordinator", "GET", _diff_unknown, 404, id="a diff with an unknown checkpoint"),
    pytest.param("coordinator", "GET", _url("/runs/1/diff?a=x&b=1"), 404, id="a diff with a=x"),
    pytest.param("expert", "POST", _someone_elses_notes, 404, id="a note on another's run"),
    pytest.param("expert", "POST", _empty_note, 400, id="an empty note is refused, kept out"),
    # API tokens: only the owner may revoke one; for anyone else it does not exist.
    *[
        pytest.param(
            role, "POST", _someone_elses_token, 404, id=f"revoke someone else's token as {role}"
        )
        for role in SIGNED_IN
    ],
    pytest.param(
        "expert", "POST", _url("/account/tokens/999999/revoke"), 404, id="revoke an unknown token"
    ),
    pytest.param("expert", "POST", _url("/account/tokens/abc/revoke"), 404, id="revoke token abc"),
    pytest.param("expert", "POST", _own_revoked_token, 303, id="revoke own revoked token again"),
    # An id out of any row's range is a malformed address (404), not a database error (500).
    *[
        pytest.param(
            role,
            method,
            _url(path.replace(path[path.index("{") : path.index("}") + 1], ident)),
            404,
            id=f"{method} {path} with id {ident}",
        )
        for method, path, role in ID_ROUTES
        for ident in OUT_OF_RANGE_IDS
    ],
    # Applications.
    pytest.param(
        "coordinator", "GET", _url("/coordinator/applications/abc"), 404, id="application abc"
    ),
    pytest.param(
        "coordinator",
        "GET",
        _url("/coordinator/applications/999999"),
        404,
        id="unknown application",
    ),
    pytest.param(
        "coordinator",
        "GET",
        _url("/coordinator/applications?status=bogus"),
        200,
        id="applications with an unknown status filter",
    ),
    pytest.param(
        "admin", "GET", _url("/coordinator/applications?status=all"), 200, id="applications, all"
    ),
    pytest.param(
        "coordinator",
        "POST",
        _url("/coordinator/applications/999999/approve"),
        404,
        id="approve an unknown application",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _url("/coordinator/applications/abc/approve"),
        404,
        id="approve application abc",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _url("/coordinator/applications/999999/reject"),
        404,
        id="reject an unknown application",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _decided("approved", "approve"),
        409,
        id="approve an approved application",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _decided("rejected", "approve"),
        409,
        id="approve a rejected application",
    ),
    pytest.param(
        "admin", "POST", _decided("approved", "reject"), 409, id="reject an approved application"
    ),
    pytest.param(
        "coordinator",
        "POST",
        _approve_with({"rate": "lots", "currency": "USD"}),
        400,
        id="approve with a bad rate stays pending",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _approve_with({"rate": "45", "currency": "XYZ"}),
        400,
        id="approve with a bad currency stays pending",
    ),
    pytest.param("coordinator", "POST", _approve_with({}), 400, id="approve with an empty form"),
    pytest.param(
        "coordinator", "POST", _reject_with({"reason": "  "}), 400, id="reject without a reason"
    ),
    # Coordinators make reset links for experts only.
    pytest.param(
        "coordinator",
        "POST",
        _expert_link_for(Role.finance),
        404,
        id="coordinator reset link for a finance account",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _expert_link_for(Role.admin),
        404,
        id="coordinator reset link for an admin account",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _expert_link_for("self"),
        404,
        id="coordinator reset link for themself",
    ),
    pytest.param(
        "admin",
        "POST",
        _expert_link_for(Role.coordinator),
        404,
        id="expert reset link route for a coordinator, as admin",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _url("/coordinator/experts/999999/reset-link"),
        404,
        id="reset link for an unknown expert",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _url("/coordinator/experts/abc/reset-link"),
        404,
        id="reset link for expert abc",
    ),
    # Admin account actions.
    *[
        pytest.param(
            "admin",
            "POST",
            _url(f"/admin/users/{ident}/{action}"),
            404,
            id=f"admin {action} user {ident}",
        )
        for action in ("role", "disable", "enable", "reset-link")
        for ident in ("999999", "abc")
    ],
    pytest.param(
        "admin",
        "POST",
        _admin_on_self("role", {"role": "finance"}),
        409,
        id="admin changes own role",
    ),
    pytest.param("admin", "POST", _admin_on_self("disable", {}), 409, id="admin disables self"),
    pytest.param("admin", "POST", _role_to("emperor"), 400, id="admin sets an unknown role"),
    pytest.param("admin", "POST", _role_to(""), 400, id="admin sets an empty role"),
    pytest.param("admin", "GET", _url("/admin/audit?page=abc"), 200, id="audit page abc"),
    pytest.param("admin", "GET", _url("/admin/audit?page=0"), 200, id="audit page 0"),
    pytest.param(
        "admin",
        "GET",
        _url("/admin/audit?page=99999999999999999999"),
        200,
        id="audit page beyond 64 bits",
    ),
    pytest.param(
        "admin", "GET", _url("/admin/audit?action=user.&actor=admin"), 200, id="audit filtered"
    ),
    # Analyses: bad input is refused beside its field, an unknown figure or table does not
    # exist, and an import with a bad row writes nothing (422, every line at fault listed).
    *[
        pytest.param("analyst", "GET", _url(url), 400, id=f"analyses: {what}")
        for url, what in (
            (f"/analyst?task={ENVIRONMENT}&limit=8&budget=4", "a budget under the limit"),
            ("/analyst?task=nope/main", "an unknown task"),
            (f"/analyst?task={ENVIRONMENT}&agent=nobody", "an unknown agent"),
            (f"/analyst/plots/curve.png?task={ENVIRONMENT}&limit=-1", "a negative limit"),
            ("/analyst/plots/curve.png", "a figure without a task"),
            ("/analyst/data/runs.csv?since=soon", "a download from no date"),
        )
    ],
    pytest.param("analyst", "GET", _url("/analyst/plots/pie.png"), 404, id="an unknown figure"),
    pytest.param("admin", "GET", _url("/analyst/data/users.csv"), 404, id="an unknown table"),
    pytest.param(
        "analyst",
        "POST",
        _analytics_import(log=AGENT_LOG + "m9,60,1.0,0.1\n"),
        422,
        id="an import with a bad row",
    ),
    pytest.param(
        "analyst",
        "POST",
        _analytics_import(runs="run_id\n"),
        422,
        id="an import whose log names unknown runs",
    ),
    pytest.param("analyst", "GET", _analytics_api_asking("format=xlsx"), 422, id="api format"),
    pytest.param("admin", "GET", _analytics_api_asking("since=soon"), 400, id="api since"),
    pytest.param("analyst", "GET", _analytics_api_asking("task=x/y"), 400, id="api unknown task"),
    # Set-password links.
    pytest.param(ANON, "GET", _reset_with("unknown"), 410, id="reset page, unknown token"),
    pytest.param(ANON, "GET", _reset_with("expired"), 410, id="reset page, expired token"),
    pytest.param(ANON, "GET", _reset_with("used"), 410, id="reset page, superseded token"),
    pytest.param(ANON, "GET", _reset_with("disabled"), 410, id="reset page, disabled account"),
    pytest.param(
        ANON,
        "POST",
        _reset_with("unknown", form={"password": NEW_PASSWORD, "password2": NEW_PASSWORD}),
        410,
        id="reset, unknown token",
    ),
    pytest.param(
        ANON,
        "POST",
        _reset_with("expired", form={"password": NEW_PASSWORD, "password2": NEW_PASSWORD}),
        410,
        id="reset, expired token",
    ),
    pytest.param(
        ANON,
        "POST",
        _reset_with("ok", form={"password": NEW_PASSWORD, "password2": "something else!!"}),
        400,
        id="reset, passwords differ",
    ),
    pytest.param(
        ANON,
        "POST",
        _reset_with("ok", form={"password": "short", "password2": "short"}),
        400,
        id="reset, password too short",
    ),
    # The API: only a live token of an enabled account.
    pytest.param(
        "expert", "GET", _api_with("session only"), 401, id="api with a session, no token"
    ),
    pytest.param("expert", "GET", _api_with("garbage"), 401, id="api with an unknown token"),
    pytest.param("expert", "GET", _api_with("basic"), 401, id="api with basic auth"),
    pytest.param("expert", "GET", _api_with("revoked"), 401, id="api with a revoked token"),
    pytest.param(
        "expert", "GET", _api_with("disabled"), 401, id="api with a disabled account's token"
    ),
    pytest.param(ANON, "GET", _url("/api/v1/nope"), 404, id="unknown api address"),
    # Unknown addresses and wrong methods: 404/405 pages, not a sign-in redirect.
    pytest.param(ANON, "GET", _url("/no-such-page"), 404, id="unknown page, anonymous"),
    pytest.param("admin", "GET", _url("/coordinator/nope"), 404, id="unknown page, admin"),
    pytest.param("expert", "GET", _url("/logout"), 405, id="GET /logout"),
    pytest.param("expert", "GET", _url("/account/password"), 405, id="GET /account/password"),
    # No open redirect after sign-in.
    *[
        pytest.param(
            role,
            "GET",
            _signed_in_login_with_next(target),
            303,
            id=f"signed-in /login?next={target}",
        )
        for role in ("expert", "admin")
        for target in ("//evil.example/x", "https://evil.example/x", "/\\evil.example")
    ],
    # Workspaces: an expert starts only their own open assignments, once at a time.
    pytest.param("expert", "POST", _others("start"), 404, id="start another expert's assignment"),
    pytest.param(
        "expert", "POST", _url("/assignments/999999/start"), 404, id="start an unknown assignment"
    ),
    pytest.param("expert", "POST", _url("/assignments/abc/start"), 404, id="start assignment abc"),
    pytest.param("expert", "POST", _start_closed, 409, id="start a closed assignment"),
    pytest.param("expert", "POST", _start_gone, 400, id="start a task no longer on disk"),
    pytest.param("expert", "POST", _start_live, 303, id="start again while a run is live"),
    pytest.param("expert", "POST", _start_cancelled, 409, id="start a cancelled assignment"),
    pytest.param("expert", "POST", _start_not_ready, 409, id="start before the numbers are set"),
    pytest.param("expert", "POST", _start_used_up, 409, id="start an assignment used up"),
    # Assignment pages: the expert's own; another's does not exist for them.
    pytest.param("expert", "GET", _others("assignment"), 404, id="another expert's assignment"),
    pytest.param("expert", "GET", _url("/assignments/999999"), 404, id="unknown assignment"),
    pytest.param("admin", "GET", _url("/assignments/abc"), 404, id="assignment abc"),
    *[
        pytest.param(
            "coordinator",
            "POST",
            _url(f"/coordinator/assignments/{ident}/{action}"),
            404,
            id=f"{action} assignment {ident}",
        )
        for action in ("cancel", "retry")
        for ident in ("999999", "abc")
    ],
    pytest.param("coordinator", "POST", _cancel_started, 409, id="cancel once a run started"),
    pytest.param("coordinator", "POST", _cancel_cancelled, 409, id="cancel twice"),
    pytest.param("coordinator", "POST", _retry_unused, 409, id="retry before the run is used"),
    pytest.param("coordinator", "POST", _retry_live, 409, id="retry while a run is live"),
    # Runs: their expert's, and staff's; another expert's does not exist for this one.
    pytest.param("expert", "GET", _others("page"), 404, id="another expert's run page"),
    pytest.param("expert", "POST", _others("stop"), 404, id="stop another expert's run"),
    pytest.param("admin", "GET", _url("/runs/999999"), 404, id="unknown run page"),
    pytest.param(
        "expert",
        "POST",
        _stop_run("/runs/{id}/stop", RunStatus.finished),
        409,
        id="stop a finished run",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _stop_run("/coordinator/runs/{id}/stop", RunStatus.failed),
        409,
        id="coordinator stops a failed run",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _stop_run("/coordinator/runs/{id}/stop", RunStatus.stopping),
        409,
        id="coordinator stops a run already stopping",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _stop_run("/coordinator/runs/{id}/stop", RunStatus.provisioning),
        303,
        id="coordinator stops a provisioning run",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _url("/coordinator/runs/999999/stop"),
        404,
        id="coordinator stops an unknown run",
    ),
    # Environments: only tasks on disk; numbers are checked and nothing is saved when refused.
    *[
        pytest.param(
            "coordinator",
            method,
            _url(f"/coordinator/environments/{name}"),
            404,
            id=f"{method} environment {name}",
        )
        for method in ("GET", "POST")
        for name in ("nope/main", "warmup/nope", "warmup/main/extra")
    ],
    pytest.param(
        "coordinator",
        "POST",
        _environment_numbers_with(y_r="0.2"),
        400,
        id="environment numbers with y_s equal to y_r",
    ),
    pytest.param(
        "admin",
        "POST",
        _environment_numbers_with(direction="sideways"),
        400,
        id="environment numbers with an unknown direction",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _environment_numbers_with(y_s="nan"),
        400,
        id="environment numbers with y_s NaN",
    ),
    # Hosts.
    *[
        pytest.param(
            "coordinator",
            "POST",
            _url(f"/coordinator/hosts/{ident}/{action}"),
            404,
            id=f"{action} host {ident}",
        )
        for action in ("check", "drain", "undrain")
        for ident in ("999999", "abc")
    ],
    # The IDE: another expert's run does not exist; a run not live is closed (410) or still
    # starting (503); an IDE that does not answer is a bad gateway (502), never a crash.
    pytest.param("expert", "GET", _ide_of("other"), 404, id="IDE of another expert's run"),
    pytest.param("expert", "GET", _ide_of("unknown"), 404, id="IDE of an unknown run"),
    pytest.param(ANON, "GET", _ide_of("unknown"), LOGIN, id="IDE of an unknown run, anonymous"),
    pytest.param("expert", "GET", _url("/ide/abc/"), 404, id="IDE of run abc"),
    pytest.param("expert", "GET", _ide_of(RunStatus.provisioning), 503, id="IDE still starting"),
    # Staff never reach the IDE on the portal's origin, whatever the run's state.
    pytest.param(
        "admin", "GET", _ide_of(RunStatus.provisioning), 403, id="IDE still starting, admin"
    ),
    *[
        pytest.param("expert", "GET", _ide_of(status), 410, id=f"IDE of a {status} run")
        for status in (RunStatus.stopping, RunStatus.finished, RunStatus.failed)
    ],
    *[
        pytest.param(
            "coordinator", "GET", _ide_of(status), 403, id=f"IDE of a {status} run as coordinator"
        )
        for status in (RunStatus.stopping, RunStatus.finished, RunStatus.failed)
    ],
    pytest.param("expert", "GET", _ide_of("down"), 502, id="IDE not answering"),
    pytest.param("expert", "POST", _ide_of("down"), 502, id="IDE not answering, POST"),
    # The IDE's own requests (no text/html in Accept) get JSON refusals.
    pytest.param("finance", "GET", _ide_of("xhr"), 403, id="IDE request as finance, JSON"),
    pytest.param(ANON, "GET", _ide_of("xhr"), LOGIN, id="IDE request anonymous, JSON"),
    pytest.param(ANON, "HEAD", _ide_of("xhr"), 401, id="IDE HEAD anonymous"),
    pytest.param("analyst", "HEAD", _ide_of("xhr"), 403, id="IDE HEAD as analyst"),
    pytest.param("expert", "HEAD", _ide_of("xhr"), 200, id="IDE HEAD as its expert"),
    pytest.param("coordinator", "HEAD", _ide_of("xhr"), 403, id="IDE HEAD as coordinator"),
    pytest.param("admin", "GET", _ide_of("xhr"), 403, id="IDE request as admin, JSON"),
    # The same rules for the IDE's WebSocket.
    pytest.param("expert", "WS", _ide_socket("other"), 404, id="WS of another expert's run"),
    pytest.param("expert", "WS", _ide_socket("unknown"), 404, id="WS of an unknown run"),
    pytest.param(
        "expert", "WS", _ide_socket(RunStatus.provisioning), 503, id="WS while still starting"
    ),
    *[
        pytest.param("expert", "WS", _ide_socket(status), 410, id=f"WS of a {status} run")
        for status in (RunStatus.stopping, RunStatus.finished, RunStatus.failed)
    ],
    pytest.param("expert", "WS", _ide_socket("down"), 502, id="WS to an IDE not answering"),
    pytest.param(
        "coordinator", "WS", _ide_socket("down"), 403, id="WS as coordinator, nothing dialed"
    ),
    *[
        pytest.param("expert", "WS", _url(f"/ide/{ident}/socket"), 403, id=f"WS of run {ident}")
        for ident in (*OUT_OF_RANGE_IDS, "abc")
    ],
    # Timesheets: another expert's does not exist for this one; decisions only on submitted
    # sheets, a return only with a reason; nothing is submitted before its week has ended.
    pytest.param(
        "expert",
        "GET",
        _others_timesheet("/timesheets/{id}"),
        404,
        id="another expert's timesheet",
    ),
    pytest.param(
        "expert",
        "POST",
        _others_timesheet("/timesheets/{id}/submit"),
        404,
        id="submit another expert's timesheet",
    ),
    pytest.param(
        "expert",
        "GET",
        _others_timesheet("/api/v1/timesheets/{id}", api=True),
        404,
        id="another expert's timesheet, api",
    ),
    pytest.param("admin", "GET", _url("/timesheets/999999"), 404, id="unknown timesheet"),
    # The API says what is wrong with a malformed id (422, with the field), as everywhere.
    pytest.param("finance", "GET", _api_timesheet("999999"), 404, id="unknown api timesheet"),
    *[
        pytest.param(
            "finance", "GET", _api_timesheet(ident), 422, id=f"api timesheet with id {ident}"
        )
        for ident in (*OUT_OF_RANGE_IDS, "abc")
    ],
    pytest.param("finance", "GET", _url("/timesheets/abc"), 404, id="timesheet abc"),
    pytest.param(
        "coordinator",
        "GET",
        _url("/review/timesheets?status=nope"),
        200,
        id="timesheets with an unknown status filter",
    ),
    pytest.param(
        "coordinator",
        "POST",
        _timesheet_in(TimesheetStatus.submitted, "/review/timesheets/{id}/reject", {"reason": " "}),
        400,
        id="reject a timesheet without a reason",
    ),
    pytest.param(
        "finance",
        "POST",
        _timesheet_in(TimesheetStatus.open, "/review/timesheets/{id}/approve"),
        409,
        id="approve a timesheet not submitted",
    ),
    pytest.param(
        "admin",
        "POST",
        _timesheet_in(TimesheetStatus.approved, "/review/timesheets/{id}/reject", {"reason": "x"}),
        409,
        id="reject an approved timesheet",
    ),
    pytest.param(
        "expert",
        "POST",
        _timesheet_in(TimesheetStatus.open, "/timesheets/{id}/submit", current=True),
        409,
        id="submit before the week has ended",
    ),
    pytest.param(
        "expert",
        "POST",
        _timesheet_in(TimesheetStatus.submitted, "/timesheets/{id}/submit"),
        409,
        id="submit a timesheet twice",
    ),
    # Forward-auth: only run-<id>.<domain> names a workspace.
    pytest.param(
        "expert",
        "GET",
        _ide_auth_for("portal.example.org"),
        404,
        id="forward-auth for the portal's own host",
    ),
    pytest.param(
        "expert",
        "GET",
        _ide_auth_for("run-999999.ide.example.org"),
        404,
        id="forward-auth for an unknown run",
    ),
    pytest.param(
        "expert",
        "GET",
        _ide_auth_for("run-99999999999.ide.example.org"),
        404,
        id="forward-auth for a run id beyond 32 bits",
    ),
    pytest.param(
        "expert", "GET", _ide_auth_for("other"), 404, id="forward-auth for another expert's run"
    ),
    pytest.param(
        "expert",
        "GET",
        _ide_auth_for(RunStatus.finished),
        410,
        id="forward-auth for a finished run",
    ),
]


@pytest.mark.parametrize(("role", "method", "build", "expected"), OBJECT_CASES)
def test_objects(world, role, method, build, expected) -> None:
    w = world(role)
    response = expect(w, method, build(w), expected)
    if expected == 404 and response is not None:
        assert response.status_code == 404  # the error page, never a sign-in redirect or a 500
