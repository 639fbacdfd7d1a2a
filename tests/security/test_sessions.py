"""Sessions: no fixation, and a signed-in cookie is worthless once it should be.

Sessions are signed cookies (Starlette's SessionMiddleware) that name the account and its
``session_epoch``. Proves that a cookie made before sign-in (holding a CSRF token) never becomes a
signed-in one: signing in answers with a new cookie, and the old one, replayed, is still
anonymous; that a copy of a signed-in cookie (saved, stolen) stops working when its owner signs
out, as every session does when the password is changed (except the one that changed it) or
set from a reset link, the account is disabled or its role changes.
"""

from fastapi.testclient import TestClient
from sqlmodel import Session

from baselines import password_resets
from baselines.users import Role, User
from tests.conftest import PASSWORD, csrf_token, login, post_form
from timetracking.utc import utcnow

COOKIE = "baseliner_session"
NEW_PASSWORD = "a brand new passphrase"


def _signed_in(app, cookie: str) -> bool:
    """Whether this cookie value, sent from a fresh browser, opens the account page."""
    with TestClient(app, follow_redirects=False, cookies={COOKIE: cookie}) as replay:
        answer = replay.get("/account")
        assert answer.status_code in (200, 303)
        return answer.status_code == 200


def test_a_cookie_from_before_sign_in_never_signs_in(app, client, make_user) -> None:
    user = make_user(Role.expert)
    csrf_token(client, "/login")  # the anonymous session now holds data: a CSRF token
    planted = client.cookies[COOKIE]
    assert not _signed_in(app, planted)
    login(client, user)
    signed_in = client.cookies[COOKIE]
    assert signed_in != planted
    assert _signed_in(app, signed_in)
    assert not _signed_in(app, planted)  # whoever planted or kept it is still anonymous


def test_signing_out_makes_a_copy_of_the_cookie_worthless(app, client, make_user) -> None:
    user = make_user(Role.coordinator)
    login(client, user)
    copy = client.cookies[COOKIE]
    assert _signed_in(app, copy)
    response = post_form(client, "/logout", {}, page="/account")
    assert response.status_code == 303
    assert not _signed_in(app, copy)
    # Signing in again works, with a cookie of its own.
    login(client, user)
    assert client.get("/account").status_code == 200
    assert not _signed_in(app, copy)


def test_a_password_change_ends_every_other_session(app, client, make_user) -> None:
    user = make_user(Role.analyst)
    with TestClient(app, follow_redirects=False) as other:
        login(other, user)
        elsewhere = other.cookies[COOKIE]
    login(client, user)
    form = {"current": PASSWORD, "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    assert post_form(client, "/account/password", form, page="/account").status_code == 303
    assert client.get("/account").status_code == 200  # the session that changed it stays
    assert not _signed_in(app, elsewhere)


def test_a_reset_link_ends_every_session(app, client, engine, make_user) -> None:
    user = make_user(Role.finance)
    login(client, user)
    stolen = client.cookies[COOKIE]
    with Session(engine) as s:
        token = password_resets.issue(s, s.get(User, user.id), None, _hours(72), utcnow())
        s.commit()
    with TestClient(app, follow_redirects=False) as owner:
        form = {"password": NEW_PASSWORD, "password2": NEW_PASSWORD}
        assert post_form(owner, f"/reset/{token}", form, page="/login").status_code == 303
    assert not _signed_in(app, stolen)


def test_disabling_or_changing_the_role_ends_the_sessions(app, client, make_user) -> None:
    admin, staff = make_user(Role.admin), make_user(Role.coordinator)
    cookies = []
    for _ in range(2):
        with TestClient(app, follow_redirects=False) as browser:
            login(browser, staff)
            cookies.append(browser.cookies[COOKIE])
    login(client, admin)
    form = {"role": "analyst"}
    response = post_form(client, f"/admin/users/{staff.id}/role", form, page="/admin/users")
    assert response.status_code == 303
    assert not _signed_in(app, cookies[0])
    with TestClient(app, follow_redirects=False) as browser:
        login(browser, staff)
        cookies.append(browser.cookies[COOKIE])
    response = post_form(client, f"/admin/users/{staff.id}/disable", {}, page="/admin/users")
    assert response.status_code == 303
    assert not any(_signed_in(app, cookie) for cookie in cookies)


def _hours(n: int):
    from datetime import timedelta

    return timedelta(hours=n)
