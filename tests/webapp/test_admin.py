"""Admins manage accounts (staff creation, roles, disabling) and read the audit log."""

import re

from sqlmodel import Session, func, select

from baselines.audit import AuditLog
from baselines.users import Role, User
from tests.conftest import login, post_form


def _count_users(engine) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(User)).one()


def test_create_staff_shows_a_one_time_link(client, engine, make_user):
    admin = make_user(Role.admin)
    login(client, admin)
    response = post_form(
        client,
        "/admin/users",
        {"email": "New.Analyst@Example.org", "name": "New Analyst", "role": "analyst"},
        page="/admin/users",
    )
    assert response.status_code == 200
    assert re.search(r'value="http://127\.0\.0\.1:8000/reset/[\w-]+"', response.text)
    with Session(engine) as s:
        user = s.exec(select(User).where(User.email == "new.analyst@example.org")).one()
        assert user.role == "analyst" and user.password_hash is None
        query = select(AuditLog).where(
            AuditLog.action == "user.create", AuditLog.actor_id == admin.id
        )
        audit = s.exec(query).one()
        assert audit.actor_id == admin.id and audit.after["role"] == "analyst"


def test_create_staff_bad_input(client, engine, make_user):
    admin = make_user(Role.admin)
    login(client, admin)
    before = _count_users(engine)
    cases = [
        ({"email": "bad", "name": "X", "role": "finance"}, "email", "Enter a valid email address."),
        ({"email": "a@example.org", "name": "", "role": "finance"}, "name", "Required."),
        ({"email": "a@example.org", "name": "X", "role": "expert"}, "role", "Experts join through"),
        ({"email": "a@example.org", "name": "X", "role": "wizard"}, "role", "Input should be"),
        ({"email": admin.email, "name": "X", "role": "finance"}, "email", "already exists"),
    ]
    for data, field, message in cases:
        response = post_form(client, "/admin/users", data, page="/admin/users")
        assert response.status_code == 400, data
        assert f'id="{field}-error">' in response.text, data
        assert message in response.text, data
    assert _count_users(engine) == before


def test_change_role_and_disable_are_audited_and_end_sessions(app, client, engine, make_user):
    from fastapi.testclient import TestClient

    admin = make_user(Role.admin)
    analyst = make_user(Role.analyst)
    login(client, admin)
    with TestClient(app, follow_redirects=False) as other:
        login(other, analyst)
        assert other.get("/analyst").status_code == 200
        response = post_form(
            client, f"/admin/users/{analyst.id}/role", {"role": "finance"}, page="/admin/users"
        )
        assert response.status_code == 303
        assert other.get("/analyst").status_code == 303  # signed out by the role change
        login(other, analyst)
        assert other.get("/finance").status_code == 200
        assert (
            post_form(
                client, f"/admin/users/{analyst.id}/disable", {}, page="/admin/users"
            ).status_code
            == 303
        )
        assert other.get("/finance").status_code == 303
    bad_role = post_form(
        client, f"/admin/users/{analyst.id}/role", {"role": "king"}, page="/admin/users"
    )
    assert bad_role.status_code == 400 and "is not a role" in bad_role.text
    assert (
        post_form(client, f"/admin/users/{analyst.id}/enable", {}, page="/admin/users").status_code
        == 303
    )
    with Session(engine) as s:
        actions = [r.action for r in s.exec(select(AuditLog).where(AuditLog.actor_id == admin.id))]
        assert actions == ["user.role", "user.disable", "user.enable"]
        assert s.get(User, analyst.id).role == "finance"


def test_admin_cannot_lock_themselves_out(client, engine, make_user):
    admin = make_user(Role.admin)
    login(client, admin)
    for path, data in [
        (f"/admin/users/{admin.id}/role", {"role": "expert"}),
        (f"/admin/users/{admin.id}/disable", {}),
    ]:
        response = post_form(client, path, data, page="/admin/users")
        assert response.status_code == 409
        assert "your own account" in response.text
    with Session(engine) as s:
        user = s.get(User, admin.id)
        assert (user.role, user.disabled) == ("admin", False)


def test_unknown_account_is_404(client, make_user):
    login(client, make_user(Role.admin))
    response = post_form(client, "/admin/users/999999/disable", {}, page="/admin/users")
    assert response.status_code == 404


def test_audit_log_filters_and_pages(client, engine, make_user):
    from datetime import timedelta

    from timetracking.utc import utcnow

    admin = make_user(Role.admin)
    now = utcnow()
    with Session(engine) as s:
        for n in range(120):
            s.add(
                AuditLog(
                    at=now - timedelta(seconds=n),
                    actor_id=admin.id,
                    action=f"demo.{n % 2}",
                    object_type="users",
                    object_id=str(n),
                )
            )
        s.commit()
    login(client, admin)
    first = client.get("/admin/audit?action=demo.1")
    assert "60 entries" in first.text and "Rows 1\u201350 of 60 (page 1 of 2)" in first.text
    assert first.text.count("<code>demo.1</code>") == 50
    second = client.get("/admin/audit?action=demo.1&page=2")
    assert second.text.count("<code>demo.1</code>") == 10
    assert "0 entries" in client.get("/admin/audit?actor=nobody@").text
    # A page that is no page number shows page 1 and says why (tests/webapp/test_long_lists.py).
    assert "is not a page number; this is page 1." in client.get("/admin/audit?page=abc").text


def test_roles_change_only_between_staff_roles(client, engine, make_user):
    admin = make_user(Role.admin)
    expert = make_user(Role.expert)
    finance = make_user(Role.finance)
    login(client, admin)
    for target, role in [(expert, "coordinator"), (finance, "expert")]:
        response = post_form(
            client, f"/admin/users/{target.id}/role", {"role": role}, page="/admin/users"
        )
        assert response.status_code == 409
        assert "only between staff roles" in response.text
    with Session(engine) as s:
        assert (s.get(User, expert.id).role, s.get(User, finance.id).role) == ("expert", "finance")
