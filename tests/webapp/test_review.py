"""Coordinators decide on applications: approve with a rate in cents, or reject with a reason."""

from sqlmodel import Session, select

from baselines.applications import Application
from baselines.audit import AuditLog
from baselines.users import Role
from payments.rates import ExpertRate
from tests.conftest import login, post_form


def _application_id(engine, user_id: int) -> int:
    with Session(engine) as s:
        return s.exec(select(Application.id).where(Application.user_id == user_id)).one()


def test_approve_with_rate_stores_cents_and_audits(client, engine, make_user):
    coordinator = make_user(Role.coordinator)
    expert = make_user(Role.expert, name="Ada Lovelace")
    app_id = _application_id(engine, expert.id)
    login(client, coordinator)
    listing = client.get("/coordinator/applications")
    assert "Ada Lovelace" in listing.text
    page = f"/coordinator/applications/{app_id}"
    response = post_form(client, f"{page}/approve", {"rate": "62.5", "currency": "EUR"}, page=page)
    assert response.status_code == 303
    with Session(engine) as s:
        application = s.get(Application, app_id)
        assert application.status == "approved"
        assert application.reviewed_by_id == coordinator.id
        rate = s.exec(select(ExpertRate)).one()
        assert (rate.hourly_cents, rate.currency) == (6250, "EUR")
        query = select(AuditLog).where(AuditLog.actor_id == coordinator.id).order_by(AuditLog.id)
        assert [row.action for row in s.exec(query)] == ["application.approved", "rate.set"]
    assert "62.50 EUR" in client.get(page).text


def test_bad_rate_is_refused_next_to_the_field_and_nothing_changes(client, engine, make_user):
    coordinator = make_user(Role.coordinator)
    expert = make_user(Role.expert)
    app_id = _application_id(engine, expert.id)
    login(client, coordinator)
    page = f"/coordinator/applications/{app_id}"
    message = "Enter an hourly rate between 0.01 and 100,000.00, like 45 or 45.50."
    for rate in ("abc", "", "0", "-10", "12.345", "99999999999"):
        response = post_form(
            client, f"{page}/approve", {"rate": rate, "currency": "USD"}, page=page
        )
        assert response.status_code == 400, rate
        assert 'id="rate-error">' + message in response.text, rate
    bad_currency = post_form(
        client, f"{page}/approve", {"rate": "50", "currency": "XYZ"}, page=page
    )
    assert bad_currency.status_code == 400
    assert 'id="currency-error">Choose one of USD, EUR, GBP.' in bad_currency.text
    with Session(engine) as s:
        assert s.get(Application, app_id).status == "pending"
        assert s.exec(select(ExpertRate)).all() == []


def test_reject_needs_a_reason_which_the_expert_then_sees(app, client, engine, make_user):
    from fastapi.testclient import TestClient

    coordinator = make_user(Role.coordinator)
    expert = make_user(Role.expert)
    app_id = _application_id(engine, expert.id)
    login(client, coordinator)
    page = f"/coordinator/applications/{app_id}"
    empty = post_form(client, f"{page}/reject", {"reason": "   "}, page=page)
    assert empty.status_code == 400
    assert 'id="reason-error">Say why, so the applicant knows.' in empty.text
    done = post_form(client, f"{page}/reject", {"reason": "No GPU experience yet."}, page=page)
    assert done.status_code == 303
    with TestClient(app, follow_redirects=False) as expert_client:
        login(expert_client, expert)
        dashboard = expert_client.get("/dashboard").text
        assert "rejected" in dashboard and "No GPU experience yet." in dashboard


def test_deciding_twice_is_a_conflict_not_a_second_change(client, engine, make_user):
    coordinator = make_user(Role.coordinator)
    expert = make_user(Role.expert)
    app_id = _application_id(engine, expert.id)
    login(client, coordinator)
    page = f"/coordinator/applications/{app_id}"
    assert (
        post_form(
            client, f"{page}/approve", {"rate": "50", "currency": "USD"}, page=page
        ).status_code
        == 303
    )
    again = post_form(client, f"{page}/reject", {"reason": "changed my mind"}, page=page)
    assert again.status_code == 409
    assert "already approved" in again.text
    with Session(engine) as s:
        assert s.get(Application, app_id).status == "approved"
        assert len(s.exec(select(ExpertRate)).all()) == 1


def test_status_filter_and_unknown_filter(client, engine, make_user):
    coordinator = make_user(Role.coordinator)
    make_user(Role.expert, name="Pending Person")
    login(client, coordinator)
    assert "Pending Person" in client.get("/coordinator/applications?status=pending").text
    assert "Pending Person" not in client.get("/coordinator/applications?status=approved").text
    assert "Pending Person" in client.get("/coordinator/applications?status=bogus").text


def test_finance_sees_experts_and_rates(app, client, engine, make_user):
    from fastapi.testclient import TestClient

    coordinator = make_user(Role.coordinator)
    expert = make_user(Role.expert, name="Rate Holder")
    app_id = _application_id(engine, expert.id)
    login(client, coordinator)
    page = f"/coordinator/applications/{app_id}"
    post_form(client, f"{page}/approve", {"rate": "1,250.00", "currency": "GBP"}, page=page)
    with TestClient(app, follow_redirects=False) as finance:
        login(finance, make_user(Role.finance))
        text = finance.get("/finance").text
        assert "Rate Holder" in text and "1,250.00 GBP" in text
