"""Applying as an expert: the account and application appear together, or not at all."""

from sqlmodel import Session, func, select

from baselines.applications import Application
from baselines.audit import AuditLog
from baselines.users import User
from tests.conftest import csrf_token

GOOD = {
    "name": "Grace Hopper",
    "email": "Grace@Example.org",
    "password": "a long enough password",
    "background": "Compilers, then ten years of distributed training at scale.",
    "links": "https://github.com/grace\nhttps://example.org/papers",
    "availability": "Weekdays, 8-hour blocks",
    "consent_time_tracking": "on",
    "consent_snapshots": "on",
}


def _count(engine, model) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def test_apply_creates_account_and_pending_application(client, engine):
    token = csrf_token(client, "/apply")
    response = client.post("/apply", data={**GOOD, "csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    dashboard = client.get("/dashboard")
    assert dashboard.status_code == 200
    assert "pending" in dashboard.text
    with Session(engine) as s:
        user = s.exec(select(User)).one()
        assert user.email == "grace@example.org"
        assert user.role == "expert"
        assert user.password_hash and "a long enough" not in user.password_hash
        application = s.exec(select(Application)).one()
        assert application.status == "pending"
        assert application.links.splitlines() == [
            "https://github.com/grace",
            "https://example.org/papers",
        ]
        audit = s.exec(select(AuditLog)).one()
        assert (audit.action, audit.actor_id) == ("application.submit", user.id)


def test_each_bad_field_gets_its_message_and_nothing_is_created(client, engine):
    token = csrf_token(client, "/apply")
    bad = {
        **GOOD,
        "email": "not-an-email",
        "password": "short",
        "background": "too short",
        "links": "ftp://nope",
        "consent_snapshots": "",
        "csrf_token": token,
    }
    del bad["name"]
    response = client.post("/apply", data=bad)
    assert response.status_code == 400
    page = response.text
    assert 'id="name-error">Required.' in page
    assert 'id="email-error">Enter a valid email address.' in page
    assert 'id="password-error">Use at least 10 characters.' in page
    assert 'id="background-error">Use at least 20 characters.' in page
    assert "is not a web address" in page
    assert 'id="consent_snapshots-error">Taking part requires this consent.' in page
    # What was typed is kept (but never the password).
    assert "Weekdays, 8-hour blocks" in page
    assert "short" not in page.split('id="password"')[1].split(">")[0]
    assert _count(engine, User) == 0
    assert _count(engine, Application) == 0


def test_duplicate_email_is_refused_next_to_the_field(client, engine, make_user):
    from baselines.users import Role

    make_user(Role.expert, email="grace@example.org")
    token = csrf_token(client, "/apply")
    response = client.post("/apply", data={**GOOD, "csrf_token": token})
    assert response.status_code == 400
    assert 'id="email-error">An account with this email already exists.' in response.text
    assert _count(engine, User) == 1
    assert _count(engine, Application) == 1


def test_apply_without_csrf_token_is_refused(client, engine):
    client.get("/apply")
    response = client.post("/apply", data=GOOD)
    assert response.status_code == 403
    assert "form has expired" in response.text
    assert _count(engine, User) == 0
