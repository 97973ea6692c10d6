"""Stripe's errors reach donors as plain words, one class of error at a time; the raw text is logged."""

from __future__ import annotations

import logging

import pytest
import stripe

from fundraiser.payments import stripe as adapter
from fundraiser.payments.stripe import PaymentError


def _body(message: str, code: str | None = None, type_: str = "invalid_request_error", **extra) -> dict:
    """Stripe's error body shape: {"error": {"type", "code", "message", "param", ...}}."""
    return {"error": {"type": type_, "message": message, **({"code": code} if code else {}), **extra}}


RAW = "Unexpected payment_settings"

CASES = [
    # (error Stripe raises, what the donor reads, retryable)
    (stripe.InvalidRequestError(RAW, "payment_settings", json_body=_body(RAW), http_status=400),
     adapter.NOT_STARTED, False),
    (stripe.InvalidRequestError("No such price: 'price_123'", "price", code="resource_missing",
                                json_body=_body("No such price: 'price_123'", "resource_missing"), http_status=400),
     adapter.NOT_STARTED, False),
    (stripe.InvalidRequestError("Amount must be at least $0.50 usd", "amount", code="amount_too_small",
                                json_body=_body("Amount must be at least $0.50 usd", "amount_too_small"), http_status=400),
     adapter.PLAIN_CODES["amount_too_small"], False),
    (stripe.CardError("Your card has insufficient funds.", None, "card_declined",
                      json_body=_body("Your card has insufficient funds.", "card_declined", "card_error",
                                      decline_code="insufficient_funds"), http_status=402),
     adapter.PLAIN_CODES["card_declined"], False),
    (stripe.CardError("Your card has expired.", "exp_month", "expired_card",
                      json_body=_body("Your card has expired.", "expired_card", "card_error"), http_status=402),
     adapter.PLAIN_CODES["expired_card"], False),
    (stripe.APIConnectionError("Connection refused (errno 111) while contacting api.stripe.com"),
     adapter.NETWORK_TROUBLE, True),
    (stripe.RateLimitError("Too many requests hit the API too quickly.", http_status=429,
                           json_body=_body("Too many requests hit the API too quickly.", "rate_limit")),
     adapter.NETWORK_TROUBLE, True),
    (stripe.AuthenticationError("Invalid API Key provided: sk_test_****abcd", http_status=401),
     adapter.MISCONFIGURED, False),
    (stripe.PermissionError("The provided key 'rk_test_****' does not have access to account", http_status=403),
     adapter.MISCONFIGURED, False),
    (stripe.IdempotencyError("Keys for idempotent requests can only be used with the same parameters",
                             http_status=400, json_body=_body("Keys for idempotent requests...", type_="idempotency_error")),
     adapter.NOT_STARTED, False),
    (stripe.APIError("An unknown error occurred", http_status=500), adapter.NETWORK_TROUBLE, True),
]


@pytest.mark.parametrize(("error", "message", "retryable"), CASES, ids=lambda c: type(c).__name__ if isinstance(c, Exception) else None)
def test_each_class_of_stripe_error_reads_plainly(caplog, error, message, retryable):
    def refused(**_params):
        raise error

    caplog.set_level(logging.INFO, logger="fundraiser.payments.stripe")
    with pytest.raises(PaymentError) as raised:
        adapter._call(refused, params={})
    assert raised.value.message == message and raised.value.retryable is retryable
    # Never Stripe's own wording in front of the donor; always in the log for staff.
    raw = str(error.user_message or error._message)
    assert "Stripe" not in raised.value.message
    if not isinstance(error, stripe.CardError):  # card messages are ours too, and may say the same
        assert raw not in raised.value.message
    assert any(raw in record.getMessage() or (error.code or "~") in record.getMessage() for record in caplog.records)
