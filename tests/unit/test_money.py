from decimal import Decimal

import pytest

from fundraiser.money import (
    TESTED_CURRENCIES,
    MoneyError,
    check_campaign_currency,
    format_input,
    format_money,
    from_cents,
    minor_units,
    parse_amount,
)


@pytest.mark.parametrize(
    ("text", "cents"),
    [("25", 2500), ("25.5", 2550), ("$1,250.75", 125075), (" 10.00 ", 1000), ("0.01", 1), ("5 USD", 500)],
)
def test_parse_amount_reads_what_people_type(text, cents):
    assert parse_amount(text, "USD") == cents


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Please enter an amount."),
        ("abc", "isn't an amount of money"),
        ("-5", "more than zero"),
        ("0", "more than zero"),
        ("1.234", "could be 1234 or 1.234"),
        ("10.555", "could be 10555 or 10.555"),
        ("0.001", "more than 2 decimal places"),  # "0" can't start a thousands group: three decimals
        ("1,2,3.5", "isn't an amount of money"),
        ("12.50.1", "isn't an amount of money"),
        ("1e5", "isn't an amount of money"),
        ("99999999999", "too large"),
    ],
)
def test_parse_amount_refuses_with_a_readable_message(text, message):
    with pytest.raises(MoneyError, match=message):
        parse_amount(text, "USD")


def test_zero_decimal_currency_has_no_minor_units():
    assert parse_amount("1500", "JPY") == 1500
    with pytest.raises(MoneyError, match="whole numbers"):
        parse_amount("1500.5", "JPY")
    assert format_money(1500, "JPY") == "¥1,500"
    assert from_cents(1500, "JPY") == Decimal(1500)


def test_format_money_for_people():
    assert format_money(1234000, "USD") == "$12,340.00"
    assert format_money(1234000, "USD", whole=True) == "$12,340"
    assert format_money(1234050, "USD", whole=True) == "$12,340.50"
    assert format_input(2500, "USD") == "25.00"


@pytest.mark.parametrize(
    ("text", "currency", "cents"),
    [
        ("25,50", "EUR", 2550),  # a decimal comma: 25.50, never 2,550
        ("25,5", "EUR", 2550),
        ("1.000,50", "EUR", 100050),
        ("1 000,50 €", "EUR", 100050),
        ("1.234.567,89", "EUR", 123456789),
        ("$1,000.00", "USD", 100000),
        ("1,000", "USD", 100000),  # in dollars a comma before three digits groups thousands
        ("1,000,000", "USD", 100000000),
        ("25,50", "USD", 2550),  # the comma can only be a decimal mark here
        ("£12.5", "GBP", 1250),
        ("1,500", "JPY", 1500),
        ("¥3000", "JPY", 3000),
        ("C$40", "CAD", 4000),
        ("A$40.10", "AUD", 4010),
    ],
)
def test_decimal_comma_and_grouping_are_read_as_people_mean_them(text, currency, cents):
    assert parse_amount(text, currency) == cents


@pytest.mark.parametrize(("text", "currency"), [("1,000", "EUR"), ("1.000", "EUR"), ("1.000", "USD"), ("2.500", "GBP")])
def test_a_lone_separator_before_three_digits_is_asked_about_not_guessed(text, currency):
    with pytest.raises(MoneyError, match=r"could be \d+ or [\d.,]+\. Please type it without a thousands separator"):
        parse_amount(text, currency)


def test_a_trailing_decimal_mark_is_the_whole_amount():
    assert parse_amount("25.", "USD") == 2500
    assert parse_amount("25,", "EUR") == 2500


def test_stripe_minor_units_follow_stripe_not_iso():
    # Zero-decimal: the amount is in whole units.
    assert (minor_units("JPY"), minor_units("KRW")) == (0, 0)
    assert parse_amount("5000", "KRW") == 5000
    # Three-decimal: three digits, and Stripe wants the last one to be 0.
    assert minor_units("KWD") == 3
    assert parse_amount("1.5", "KWD") == 1500
    assert parse_amount("12.35", "BHD") == 12350
    with pytest.raises(MoneyError, match="more than 2 decimal places"):
        parse_amount("1.005", "KWD")
    assert from_cents(12350, "JOD") == Decimal("12.35")
    # ISK and UGX: zero-decimal in practice, two-decimal in Stripe's API ("00" at the end).
    assert (minor_units("ISK"), minor_units("UGX")) == (2, 2)
    assert parse_amount("5", "ISK") == 500 and parse_amount("3000", "UGX") == 300000
    with pytest.raises(MoneyError, match="ISK amounts must be whole numbers"):
        parse_amount("5.50", "ISK")
    assert format_money(500, "ISK") == "ISK5" and format_input(500, "ISK") == "5"  # 5 krónur, not 500
    # HUF and TWD charge in two decimals (only payouts are whole).
    assert (minor_units("HUF"), minor_units("TWD")) == (2, 2)
    assert parse_amount("1500,50", "HUF") == 150050


def test_campaigns_take_only_the_currencies_we_have_tested():
    assert TESTED_CURRENCIES == ("USD", "EUR", "GBP", "CAD", "AUD", "JPY")
    assert check_campaign_currency(" eur ") == "EUR"
    with pytest.raises(MoneyError, match="Campaigns can take gifts in USD, EUR, GBP, CAD, AUD, JPY"):
        check_campaign_currency("KWD")
    assert check_campaign_currency("CHF", keep="CHF") == "CHF"  # a campaign keeps the one it has


@pytest.mark.parametrize("currency", TESTED_CURRENCIES)
def test_every_tested_currency_round_trips_through_the_form(currency):
    cents = parse_amount("1234", currency)
    assert parse_amount(format_input(cents, currency), currency) == cents
    assert from_cents(cents, currency) == Decimal(1234)


@pytest.mark.parametrize("locale", ["en_US", "en_GB", "fr_FR", "de_CH", "ja_JP", "es_MX", "ar_EG", "nl_NL"])
@pytest.mark.parametrize("currency", ["USD", "EUR", "GBP", "CAD", "AUD", "JPY", "ISK", "KWD"])
def test_format_money_writes_what_babel_writes(locale, currency):
    """format_money keeps Babel's pattern and symbol per currency and locale instead of looking
    them up for every figure; the text must stay Babel's to the letter."""
    from babel.numbers import format_currency

    from fundraiser.money import from_cents

    for cents in (0, 1, 99, 1000, 123456, -250075, 99999999999, -100):
        amount = from_cents(cents, currency)
        assert format_money(cents, currency, locale) == format_currency(amount, currency, locale=locale)
        whole = (format_currency(amount, currency, locale=locale, format="¤#,##0", currency_digits=False)
                 if amount == amount.to_integral_value() else format_currency(amount, currency, locale=locale))
        assert format_money(cents, currency, locale, whole=True) == whole
