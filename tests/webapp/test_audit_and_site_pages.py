"""The audit log as people read it (before → after, filters by who, what and which object, kept
by the pager) and the site-wide pages (issue 17): error pages keep the signed-in header while
revealing nothing, and the favicon answers."""

import re
from datetime import timedelta
from html import unescape

from sqlmodel import Session, select

from baselines.audit import AuditLog
from baselines.users import Role
from tests.conftest import login
from timetracking.utc import utcnow
from webapp import audit_view


def _add(engine, **fields) -> None:
    with Session(engine) as s:
        s.add(AuditLog(**{"at": utcnow(), "object_type": "runs", "object_id": "7", **fields}))
        s.commit()


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_changes_read_as_field_old_to_new():
    rows = audit_view.changes(
        {"time_limit_s": 14400, "hourly_cents": 6000, "note": "a"},
        {"time_limit_s": 16200, "hourly_cents": 6000, "reason": "outage", "tags": ["x"]},
    )
    shown = {c.field: (c.before, c.after, c.kind) for c in rows}
    assert shown["time limit"] == ("4:00:00", "4:30:00", "changed")
    assert shown["hourly"] == ("60.00", "60.00", "same")
    assert shown["note"] == ("a", None, "removed")
    assert shown["reason"] == (None, "outage", "set")
    assert shown["tags"] == (None, '["x"]', "set")
    assert audit_view.changes(None, None) == []


def test_objects_are_named_and_linked_where_they_live():
    assert audit_view.object_name("runs") == "run"
    assert audit_view.object_link("runs", "7") == "/runs/7"
    assert audit_view.object_link("runs", "x") is None
    assert audit_view.object_link("hosts", "3") == "/coordinator/hosts"
    assert audit_view.object_link("api_tokens", "3") is None
    assert audit_view.object_name("brand_new_things") == "brand new things"


def test_the_audit_log_shows_before_and_after_and_filters_by_actor_action_and_object(
    client, engine, make_user
):
    admin = make_user(Role.admin, name="Ada Admin")
    coordinator = make_user(Role.coordinator, name="Cora Coord")
    with Session(engine) as s:  # the accounts' own entries (user.create) are not this test's
        for row in s.exec(select(AuditLog)):
            s.delete(row)
        s.commit()
    _add(
        engine,
        actor_id=coordinator.id,
        action="run.extend_limit",
        before={"time_limit_s": 3600},
        after={"time_limit_s": 5400, "reason": "outage"},
    )
    _add(
        engine,
        actor_id=None,
        action="run.fail",
        object_id="8",
        before={"status": "provisioning"},
        after={"status": "failed", "host": "local"},
    )
    _add(
        engine,
        actor_id=admin.id,
        action="user.role",
        object_type="users",
        object_id=str(coordinator.id),
        before={"role": "analyst"},
        after={"role": "coordinator"},
    )
    login(client, admin)

    page = client.get("/admin/audit").text
    text = _text(page)
    assert "3 entries." in text
    assert "time limit 1:00:00 → 1:30:00" in text
    assert "reason outage" in text and "role analyst → coordinator" in text
    assert "Cora Coord" in text and "system" in text
    assert '<a href="/runs/7">run 7</a>' in page  # the object, linked where it lives
    assert "<code>{" not in page  # no raw JSON

    def shown(query: str) -> list[str]:
        html = client.get(f"/admin/audit?{query}").text
        return re.findall(r'<tr id="audit-\d+">.*?<code>([^<]+)</code>', html, re.S)

    assert shown("actor=cora") == ["run.extend_limit"]  # by name, any case
    assert shown(f"actor={coordinator.email}") == ["run.extend_limit"]
    assert shown("actor=system") == ["run.fail"]
    assert sorted(shown("action=run.")) == ["run.extend_limit", "run.fail"]
    assert shown("object=users") == ["user.role"]
    assert shown("object=runs&object_id=8") == ["run.fail"]
    assert shown("object=runs&action=run.ext&actor=cora") == ["run.extend_limit"]
    assert shown("actor=nobody") == []
    filtered = client.get("/admin/audit?object=runs&object_id=8").text
    assert "1 entry matches the filters." in _text(filtered) and 'id="clear-filters"' in filtered
    # Each entry's who, action and object narrow the current filters by one more.
    assert 'href="/admin/audit?actor=system&amp;object=runs&amp;object_id=8"' in filtered


def test_the_pager_keeps_the_filters(client, engine, make_user):
    admin = make_user(Role.admin)
    now = utcnow()
    with Session(engine) as s:
        for row in s.exec(select(AuditLog)):  # the accounts' own entries
            s.delete(row)
        for n in range(60):
            s.add(AuditLog(at=now - timedelta(seconds=n), actor_id=None, action="demo.x",
                           object_type="runs", object_id=str(n % 2)))  # fmt: skip
        s.commit()
    login(client, admin)
    first = client.get("/admin/audit?actor=system&object=runs&object_id=1").text
    assert "Rows 1\u201330 of 30" in first
    more = client.get("/admin/audit?actor=system&object=runs&page=2").text
    assert "Rows 51\u201360 of 60" in more
    assert '<a href="/admin/audit?actor=system&object=runs" rel="prev">' in unescape(more)
    assert '<a href="/admin/audit?actor=system&object=runs&page=2" rel="next">' in unescape(
        client.get("/admin/audit?actor=system&object=runs").text
    )


def test_the_audit_log_is_for_admins_only(client, make_user):
    login(client, make_user(Role.coordinator))
    assert client.get("/admin/audit?actor=system").status_code == 403


def test_an_unknown_address_keeps_the_signed_in_header_and_reveals_nothing(client, make_user):
    signed_out = client.get("/admin/no-such-page")
    assert signed_out.status_code == 404 and 'href="/login"' in signed_out.text
    coordinator = make_user(Role.coordinator, name="Cora Coord")
    login(client, coordinator)
    for path in ("/no/such/page", "/admin/secret", "/runs/abc", "/coordinator/nope"):
        response = client.get(path)
        assert response.status_code == 404, path
        page = response.text
        assert "Cora Coord" in page and "Sign out" in page and 'href="/login"' not in page
        assert 'href="/coordinator/applications"' in page  # the role's own navigation
        assert "There is no page at this address." in page
        assert "Back to your start page" in page
    # The same page for an address that exists for another role: nothing tells them apart.
    assert client.get("/admin/audit").status_code == 403


def test_an_error_from_a_route_keeps_the_header_too(client, make_user):
    login(client, make_user(Role.admin, name="Ada Admin"))
    response = client.get("/runs/999999")
    assert response.status_code == 404 and "Ada Admin" in response.text


def test_the_favicon_answers_and_pages_link_it(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg")
    page = client.get("/").text
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    assert 'href="/favicon.ico"' in page


def test_the_audit_api_takes_the_same_filters(client, engine, make_user):
    from baselines import tokens
    from baselines.users import User

    admin = make_user(Role.admin)
    _add(engine, actor_id=None, action="run.fail", object_id="8")
    _add(engine, actor_id=None, action="run.fail", object_id="9")
    with Session(engine) as s:
        _, plain = tokens.create(s, s.get(User, admin.id), "audit", utcnow(), admin.id)
        s.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    body = client.get("/api/v1/audit?actor=system&object=runs&object_id=9", headers=headers).json()
    assert [(i["action"], i["object_id"]) for i in body["items"]] == [("run.fail", "9")]
