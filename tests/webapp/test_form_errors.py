"""Forms show every field's error at once (issue 17): several bad fields in one submission get
all their messages beside their fields, a 4xx, and nothing saved; the error after the first is
never held back for the next attempt."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from sqlmodel import Session, func, select

from baselines import password_resets
from baselines.applications import Application, ApplicationStatus
from baselines.errors import Conflict, DomainError, FieldErrors, Problems
from baselines.passwords import verify_password
from baselines.runs import Run, RunStatus
from baselines.users import Role, User, create_user
from fleet import hosts
from fleet.hosts import Host, HostCreate
from payments.batches import PayoutBatch
from payments.rates import ExpertRate
from tests.conftest import PASSWORD, fixed_now, login, post_form
from timetracking import pauses
from timetracking.limits import LimitExtension

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _messages(html: str) -> dict[str, str]:
    """Each field's message on the page, by field name."""
    found = re.findall(r'<p class="field-error" id="([^"]+)-error">([^<]*)</p>', html)
    return {name: unescape(text) for name, text in found}


def _count(engine, model) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


# --- the collector -----------------------------------------------------------------------------


def test_problems_keep_one_message_per_field_and_raise_them_together():
    problems = Problems()
    problems.add("rate", "first")
    problems.add("rate", "second")

    def bad_day():
        raise DomainError("Bad day.", field="day")

    assert problems.check(bad_day) is None and problems.check(int, "7") == 7
    with pytest.raises(FieldErrors) as caught:
        problems.raise_any()
    assert caught.value.errors == {"rate": "first", "day": "Bad day."}
    assert (caught.value.field, caught.value.message) == ("rate", "first")


def test_an_error_about_no_field_is_not_swallowed():
    def refuse():
        raise Conflict("This run is finished.")

    with pytest.raises(Conflict):
        Problems().check(refuse)


def test_a_taken_email_and_a_weak_password_are_both_said(engine, make_user):
    taken = make_user(Role.coordinator)
    with Session(engine) as s, pytest.raises(FieldErrors) as caught:
        create_user(s, email=taken.email, name="X", role=Role.expert, password="short", now=T0)
    assert set(caught.value.errors) == {"email", "password"}
    with Session(engine) as s, pytest.raises(Conflict):  # a taken email alone stays a 409
        create_user(s, email=taken.email, name="X", role=Role.expert, password=PASSWORD, now=T0)


# --- the run page's staff forms -----------------------------------------------------------------


def _run(engine, expert: User) -> int:
    with Session(engine) as s:
        run = Run(expert_id=expert.id, environment="x/y", created_at=T0, started_at=T0,
                  status=RunStatus.active, time_limit_s=4 * 3600)  # fmt: skip
        s.add(run)
        s.commit()
        return run.id


@pytest.mark.parametrize("minutes", ["-30", "", "nan", "inf", "1e400"])
def test_an_extension_with_bad_minutes_and_no_reason_flags_both(
    app, client, engine, make_user, minutes
):
    run_id = _run(engine, make_user(Role.expert))
    login(client, make_user(Role.coordinator))
    fixed_now(app, T0 + timedelta(hours=1))
    form = {"extend_minutes": minutes, "extend_reason": "  "}
    response = post_form(client, f"/runs/{run_id}/extend", form, page=f"/runs/{run_id}")
    assert response.status_code == 400
    messages = _messages(response.text)
    assert messages["extend_reason"] == "Say why the run gets more time."
    expected = "at least 1 minute" if minutes == "-30" else "Enter the minutes to add"
    assert expected in messages["extend_minutes"]
    assert _count(engine, LimitExtension) == 0


def test_a_correction_with_bad_periods_and_no_reason_flags_both(app, client, engine, make_user):
    run_id = _run(engine, make_user(Role.expert))
    login(client, make_user(Role.coordinator))
    fixed_now(app, T0 + timedelta(hours=3))
    for periods in ("yesterday - today", "2026-03-02 11:00 - 2026-03-02 10:00"):
        form = {"override_periods": periods, "override_reason": ""}
        response = post_form(client, f"/runs/{run_id}/periods", form, page=f"/runs/{run_id}")
        assert response.status_code == 400
        messages = _messages(response.text)
        assert set(messages) == {"override_periods", "override_reason"}, messages
        assert messages["override_reason"] == "Say why the work periods are corrected."
    with Session(engine) as s:
        assert pauses.for_run(s, run_id) == [] and not s.get(Run, run_id).overridden


# --- finance ------------------------------------------------------------------------------------


def test_a_rate_with_every_field_wrong_gets_every_message(client, engine, make_user):
    make_user(Role.expert)  # the form is shown once there is someone to pay
    login(client, make_user(Role.finance))
    form = {"expert": "999", "rate": "sixty", "currency": "XYZ", "effective_from": "1st of May",
            "environment": ""}  # fmt: skip
    response = post_form(client, "/finance/rates", form, "/finance")
    assert response.status_code == 400
    assert set(_messages(response.text)) == {"expert", "rate", "currency", "effective_from"}
    assert "4 fields need a change" in response.text
    assert _count(engine, ExpertRate) == 0


def test_a_batch_with_no_period_and_no_method_gets_both_messages(client, engine, make_user):
    login(client, make_user(Role.finance))
    response = post_form(client, "/finance/payouts", {"period": "", "method": "gold"},
                         "/finance/payouts")  # fmt: skip
    assert response.status_code == 400
    assert set(_messages(response.text)) == {"period", "method"}
    assert _count(engine, PayoutBatch) == 0


# --- coordinator ----------------------------------------------------------------------------------


def test_approving_with_a_bad_rate_and_currency_gets_both_and_approves_nothing(
    client, engine, make_user
):
    expert = make_user(Role.expert)
    login(client, make_user(Role.coordinator))
    with Session(engine) as s:
        application = s.exec(select(Application).where(Application.user_id == expert.id)).one()
    path = f"/coordinator/applications/{application.id}"
    response = post_form(client, f"{path}/approve", {"rate": "-5", "currency": "XYZ"}, path)
    assert response.status_code == 400
    assert set(_messages(response.text)) == {"rate", "currency"}
    with Session(engine) as s:
        assert s.get(Application, application.id).status == ApplicationStatus.pending
    assert _count(engine, ExpertRate) == 0


def test_a_host_with_several_faults_gets_every_message(client, engine, make_user):
    login(client, make_user(Role.coordinator))
    form = {"name": "Bad Name", "driver": "ssh", "address": "", "port": "99999",
            "username": "root", "key_path": "", "backend": "container", "image": "",
            "python": "", "max_workspaces": "4"}  # fmt: skip
    response = post_form(client, "/coordinator/hosts", form, "/coordinator/hosts")
    assert response.status_code == 400
    # pydantic's (name, port) and the cross-field checks (address, key, image) together
    assert set(_messages(response.text)) == {"name", "port", "address", "key_path", "image"}
    assert _count(engine, Host) == 0
    # A taken name is said together with the other faults, not on the next attempt.
    with Session(engine) as s:
        hosts.add(s, HostCreate(name="taken", driver="local"), "", None, T0)
        s.commit()
    response = post_form(client, "/coordinator/hosts", {**form, "name": "taken"},
                         "/coordinator/hosts")  # fmt: skip
    messages = _messages(response.text)
    assert messages["name"] == "A host with this name exists." and "port" in messages
    assert _count(engine, Host) == 1


def test_a_staff_account_with_a_taken_email_and_no_name_gets_both(client, engine, make_user):
    taken = make_user(Role.analyst)
    login(client, make_user(Role.admin))
    form = {"email": taken.email, "name": "", "role": "finance"}
    response = post_form(client, "/admin/users", form, "/admin/users")
    assert response.status_code == 400
    messages = _messages(response.text)
    assert messages == {"email": "An account with this email already exists.", "name": "Required."}
    assert _count(engine, User) == 2


# --- anyone ---------------------------------------------------------------------------------------


def test_an_application_with_a_taken_email_and_other_faults_gets_every_message(
    client, engine, make_user
):
    taken = make_user(Role.expert)
    form = {"name": "", "email": taken.email, "password": "short", "background": "too short",
            "links": "", "availability": "", "consent_time_tracking": "on"}  # fmt: skip
    response = post_form(client, "/apply", form, "/apply")
    assert response.status_code == 400
    messages = _messages(response.text)
    assert {"name", "email", "password", "background", "availability"} <= set(messages)
    assert messages["email"] == "An account with this email already exists."
    assert _count(engine, User) == 1


def test_a_password_change_with_every_field_wrong_gets_every_message(client, engine, make_user):
    user = make_user(Role.coordinator)
    login(client, user)
    form = {"current": "not it", "password": "short", "password2": "other"}
    response = post_form(client, "/account/password", form, "/account")
    assert response.status_code == 400
    assert set(_messages(response.text)) == {"current", "password", "password2"}
    with Session(engine) as s:
        assert verify_password(PASSWORD, s.get(User, user.id).password_hash)


def test_a_reset_with_a_weak_password_that_differs_gets_both(client, engine, make_user):
    user = make_user(Role.expert)
    with Session(engine) as s:
        token = password_resets.issue(s, s.get(User, user.id), None, timedelta(hours=1),
                                      datetime.now(UTC))  # fmt: skip
        s.commit()
    form = {"password": "short", "password2": "different"}
    response = post_form(client, f"/reset/{token}", form, f"/reset/{token}")
    assert response.status_code == 400
    assert set(_messages(response.text)) == {"password", "password2"}
    with Session(engine) as s:
        assert verify_password(PASSWORD, s.get(User, user.id).password_hash)
