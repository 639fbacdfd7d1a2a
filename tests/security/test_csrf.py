"""CSRF: every route a form posts to checks the session's token; those that take none say why.

The routes are found by walking ``app.routes`` (never a list kept here), so a new route that
takes POST, PUT, PATCH or DELETE fails these tests by name until it checks the token (it is built
with ``webapp.routes.pages_router``, whose ``csrf_protect`` dependency does that) or is added to
``EXEMPT`` with the reason it needs none:

- routes under ``/api/`` take a bearer token and never a session cookie: a signed-in browser
  session (which is all a request from another site could carry) gets 401 from each of them;
- Stripe's webhook is signed by Stripe instead (tests/webapp/test_stripe_payouts.py);
- the IDE's requests are code-server's own, passed through; the session cookie is SameSite=Lax,
  so another site's POST arrives without a session (tests/webapp/test_auth.py checks the cookie).

Each protected route is then posted to as a role allowed to use it, with real objects in its
address (the access matrix's ``PREPARE``, tests/webapp/test_route_matrix.py), first without a
token, then with another session's valid token: 403 "This form has expired", no row changed, the
caller still signed in. A token sent in the address, in a text/plain or JSON body (kinds another
site's page can send) or kept from before signing in is refused too.
"""

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session

from baselines.users import Role, User
from tests.conftest import CSRF_RE, csrf_token, empty_tables, login
from tests.webapp import test_route_matrix as matrix
from webapp.auth.csrf import csrf_protect

# The access matrix's world: real objects for each route, an echo server for the IDE, one task
# family on disk.
world = matrix.world
upstream_port = matrix.upstream_port
environments_dir = matrix.environments_dir
settings = matrix.settings

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
EXEMPT = {
    "/webhooks/stripe": "signed by Stripe (Stripe-Signature), no session involved",
    "/ide/{run_id}": "code-server's own requests; the SameSite=Lax cookie stays home",
    "/ide/{run_id}/{path:path}": "code-server's own requests; the SameSite=Lax cookie stays home",
}
EXPIRED = "This form has expired"


def _unsafe_routes(app) -> list[tuple[str, str, object]]:
    """(method, path, route) for every route that takes an unsafe method."""
    return [
        (method, path, route)
        for path, route in matrix._app_routes(app)
        for method in sorted(UNSAFE & set(getattr(route, "methods", None) or ()))
    ]


def _checks_the_token(route: object) -> bool:
    def calls(dependant):
        for dependency in dependant.dependencies:
            yield dependency.call
            yield from calls(dependency)

    return isinstance(route, APIRoute) and csrf_protect in set(calls(route.dependant))


def test_every_unsafe_route_checks_the_token_or_says_why_not(app) -> None:
    found = _unsafe_routes(app)
    assert ("POST", "/login") in {(m, p) for m, p, _ in found}, "route enumeration broke"
    unprotected = [
        f"{method} {path}"
        for method, path, route in found
        if not path.startswith("/api/") and path not in EXEMPT and not _checks_the_token(route)
    ]
    assert not unprotected, f"unsafe routes without the CSRF check: {unprotected}"
    stale = set(EXEMPT) - {path for _, path, _ in found}
    assert not stale, f"EXEMPT names routes the app no longer has: {stale}"


def _start_afresh(app, client: TestClient) -> None:
    """Empty tables and a new browser, as each case of the matrix starts (its objects are made
    for an empty database)."""
    engine = app.state.engine
    empty_tables(engine)
    client.cookies.clear()


def test_every_form_refuses_a_missing_or_foreign_token(app, client, world) -> None:
    forms = [
        (method, path)
        for method, path, _ in _unsafe_routes(app)
        if not path.startswith("/api/") and path not in EXEMPT
    ]
    assert len(forms) >= 40, forms
    with TestClient(app) as stranger:  # another browser: its session has a valid token too
        foreign = csrf_token(stranger, "/login")
    failures = []
    for method, path in forms:
        assert (method, path) in matrix.MATRIX, f"{method} {path}: add it to the access matrix"
        for token in (None, foreign):
            _start_afresh(app, client)
            w = world(matrix._allowed_role(method, path))
            call = matrix.prepare(method, path, w)
            signed_in = matrix.sign_in(w, call)
            who, before = matrix.signed_in_as(w.client), matrix.snapshot(w.engine)
            response = matrix.send(w, method, call, signed_in, csrf=token)
            sent = "no token" if token is None else "another session's token"
            where = f"{method} {path} as {w.role} with {sent}"
            if response.status_code != 403 or EXPIRED not in response.text:
                failures.append(f"{where}: {response.status_code}")
            elif matrix.snapshot(w.engine) != before:
                failures.append(f"{where}: the database changed")
            elif matrix.signed_in_as(w.client) != who:
                failures.append(f"{where}: the session changed")
    assert not failures, "\n".join(failures)


def test_api_routes_take_no_session_in_place_of_a_token(app, client, engine, make_user) -> None:
    """What another site's page could send (the cookie, even a token read from a form) opens no
    unsafe API route."""
    api = [(m, p) for m, p, _ in _unsafe_routes(app) if p.startswith("/api/")]
    assert len(api) >= 5, api
    admin = make_user(Role.admin)
    login(client, admin)
    token = csrf_token(client, "/account")
    before = matrix.snapshot(engine)
    for method, path in api:
        url = path.replace("{seq}", "1")
        response = client.request(
            method, url, data={"csrf_token": token}, headers={"X-CSRF-Token": token}
        )
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.headers["www-authenticate"] == "Bearer"
    assert matrix.snapshot(engine) == before


def _timezone(engine, user: User) -> str:
    with Session(engine) as s:
        return s.get(User, user.id).timezone


def test_a_token_outside_the_form_body_is_refused(client, engine, make_user) -> None:
    user = make_user(Role.analyst)
    login(client, user)
    token = csrf_token(client, "/account")
    before = _timezone(engine, user)
    attempts = [
        {"params": {"csrf_token": token}, "data": {"timezone": "Europe/Berlin"}},
        {"content": f"timezone=Europe/Berlin&csrf_token={token}",
         "headers": {"Content-Type": "text/plain"}},
        {"json": {"timezone": "Europe/Berlin", "csrf_token": token}},
    ]  # fmt: skip
    for attempt in attempts:
        response = client.post("/account/timezone", **attempt)
        assert response.status_code == 403 and EXPIRED in response.text, attempt
    assert _timezone(engine, user) == before
    # The same form with the token in its body goes through.
    ok = client.post("/account/timezone", data={"timezone": "Europe/Berlin", "csrf_token": token})
    assert ok.status_code == 303
    assert _timezone(engine, user) == "Europe/Berlin"


def test_a_token_from_before_sign_in_stops_working(client, engine, make_user) -> None:
    """Signing in starts a new session with a new token: one read (or planted) before is void."""
    user = make_user(Role.analyst)
    before_sign_in = CSRF_RE.search(client.get("/login").text).group(1)
    login(client, user)
    response = client.post(
        "/account/timezone", data={"timezone": "Europe/Berlin", "csrf_token": before_sign_in}
    )
    assert response.status_code == 403 and EXPIRED in response.text
    assert _timezone(engine, user) == "UTC"
    assert csrf_token(client, "/account") != before_sign_in
