from decimal import Decimal

import pytest

from fundraiser.money import MoneyError, format_input, format_money, from_cents, parse_amount


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
        ("1.234", "more than 2 decimal places"),
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
