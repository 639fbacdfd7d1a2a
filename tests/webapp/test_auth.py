"""Sign-in and out, throttling, sessions ending on a password change, reset links."""

import logging
import re
from datetime import timedelta

from sqlmodel import Session, select

from baselines import password_resets
from baselines.tokens import ApiToken
from baselines.users import Role, User
from tests.conftest import PASSWORD, csrf_token, fixed_now, login, post_form
from timetracking.utc import utcnow


def _login(client, email, password):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_login_lands_on_the_role_home_and_cookie_is_httponly_lax(client, make_user):
    coordinator = make_user(Role.coordinator)
    response = _login(client, coordinator.email.upper(), PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/coordinator"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http in the embedded default


def test_cookie_is_secure_behind_https(settings, engine, make_user):
    from fastapi.testclient import TestClient

    from webapp.app import create_app

    settings.public_url = "https://baseliner.example.org"
    user = make_user(Role.admin)
    with TestClient(create_app(settings, migrate=False), base_url="https://testserver") as client:
        response = _login(client, user.email, PASSWORD)
        assert "secure" in response.headers["set-cookie"].lower()


def test_login_follows_only_local_next(client, make_user):
    user = make_user(Role.admin)
    token = csrf_token(client, "/login")
    data = {"email": user.email, "password": PASSWORD, "csrf_token": token}
    response = client.post("/login", data={**data, "next": "https://evil.example.org/"})
    assert response.headers["location"] == "/admin"
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    token = csrf_token(client, "/login")
    response = client.post("/login", data={**data, "csrf_token": token, "next": "/admin/audit"})
    assert response.headers["location"] == "/admin/audit"


def test_wrong_password_and_unknown_email_get_the_same_message(client, make_user, caplog):
    user = make_user(Role.expert)
    caplog.set_level(logging.INFO)
    wrong = _login(client, user.email, "not the password")
    unknown = _login(client, "nobody@example.org", "not the password")
    for response in (wrong, unknown):
        assert response.status_code == 400
        assert "Wrong email or password" in response.text
    assert "not the password" not in caplog.text  # passwords never reach the logs
    assert "baseliner_session" in client.cookies  # still an anonymous session, no sign-in
    assert client.get("/dashboard").status_code == 303


def test_empty_fields_are_named(client):
    response = _login(client, "", "")
    assert response.status_code == 400
    assert 'id="email-error">Required.' in response.text
    assert 'id="password-error">Required.' in response.text


def test_repeated_failures_are_throttled_even_with_the_right_password(client, make_user, settings):
    user = make_user(Role.expert)
    for _ in range(settings.login_max_failures):
        assert _login(client, user.email, "wrong password!").status_code == 400
    blocked = _login(client, user.email, PASSWORD)
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.text


def test_throttle_lifts_after_the_window(app, client, make_user, settings):
    user = make_user(Role.expert)
    start = utcnow()
    fixed_now(app, start)
    for _ in range(settings.login_max_failures):
        _login(client, user.email, "wrong password!")
    assert _login(client, user.email, PASSWORD).status_code == 429
    fixed_now(app, start + timedelta(seconds=settings.login_window_s + 1))
    assert _login(client, user.email, PASSWORD).status_code == 303


def test_disabled_account_cannot_sign_in_and_its_sessions_end(client, make_user, engine):
    user = make_user(Role.expert)
    login(client, user)
    assert client.get("/dashboard").status_code == 200
    with Session(engine) as s:
        row = s.get(User, user.id)
        row.disabled = True
        row.session_epoch += 1
        s.add(row)
        s.commit()
    assert client.get("/dashboard").status_code == 303
    assert _login(client, user.email, PASSWORD).status_code == 400


def test_logout_needs_csrf_and_ends_the_session(client, make_user):
    user = make_user(Role.analyst)
    login(client, user)
    assert client.post("/logout").status_code == 403
    assert client.get("/analyst").status_code == 200
    response = post_form(client, "/logout", {}, page="/analyst")
    assert response.status_code == 303
    assert client.get("/analyst").status_code == 303


def test_change_password_signs_out_other_sessions(app, make_user):
    from fastapi.testclient import TestClient

    user = make_user(Role.expert)
    with (
        TestClient(app, follow_redirects=False) as one,
        TestClient(app, follow_redirects=False) as two,
    ):
        login(one, user)
        login(two, user)
        bad = post_form(
            one,
            "/account/password",
            {"current": "wrong", "password": "new password 123", "password2": "new password 123"},
            page="/account",
        )
        assert bad.status_code == 400
        assert "That is not your current password." in bad.text
        mismatch = post_form(
            one,
            "/account/password",
            {"current": PASSWORD, "password": "new password 123", "password2": "other"},
            page="/account",
        )
        assert "The two passwords differ." in mismatch.text
        ok = post_form(
            one,
            "/account/password",
            {"current": PASSWORD, "password": "new password 123", "password2": "new password 123"},
            page="/account",
        )
        assert ok.status_code == 303
        assert one.get("/account").status_code == 200
        assert two.get("/account").status_code == 303
    with TestClient(app, follow_redirects=False) as three:
        assert _login(three, user.email, "new password 123").status_code == 303


def _reset_link(client, expert_id: int) -> str:
    response = post_form(
        client, f"/coordinator/experts/{expert_id}/reset-link", {}, page="/coordinator/experts"
    )
    assert response.status_code == 200
    match = re.search(r'value="http://[^"]+(/reset/[^"]+)"', response.text)
    assert match
    return match.group(1)


def test_reset_link_sets_the_password_once(app, client, make_user):
    from fastapi.testclient import TestClient

    coordinator = make_user(Role.coordinator)
    expert = make_user(Role.expert)
    login(client, coordinator)
    path = _reset_link(client, expert.id)
    with TestClient(app, follow_redirects=False) as visitor:
        page = visitor.get(path)
        assert page.status_code == 200 and expert.email in page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        short = visitor.post(
            path, data={"password": "short", "password2": "short", "csrf_token": token}
        )
        assert short.status_code == 400 and "Use at least 10 characters." in short.text
        done = visitor.post(
            path,
            data={
                "password": "brand new secret",
                "password2": "brand new secret",
                "csrf_token": token,
            },
        )
        assert done.status_code == 303
        again = visitor.get(path)
        assert again.status_code == 410 and "already used" in again.text
        assert _login(visitor, expert.email, "brand new secret").status_code == 303


def test_expired_and_unknown_reset_links_say_why(app, client, engine, make_user):
    expert = make_user(Role.expert)
    now = utcnow()
    with Session(engine) as s:
        token = password_resets.issue(s, s.get(User, expert.id), None, timedelta(hours=1), now)
        s.commit()
    fixed_now(app, now + timedelta(hours=2))
    expired = client.get(f"/reset/{token}")
    assert expired.status_code == 410 and "expired" in expired.text
    unknown = client.get("/reset/not-a-token")
    assert unknown.status_code == 410 and "not valid" in unknown.text
    with Session(engine) as s:
        assert s.get(User, expert.id).password_hash is not None


def test_a_new_reset_link_voids_the_older_one(client, make_user, engine):
    coordinator = make_user(Role.coordinator)
    expert = make_user(Role.expert)
    login(client, coordinator)
    first = _reset_link(client, expert.id)
    second = _reset_link(client, expert.id)
    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 200
    with Session(engine) as s:
        rows = s.exec(select(password_resets.PasswordReset)).all()
        assert len(rows) == 2


def test_a_form_sent_after_the_session_ended_returns_to_its_page(client, engine):
    token = csrf_token(client, "/login")
    response = client.post(
        "/account/tokens",
        data={"name": "x", "csrf_token": token},
        headers={"referer": "http://testserver/account?tab=tokens"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account%3Ftab%3Dtokens"
    foreign = client.post(
        "/account/tokens",
        data={"name": "x", "csrf_token": token},
        headers={"referer": "https://elsewhere.example.org/account"},
    )
    assert foreign.headers["location"] == "/login"
    with Session(engine) as s:
        assert s.exec(select(ApiToken)).all() == []  # nothing was created for anyone


def test_apply_while_signed_in_creates_nothing(client, engine, make_user):
    from sqlmodel import func

    coordinator = make_user(Role.coordinator)
    login(client, coordinator)
    response = post_form(client, "/apply", {"name": "X", "email": "x@example.org"}, page="/account")
    assert response.status_code == 303 and response.headers["location"] == "/coordinator"
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(User)).one() == 1
    assert client.get("/coordinator/applications").status_code == 200
