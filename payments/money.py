"""Money as integer cents with a currency: parsing what people type and showing it back."""

import re

from baselines.errors import DomainError

CURRENCIES = ("USD", "EUR", "GBP")
_AMOUNT = re.compile(r"^\s*(\d{1,7})(?:\.(\d{1,2}))?\s*$")


def parse_cents(text: str, field: str = "amount") -> int:
    """'45', '45.5' and '45.50' are 4550 cents; anything else is refused with a reason."""
    match = _AMOUNT.match(text.replace(",", "") if text.count(",") <= 1 else text)
    if match is None:
        raise DomainError("Enter an amount like 45 or 45.50.", field=field)
    whole, frac = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(whole) * 100 + int(frac)


def format_cents(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100:,}.{cents % 100:02d} {currency}"


def check_currency(currency: str, field: str = "currency") -> str:
    currency = currency.strip().upper()
    if currency not in CURRENCIES:
        raise DomainError(f"Choose one of {', '.join(CURRENCIES)}.", field=field)
    return currency
