"""Money as integer minor units plus an ISO currency: parse what people type, format for people."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale
from babel.numbers import format_currency, get_currency_precision


class MoneyError(ValueError):
    """Input that is not an amount of money; the message is meant for the person who typed it."""


@lru_cache(maxsize=64)
def minor_units(currency: str) -> int:
    """Digits after the decimal point for a currency (2 for USD, 0 for JPY)."""
    return get_currency_precision(currency.upper())


def to_cents(amount: Decimal, currency: str) -> int:
    """Convert a major-unit Decimal to minor units, refusing fractions the currency doesn't have."""
    scaled = amount * (Decimal(10) ** minor_units(currency))
    if scaled != scaled.to_integral_value():
        digits = minor_units(currency)
        raise MoneyError(
            f"{currency.upper()} amounts can't have more than {digits} decimal place"
            f"{'' if digits == 1 else 's'}."
            if digits
            else f"{currency.upper()} amounts must be whole numbers."
        )
    return int(scaled)


def from_cents(cents: int, currency: str) -> Decimal:
    """Minor units back to a major-unit Decimal, exactly."""
    return Decimal(cents).scaleb(-minor_units(currency))


_CLEAN = re.compile(r"[\s,$€£¥]|USD|EUR|GBP|JPY|CAD", re.IGNORECASE)


def parse_amount(text: str | None, currency: str) -> int:
    """Parse "1,250.50" or "$25" into minor units; raise MoneyError with a readable message."""
    raw = (text or "").strip()
    if not raw:
        raise MoneyError("Please enter an amount.")
    cleaned = _CLEAN.sub("", raw)
    if not re.fullmatch(r"-?\d+(\.\d+)?", cleaned):
        raise MoneyError(f"“{raw[:40]}” isn't an amount of money. Use digits, like 25 or 25.50.")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the regex above admits only valid decimals
        raise MoneyError(f"“{raw[:40]}” isn't an amount of money.") from None
    if value <= 0:
        raise MoneyError("The amount must be more than zero.")
    if value > Decimal(1000000000):
        raise MoneyError("That amount is too large.")
    return to_cents(value, currency)


def format_money(cents: int, currency: str, locale: str | Locale = "en_US", *, whole: bool = False) -> str:
    """Format minor units for people: $12,340.00, or $12,340 with whole=True when it is whole."""
    amount = from_cents(cents, currency)
    if whole and amount == amount.to_integral_value():
        return format_currency(amount, currency.upper(), locale=locale, format="¤#,##0", currency_digits=False)
    return format_currency(amount, currency.upper(), locale=locale)


def format_input(cents: int, currency: str) -> str:
    """Minor units as a plain number for a form field: 2500 -> "25.00"."""
    return str(from_cents(cents, currency))


_EXPORT_CLEAN = re.compile(r"[\s,$€£¥]|[A-Z]{3}$|^[A-Z]{3}", re.IGNORECASE)


def parse_export_amount(text: str | None, currency: str) -> int:
    """An amount as exports write it ("$1,000.00", "1,000", "-25.00", "(25.00)"): signed minor units,
    zero allowed (a refund is negative); MoneyError with a readable message otherwise."""
    raw = (text or "").strip()
    if not raw:
        raise MoneyError("missing")
    negative = raw.startswith("(") and raw.endswith(")")
    cleaned = _EXPORT_CLEAN.sub("", raw.strip("()"))
    if cleaned.startswith("-"):
        negative, cleaned = not negative, cleaned[1:]
    if not re.fullmatch(r"\d+(\.\d+)?|\.\d+", cleaned):
        raise MoneyError(f"“{raw[:40]}” isn't an amount of money")
    value = Decimal(cleaned)
    if value > Decimal(1000000000):
        raise MoneyError("that amount is too large")
    cents = to_cents(value, currency)
    return -cents if negative else cents
