"""Money as integer minor units plus an ISO currency: parse what people type, format for people.

"Minor units" are Stripe's: the integer Stripe expects as `amount` (docs.stripe.com/currencies).
Stripe mostly follows ISO 4217, with exceptions listed in STRIPE_MINOR_UNITS and WHOLE_ONLY.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale
from babel.numbers import (
    NumberPattern,
    format_currency,
    get_currency_precision,
    get_currency_symbol,
    parse_pattern,
)


class MoneyError(ValueError):
    """Input that is not an amount of money; the message is meant for the person who typed it."""


# Campaign currencies we have tested end to end (minor units, parsing, formatting, Stripe's
# amounts). Campaigns may use only these; add one here only with a test in tests/unit/test_money.py.
TESTED_CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "JPY")

# Where Stripe's `amount` differs from the CLDR digits Babel knows: ISK and UGX became
# zero-decimal, but the API keeps them two-decimal with "00" at the end (5 ISK is amount=500);
# HUF and TWD charge in two decimals (Stripe treats them as zero-decimal only for payouts).
STRIPE_MINOR_UNITS = {"ISK": 2, "UGX": 2, "HUF": 2, "TWD": 2}
# Currencies Stripe accepts only in whole units, whatever their minor units.
WHOLE_ONLY = frozenset({"ISK", "UGX"})
# Stripe's three-decimal currencies: the API wants the last digit to be 0 (5.124 KWD is refused).
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

# Currencies whose people write "1,000" for a thousand; for the others (EUR among them) a lone
# comma or point before three digits could be either, so the donor is asked.
_COMMA_GROUPS = frozenset({"USD", "GBP", "CAD", "AUD", "JPY", "NZD", "HKD", "SGD", "MXN", "KRW", "CNY", "INR"})


@lru_cache(maxsize=64)
def minor_units(currency: str) -> int:
    """Digits of Stripe's `amount` after the decimal point (2 for USD, 0 for JPY, 3 for KWD)."""
    code = currency.upper()
    return STRIPE_MINOR_UNITS.get(code, get_currency_precision(code))


def _digits_allowed(currency: str) -> int:
    """Decimals a donor may type: 0 for whole-only currencies, 2 for three-decimal ones."""
    code = currency.upper()
    if code in WHOLE_ONLY:
        return 0
    if code in THREE_DECIMAL:
        return 2
    return minor_units(code)


def to_cents(amount: Decimal, currency: str) -> int:
    """Convert a major-unit Decimal to minor units, refusing fractions Stripe won't take."""
    digits = _digits_allowed(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-digits)):
        raise MoneyError(
            f"{currency.upper()} amounts can't have more than {digits} decimal place"
            f"{'' if digits == 1 else 's'}."
            if digits
            else f"{currency.upper()} amounts must be whole numbers."
        )
    return int(amount.scaleb(minor_units(currency)))


def from_cents(cents: int, currency: str) -> Decimal:
    """Minor units back to a major-unit Decimal, exactly."""
    return Decimal(cents).scaleb(-minor_units(currency))


_SYMBOLS = re.compile(r"[$€£¥]|US\$|C\$|A\$|\b[A-Z]{3}\b", re.IGNORECASE)
# Spaces (also no-break and thin ones) and apostrophes only ever group digits: "1 000", "1'000".
_GROUP_ONLY = re.compile(r"[\s\u00a0\u202f'’]")
_GROUPED = re.compile(r"\d{1,3}(?:[.,]\d{3})+")


def _ungrouped(text: str, marks: list[str]) -> str | None:
    """A number with several marks as a plain decimal: with both, the last is the decimal mark and
    the other groups thousands ("1.000,50"); one mark repeated only groups ("1,000,000"). None when
    the groups aren't thousands. Forms and exports read them alike."""
    if len(set(marks)) == 2:
        decimal = text[max(text.rfind("."), text.rfind(","))]
        whole, _, fraction = text.rpartition(decimal)
        if decimal in whole or not fraction or not _GROUPED.fullmatch(whole):
            return None
        return whole.replace("." if decimal == "," else ",", "") + "." + fraction
    return text.replace(marks[0], "") if _GROUPED.fullmatch(text) else None


def _normalise(raw: str, currency: str) -> str:
    """Turn what a person typed into a plain decimal string ("1.000,50" -> "1000.50")."""
    text = _GROUP_ONLY.sub("", _SYMBOLS.sub("", raw))
    if not re.fullmatch(r"-?[\d.,]+", text) or not re.search(r"\d", text):
        raise MoneyError(f"“{raw[:40]}” isn't an amount of money. Use digits, like 25 or 25.50.")
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    seps = [c for c in text if c in ".,"]
    if not seps:
        return sign + text
    if len(seps) > 1:
        plain = _ungrouped(text, seps)
        if plain is None:
            raise MoneyError(f"“{raw[:40]}” isn't an amount of money. Use digits, like 1000.50.")
        return sign + plain
    mark = seps[0]
    whole, _, fraction = text.partition(mark)
    if not whole:
        raise MoneyError(f"“{raw[:40]}” isn't an amount of money. Use digits, like 25 or 25.50.")
    if not fraction:  # "25." is 25
        return sign + whole
    digits = minor_units(currency)
    if len(fraction) == 3 and digits != 3 and len(whole) <= 3 and not whole.startswith("0"):
        # "1,000" or "10.555": a thousands separator, or three decimals? Ask, naming both.
        if mark == "," and currency.upper() in _COMMA_GROUPS:
            return sign + whole + fraction
        small = whole + (mark + fraction.rstrip("0") if fraction.rstrip("0") else "")
        how = (f"with at most {digits} decimal places (like {int(whole + fraction)}, or {whole}{mark}{'5' + '0' * (digits - 1)}"
               f" for {whole} and a half)" if digits else f"as a whole number (like {int(whole + fraction)})")
        raise MoneyError(
            f"“{raw[:40]}” could be {int(whole + fraction)} or {small}. Please type it without a "
            f"thousands separator and {how}, so that the amount is exactly what you intend."
        )
    return sign + whole + "." + fraction


def parse_amount(text: str | None, currency: str) -> int:
    """Parse "1,250.50", "25,50" or "$25" into minor units; raise MoneyError with a readable message.

    A comma or a point followed by one or two digits is the decimal mark, whichever the donor
    uses ("25,50" is 25.50, never 2,550). Decimal arithmetic only, never floats.
    """
    raw = (text or "").strip()
    if not raw:
        raise MoneyError("Please enter an amount.")
    try:
        value = Decimal(_normalise(raw, currency))
    except InvalidOperation:  # pragma: no cover - _normalise admits only valid decimals
        raise MoneyError(f"“{raw[:40]}” isn't an amount of money.") from None
    if value <= 0:
        raise MoneyError("The amount must be more than zero.")
    if value > Decimal(1000000000):
        raise MoneyError("That amount is too large.")
    return to_cents(value, currency)


def check_campaign_currency(currency: str, *, keep: str | None = None) -> str:
    """The currency a campaign may use: one we have tested (or the one it already has)."""
    code = (currency or "").strip().upper()
    if code in TESTED_CURRENCIES or (keep is not None and code == keep.upper()):
        return code
    raise MoneyError(
        f"Campaigns can take gifts in {', '.join(TESTED_CURRENCIES)} (the currencies we have tested "
        f"with Stripe); {code or 'that'} isn't one of them."
    )


def format_money(cents: int, currency: str, locale: str | Locale = "en_US", *, whole: bool = False) -> str:
    """Format minor units for people: $12,340.00, or $12,340 with whole=True when it is whole.
    The same text as Babel's format_currency (tests/unit/test_money.py holds them together)."""
    amount = from_cents(cents, currency)
    whole = whole and amount == amount.to_integral_value()
    pattern, parsed, symbol = _currency_pattern(currency.upper(), str(locale), whole)
    if pattern is None:
        return format_currency(amount, currency.upper(), locale=parsed, currency_digits=not whole,
                               **({"format": "¤#,##0"} if whole else {}))
    return pattern.apply(amount, parsed, currency=None).replace("¤", symbol)


@lru_cache(maxsize=256)
def _currency_pattern(currency: str, locale: str, whole: bool) -> tuple[NumberPattern | None, Locale, str]:
    """The locale's money pattern with the currency's decimals fixed in, the parsed locale and the
    currency's symbol. Babel looks all three up again for every figure it formats (and a
    currency's plural names too, used or not): a quarter of the printed board report's time.
    None for a pattern naming the currency in words or by code (¤¤), left to Babel."""
    parsed = Locale.parse(locale)
    pattern = parse_pattern("¤#,##0") if whole else parsed.currency_formats["standard"]
    if "¤¤" in pattern.pattern:
        return None, parsed, ""
    digits = 0 if whole else get_currency_precision(currency)
    fixed = NumberPattern(pattern.pattern, pattern.prefix, pattern.suffix, pattern.grouping, pattern.int_prec,
                          (digits, digits), pattern.exp_prec, pattern.exp_plus, pattern.number_pattern)
    return fixed, parsed, get_currency_symbol(currency, parsed)


def format_headline(cents: int, currency: str, locale: str | Locale = "en_US") -> str:
    """A figure in a headline (a bar's raised and goal, a match's cap): whole units without cents,
    rounded down so a total never claims more than came in. Exact figures use `format_money`."""
    unit = 10 ** minor_units(currency)
    whole_cents = (cents // unit) * unit if cents >= 0 else -((-cents // unit) * unit)
    return format_money(whole_cents, currency, locale, whole=True)


def format_input(cents: int, currency: str) -> str:
    """Minor units as a plain number for a form field: 2500 -> "25.00"."""
    amount = from_cents(cents, currency)
    if currency.upper() in WHOLE_ONLY:
        amount = amount.quantize(Decimal(1))
    return str(amount)


_EXPORT_CLEAN = re.compile(r"[\s$€£¥'’]|[A-Z]{3}$|^[A-Z]{3}", re.IGNORECASE)


def _export_number(text: str, currency: str) -> str | None:
    """A plain decimal from an export's number, whichever mark it uses for decimals: "1,250.00" and
    "1.250,00" (the last mark is the decimal one), "49,37" (a comma before one or two digits is a
    decimal comma, as European PayPal and bank files write), "1,000" and "1,000,000" (commas before
    three digits group thousands). None when it isn't a number; "ambiguous" for "1.250" (a lone
    point before three digits: a thousands point, or three decimals?) unless the currency has three."""
    if not re.fullmatch(r"[\d.,]*\d[\d.,]*", text):
        return None
    marks = [c for c in text if c in ".,"]
    if not marks:
        return text
    if len(marks) > 1:
        return _ungrouped(text, marks)
    mark = marks[0]
    whole, _, fraction = text.partition(mark)
    if not fraction:
        return None
    if len(fraction) == 3 and minor_units(currency) != 3 and whole and len(whole) <= 3 and not whole.startswith("0"):
        return whole + fraction if mark == "," else "ambiguous"
    return (whole or "0") + "." + fraction  # "12345,678" then has too many decimals, "0,500" is 0.50


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
    number = _export_number(cleaned, currency)
    if number is None:
        raise MoneyError(f"“{raw[:40]}” isn't an amount of money")
    if number == "ambiguous":
        raise MoneyError(f"“{raw[:40]}” could be a thousand-something or an amount with three decimals; "
                         "save the file with plain amounts like 1250.00")
    value = Decimal(number)
    if value > Decimal(1000000000):
        raise MoneyError("that amount is too large")
    cents = to_cents(value, currency)
    return -cents if negative else cents
