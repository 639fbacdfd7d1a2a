"""Security headers on every kind of answer, and pages that still work under the policy.

Proves that pages, redirects, the JSON API, static files and error pages (404, 403, 405, 422,
429 and a crash's 500) carry the portal's Content-Security-Policy (with ``frame-ancestors
'self'``), ``X-Frame-Options: SAMEORIGIN``, ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: same-origin``; that HSTS comes only when the portal is served over https; that
the API docs' own policy (allowing its one start-up script by hash) is kept, not replaced; that
answers proxied from a run's code-server under ``/ide/<run>/`` get only the framing rules, and
keep any policy code-server sent itself; and, in Chromium, that the portal's pages break no rule
of the policy (no inline script or style is left) and the token field still selects on click.
"""

import base64
import hashlib
import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, ConsoleMessage, Page
from playwright.sync_api import Response as PageResponse
from sqlmodel import Session

from baselines.assignments import Assignment, AssignmentStatus
from baselines.users import Role
from tests.browser import sign_in
from tests.conftest import PASSWORD, csrf_token, login
from tests.ide.servers import serve
from tests.security.records import (
    ENVIRONMENT,
    file_member,
    live_run,
    scored_checkpoint,
    tar_of,
)
from timetracking.utc import utcnow
from webapp.app import create_app
from webapp.security_headers import FRAMES_ONLY_CSP, HSTS, PORTAL_CSP

PORTAL = {
    "content-security-policy": PORTAL_CSP,
    "x-frame-options": "SAMEORIGIN",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def assert_portal_headers(response: httpx.Response, csp: str = PORTAL_CSP) -> None:
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    for name, value in {**PORTAL, "content-security-policy": csp}.items():
        assert response.headers.get_list(name) == [value], f"{where}: {name}"
    assert "frame-ancestors 'self'" in csp and "default-src 'self'" in csp
    assert "strict-transport-security" not in response.headers, where  # plain http here


def test_pages_api_static_and_errors_carry_the_headers(client, make_user) -> None:
    admin = make_user(Role.admin)
    anonymous = [
        ("GET", "/", 200),
        ("GET", "/login", 200),
        ("GET", "/healthz", 200),  # JSON
        ("GET", "/openapi.json", 200),
        ("GET", "/static/style.css", 200),
        ("HEAD", "/static/clock.js", 200),
        ("GET", "/static/swagger/swagger-ui.css", 200),
        ("GET", "/static/nothing-here.css", 404),
        ("GET", "/account", 303),  # to sign in
        ("GET", "/no/such/page", 404),
        ("GET", "/api/v1/no-such-thing", 404),  # JSON
        ("GET", "/api/v1/me", 401),  # JSON
        ("POST", "/login", 403),  # no CSRF token
        ("GET", "/logout", 405),
    ]
    for method, path, status in anonymous:
        response = client.request(method, path)
        assert response.status_code == status, (method, path, response.status_code)
        assert_portal_headers(response)

    login(client, admin)
    for path, status in (
        ("/admin/users", 200),
        ("/account", 200),
        ("/analyst", 200),
        ("/dashboard", 403),  # an expert's page
        ("/runs/not-a-number", 404),  # a malformed address
        ("/runs/999", 404),
    ):
        response = client.get(path)
        assert response.status_code == status, path
        assert_portal_headers(response)
    token = client.post(
        "/account/tokens", data={"name": "cli", "csrf_token": csrf_token(client, "/account")}
    )
    plain = re.search(r'value="(bl_[^"]+)"', token.text).group(1)
    bearer = {"Authorization": f"Bearer {plain}"}
    for path, status in (("/api/v1/me", 200), ("/api/v1/timesheets/0", 422)):
        response = client.get(path, headers=bearer)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/json"
        assert_portal_headers(response)


def test_the_throttled_sign_in_page_carries_the_headers(client, make_user, settings) -> None:
    user = make_user(Role.expert)
    for _ in range(settings.login_max_failures + 1):
        token = csrf_token(client, "/login")
        response = client.post(
            "/login", data={"email": user.email, "password": "wrong!", "csrf_token": token}
        )
    assert response.status_code == 429
    assert_portal_headers(response)


def test_a_crash_page_carries_the_headers(app) -> None:
    """Starlette sends an unhandled error's page from outside every middleware."""

    @app.get("/security-test-crash")
    def crash() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/security-test-crash")
        assert response.status_code == 500
        assert "Something broke on our side" in response.text
        assert_portal_headers(response)


def test_hsts_only_when_served_over_https(settings, engine) -> None:
    settings.public_url = "https://baseliner.example.org"
    app = create_app(settings, migrate=False)
    with TestClient(app, base_url="https://testserver") as client:
        for path in ("/", "/api/v1/me", "/static/style.css", "/nothing"):
            assert client.get(path).headers.get_list("strict-transport-security") == [HSTS]


def test_the_api_docs_keep_their_own_policy_that_allows_only_their_script(client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    (script,) = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = response.headers["content-security-policy"]
    assert f"script-src 'self' 'sha256-{digest}'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert_portal_headers(response, csp=csp)


# --- the IDE ----------------------------------------------------------------------------------


WORKBENCH_CSP = "default-src 'self'; script-src 'self' 'unsafe-eval' 'nonce-abc'"


def _code_server_stand_in() -> FastAPI:
    """Answers as code-server does: the workbench page with its own policy (no frame-ancestors,
    no X-Frame-Options, as 4.139.1 sends it), and plain answers with none."""
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "alive"})

    @app.get("/workbench")
    def workbench() -> PlainTextResponse:
        return PlainTextResponse("workbench", headers={"Content-Security-Policy": WORKBENCH_CSP})

    @app.get("/own-framing")
    def own() -> PlainTextResponse:
        return PlainTextResponse("no frames", headers={"X-Frame-Options": "DENY"})

    @app.api_route("/{rest:path}", methods=["GET", "POST"])
    def plain(rest: str) -> JSONResponse:
        return JSONResponse({"path": rest})

    return app


@pytest.fixture(scope="module")
def code_server_port() -> Iterator[int]:
    with serve(_code_server_stand_in()) as base:
        yield int(base.rsplit(":", 1)[1])


def test_ide_answers_get_only_the_framing_rules(client, engine, make_user, code_server_port):
    expert = make_user(Role.expert)
    run_id = live_run(engine, expert.id, code_server_port)
    login(client, expert)

    for method, path, status in (
        ("GET", f"/ide/{run_id}/", 200),
        ("GET", f"/ide/{run_id}/static/out/workbench.js", 200),
        ("POST", f"/ide/{run_id}/mint-key", 200),
        ("GET", f"/ide/{run_id}", 307),  # on to /ide/<run>/
        ("GET", f"/ide/{run_id + 1}/", 404),  # no such workspace: the portal's refusal
    ):
        response = client.request(method, path)
        assert response.status_code == status, (method, path)
        assert response.headers.get_list("content-security-policy") == [FRAMES_ONLY_CSP], path
        assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"], path
        for portal_only in ("x-content-type-options", "referrer-policy"):
            assert portal_only not in response.headers, (path, portal_only)

    page = client.get(f"/ide/{run_id}/workbench")
    assert page.text == "workbench"
    assert page.headers.get_list("content-security-policy") == [WORKBENCH_CSP]
    assert page.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    own = client.get(f"/ide/{run_id}/own-framing")
    assert own.headers.get_list("x-frame-options") == ["DENY"]


# --- the pages in a browser ---------------------------------------------------------------------


def _watch(page: Page) -> list[str]:
    """Collects what the page got wrong: policy violations and other console errors, script
    errors, and sub-resources that failed (the browser's own favicon.ico guess aside)."""
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    def response(answer: PageResponse) -> None:
        page_itself = answer.request.resource_type == "document"
        if answer.status >= 400 and not page_itself and not answer.url.endswith("/favicon.ico"):
            problems.append(f"{answer.status} {answer.url}")

    page.on("console", console)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("response", response)
    return problems


def _visit(page: Page, path: str, problems: list[str]) -> None:
    response = page.goto(path)
    assert response is not None and response.status < 500, path
    page.wait_for_load_state("networkidle")
    assert not problems, f"{path}: {problems}"


def _selects_whole_value_on_click(page: Page) -> None:
    field = page.locator("input.copy")
    field.click(position={"x": 5, "y": 5})
    start, end, length = field.evaluate("e => [e.selectionStart, e.selectionEnd, e.value.length]")
    assert (start, end) == (0, length) and length > 20


@pytest.mark.host  # a browser: once
def test_pages_break_no_rule_of_the_policy_in_chromium(
    app, engine, settings, make_user, browser: Browser
) -> None:
    expert = make_user(Role.expert)
    people = {role: make_user(role) for role in Role if role != Role.expert}
    run_id = live_run(engine, expert.id, port=1)  # its IDE is not opened here
    for seq, text in ((1, "tile = 1024\n"), (2, "tile = 4096\n")):
        snapshot = tar_of([file_member("./solution.py", text)])
        scored_checkpoint(engine, settings.data_dir, run_id, seq, snapshot, score=0.5 * seq)
    with Session(engine) as s:
        s.add(Assignment(expert_id=expert.id, environment=ENVIRONMENT,
                         status=AssignmentStatus.assigned, created_at=utcnow()))  # fmt: skip
        s.commit()
    visits = {
        None: ["/", "/login", "/apply", "/no-such-page"],
        Role.expert: ["/dashboard", f"/runs/{run_id}", "/timesheets", "/account"],
        Role.coordinator: [
            "/coordinator/applications", "/coordinator/assignments", "/coordinator/runs",
            "/coordinator/hosts", "/coordinator/environments", f"/runs/{run_id}",
            f"/runs/{run_id}/diff?a=1&b=2", "/coordinator/experts",
        ],
        Role.finance: ["/finance", "/finance/payouts", "/review/timesheets"],
        Role.analyst: ["/analyst", f"/analyst?task={ENVIRONMENT}", "/analyst/environments"],
        Role.admin: ["/admin/users", "/admin/audit"],
    }  # fmt: skip
    with serve(app) as base:
        for role, paths in visits.items():
            context = browser.new_context(base_url=base)
            page = context.new_page()
            problems = _watch(page)
            if role is not None:
                who = expert if role == Role.expert else people[role]
                sign_in(page, who.email, PASSWORD)
                page.wait_for_url(lambda url: "/login" not in url)
            for path in paths:
                _visit(page, path, problems)
            if role == Role.expert:  # a new API token is shown once, selected on click
                page.get_by_label("Token name").fill("laptop")
                page.get_by_role("button", name="Create token").click()
                _selects_whole_value_on_click(page)
            if role == Role.coordinator:  # so is a set-password link
                page.get_by_role("button", name="Make reset link").first.click()
                _selects_whole_value_on_click(page)
            assert not problems, f"{role}: {problems}"
            context.close()
        anonymous = browser.new_context(base_url=base)
        docs = anonymous.new_page()
        problems = _watch(docs)
        docs.goto("/docs")
        docs.locator(".swagger-ui .info .title").wait_for()
        assert "Baseliner" in docs.locator(".swagger-ui .info .title").inner_text()
        docs.get_by_text("/api/v1/me").first.click()  # an operation unfolds (Swagger's script)
        docs.locator(".opblock-body").first.wait_for()
        assert not problems, problems
        anonymous.close()
