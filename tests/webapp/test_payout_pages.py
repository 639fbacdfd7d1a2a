"""Finance's forms refuse bad input beside the field and save nothing: rates (expert, amount,
date, a second currency) and batches (no period, nothing payable)."""

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from baselines.users import Role, User
from payments import rates
from payments.batches import PayoutBatch
from payments.rates import ExpertRate
from tests.conftest import login, post_form

RATE_RULE = "Enter an hourly rate between 0.01 and 100,000.00, like 45 or 45.50."


@pytest.fixture
def finance_client(client, make_user):
    login(client, make_user(Role.finance))
    return client


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"expert": ""}, "expert", "Choose an expert."),
        ({"expert": "999"}, "expert", "Choose an expert."),
        *(
            ({"rate": bad}, "rate", RATE_RULE)
            for bad in (
                "",
                "  ",
                "sixty",
                "-10",
                "0",
                "0.00",
                "0.001",
                "45.505",
                "100000.01",
                "99999999999",
                "1e3",
                "45.50.5",
                "$45",
            )
        ),
        ({"currency": "XYZ"}, "currency", "Choose one of USD, EUR, GBP."),
        ({"effective_from": "1st of May"}, "effective_from", "Enter a date like 2026-12-01."),
    ],
)
def test_a_bad_rate_is_refused_beside_its_field(
    finance_client, engine, make_user, form, field, message
):
    expert = make_user(Role.expert)
    values = {"expert": str(expert.id), "rate": "60", "currency": "USD", "effective_from": "",
              "environment": "", **form}  # fmt: skip
    response = post_form(finance_client, "/finance/rates", values, "/finance")
    assert response.status_code == 400
    assert f'id="{field}-error">{message}<' in response.text
    assert response.text.count('class="field-error"') == 1  # beside the field, said once
    with Session(engine) as s:
        assert s.exec(select(ExpertRate)).all() == []


@pytest.mark.parametrize(
    ("typed", "cents"),
    [("0.01", 1), ("45", 4500), ("45.5", 4550), ("1,250.00", 125000), ("100000", 10000000)],
)
def test_a_rate_in_range_is_saved(finance_client, engine, make_user, typed, cents):
    expert = make_user(Role.expert)
    values = {"expert": str(expert.id), "rate": typed, "currency": "USD", "effective_from": "",
              "environment": ""}  # fmt: skip
    response = post_form(finance_client, "/finance/rates", values, "/finance")
    assert response.status_code == 303
    with Session(engine) as s:
        assert [r.hourly_cents for r in rates.history(s, expert.id)] == [cents]


def test_a_second_currency_for_one_expert_is_refused(finance_client, engine, make_user):
    expert, boss = make_user(Role.expert), make_user(Role.finance)
    with Session(engine) as s:
        rates.set_rate(s, s.get(User, expert.id), 6000, "USD", s.get(User, boss.id),
                       datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
        s.commit()
    values = {"expert": str(expert.id), "rate": "55", "currency": "EUR", "effective_from": "",
              "environment": ""}  # fmt: skip
    response = post_form(finance_client, "/finance/rates", values, "/finance")
    assert response.status_code == 400 and "is paid in USD" in response.text
    with Session(engine) as s:
        assert len(rates.history(s, expert.id)) == 1


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"period": "", "method": "csv"}, "Choose a pay period."),
        ({"period": "2026-11-16", "method": "csv"}, "No approved, unpaid timesheets"),
        ({"period": "2026-11-16", "method": "stripe"}, "Choose how the batch is paid."),
    ],
)
def test_a_batch_with_nothing_to_pay_is_refused(finance_client, engine, form, message):
    response = post_form(finance_client, "/finance/payouts", form, "/finance/payouts")
    assert response.status_code == 400 and message in response.text
    with Session(engine) as s:
        assert s.exec(select(PayoutBatch)).all() == []
