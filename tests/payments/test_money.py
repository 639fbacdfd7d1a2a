"""Typed amounts become integer cents exactly, or are refused with a reason."""

import pytest

from baselines.errors import DomainError
from payments.money import check_currency, format_cents, parse_cents


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("45", 4500),
        ("45.5", 4550),
        ("45.50", 4550),
        (" 0.01 ", 1),
        ("1,250.00", 125000),
        ("0.10", 10),
        ("9999999.99", 999999999),
    ],
)
def test_parse_cents(text, cents):
    assert parse_cents(text) == cents


@pytest.mark.parametrize("text", ["", "abc", "-5", "1.234", "1e3", "1,2,3", "45.", ".5", "NaN"])
def test_parse_cents_refuses(text):
    with pytest.raises(DomainError) as error:
        parse_cents(text, field="rate")
    assert error.value.field == "rate"


def test_format_and_currency():
    assert format_cents(125050, "USD") == "1,250.50 USD"
    assert format_cents(-5, "EUR") == "-0.05 EUR"
    assert check_currency(" gbp ") == "GBP"
    with pytest.raises(DomainError):
        check_currency("BTC")
