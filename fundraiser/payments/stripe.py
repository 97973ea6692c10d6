"""The only module that talks to Stripe. It speaks our language: small dataclasses in, small
dataclasses out, and `PaymentError` with a message a donor can read. Amounts stay integer cents."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import stripe

from ..settings import current_settings

log = logging.getLogger(__name__)

NETWORK_TROUBLE = (
    "We couldn't reach our payment processor, so nothing was charged. Please try again in a minute."
)


class PaymentError(Exception):
    """Stripe refused or could not be reached; `message` is safe to show the donor."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class SignatureError(ValueError):
    """A webhook whose Stripe-Signature is missing, malformed, wrong or too old."""


@dataclass(frozen=True)
class IntentResult:
    id: str
    client_secret: str


@dataclass(frozen=True)
class SubscriptionResult:
    subscription_id: str
    customer_id: str
    client_secret: str


@dataclass(frozen=True)
class CheckoutResult:
    id: str
    url: str


@dataclass(frozen=True)
class Fee:
    fee_cents: int
    net_cents: int
    # The settlement currency both are in (not necessarily the charge's), and Stripe's rate.
    currency: str | None = None
    exchange_rate: str | None = None
    balance_transaction_id: str | None = None


def _client() -> stripe.StripeClient:
    settings = current_settings()
    if not settings.stripe_enabled:
        raise PaymentError("Online giving is not set up yet.")
    base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
    # Two retries ride out a brief network blip; each create carries our idempotency key, so a
    # retried request can never charge twice.
    return stripe.StripeClient(settings.stripe_secret_key, base_addresses=base, max_network_retries=2)


def _call(fn, *args, **kwargs) -> Any:
    """Run one SDK call, translating Stripe's errors into PaymentError."""
    try:
        return fn(*args, **kwargs)
    except stripe.CardError as exc:
        raise PaymentError(exc.user_message or "Your card was declined.") from exc
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise PaymentError(NETWORK_TROUBLE, retryable=True) from exc
    except stripe.AuthenticationError as exc:
        log.error("Stripe rejected our API key: %s", exc)
        raise PaymentError("Online giving is misconfigured; please let us know. Nothing was charged.") from exc
    except stripe.InvalidRequestError as exc:
        log.error("Stripe refused a request: %s", exc)
        raise PaymentError(
            f"The payment could not be started: {exc.user_message or 'the payment processor refused it'}."
        ) from exc
    except stripe.StripeError as exc:
        log.error("Stripe error: %s", exc)
        raise PaymentError(NETWORK_TROUBLE, retryable=True) from exc


def _plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def create_payment_intent(
    *, amount_cents: int, currency: str, metadata: dict[str, str], idempotency_key: str,
) -> IntentResult:
    """A one-time gift to be confirmed in the browser by Stripe.js (Payment Element).

    No `receipt_email`: the app sends the tax receipt itself, and a second, non-tax receipt from
    Stripe would confuse donors. Payment methods follow the account's dashboard settings (the API
    default since 2023-08-16), so card and bank both appear where enabled.
    """
    intent = _call(
        _client().v1.payment_intents.create,
        params={
            "amount": amount_cents,
            "currency": currency.lower(),
            "metadata": metadata,
        },
        options={"idempotency_key": idempotency_key},
    )
    return IntentResult(id=intent.id, client_secret=intent.client_secret)


def ensure_product(*, name: str, idempotency_key: str) -> str:
    """The Product a campaign's monthly prices hang on (created once, keyed by campaign)."""
    product = _call(
        _client().v1.products.create, params={"name": name}, options={"idempotency_key": idempotency_key}
    )
    return product.id


def create_monthly_subscription(
    *, email: str, name: str, amount_cents: int, currency: str, product_id: str, metadata: dict[str, str],
    idempotency_key: str,
) -> SubscriptionResult:
    """A Customer and a Subscription with an inline monthly price, its first invoice to be paid on the page."""
    client = _client()
    customer = _call(
        client.v1.customers.create,
        params={"email": email, "name": name, "metadata": metadata},
        options={"idempotency_key": f"{idempotency_key}:customer"},
    )
    subscription = _call(
        client.v1.subscriptions.create,
        params={
            "customer": customer.id,
            "items": [{
                "price_data": {
                    "currency": currency.lower(),
                    "product": product_id,
                    "unit_amount": amount_cents,
                    "recurring": {"interval": "month"},
                },
            }],
            "payment_behavior": "default_incomplete",
            "payment_settings": {"save_default_payment_method": "on_subscription"},
            "metadata": metadata,
            "expand": ["latest_invoice.confirmation_secret"],
        },
        options={"idempotency_key": f"{idempotency_key}:subscription"},
    )
    invoice = _plain(subscription)["latest_invoice"]
    secret = (invoice.get("confirmation_secret") or {}).get("client_secret")
    if not secret:
        raise PaymentError("The payment could not be started: the processor sent no payment to confirm.")
    return SubscriptionResult(subscription_id=subscription.id, customer_id=customer.id, client_secret=secret)


def create_checkout_session(
    *, monthly: bool, amount_cents: int, currency: str, product_name: str, metadata: dict[str, str],
    customer_email: str, client_reference_id: str, success_url: str, cancel_url: str, idempotency_key: str,
) -> CheckoutResult:
    """Stripe Checkout: the no-JavaScript path (one-time: a donate payment; monthly: a subscription)."""
    price_data: dict[str, Any] = {
        "currency": currency.lower(),
        "unit_amount": amount_cents,
        "product_data": {"name": product_name},
    }
    params: dict[str, Any] = {
        "line_items": [{"price_data": price_data, "quantity": 1}],
        "metadata": metadata,
        "customer_email": customer_email,
        "client_reference_id": client_reference_id,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if monthly:
        price_data["recurring"] = {"interval": "month"}
        params["mode"] = "subscription"
        params["subscription_data"] = {"metadata": metadata}
    else:
        params["mode"] = "payment"
        params["submit_type"] = "donate"
        params["payment_intent_data"] = {"metadata": metadata}
    session = _call(
        _client().v1.checkout.sessions.create, params=params, options={"idempotency_key": idempotency_key}
    )
    return CheckoutResult(id=session.id, url=session.url)


def create_portal_link(*, customer_id: str, return_url: str) -> str:
    """A billing-portal link where a monthly donor updates their card or cancels."""
    portal = _call(
        _client().v1.billing_portal.sessions.create, params={"customer": customer_id, "return_url": return_url}
    )
    return portal.url


def fetch_fee(*, charge_id: str) -> Fee | None:
    """The processing fee of a charge, from its balance transaction; None if Stripe has none yet."""
    charge = _plain(_call(_client().v1.charges.retrieve, charge_id, params={"expand": ["balance_transaction"]}))
    txn = charge.get("balance_transaction")
    if isinstance(txn, str):
        txn = _plain(_call(_client().v1.balance_transactions.retrieve, txn))
    if not txn:
        return None
    line = balance_line(txn)
    return Fee(fee_cents=line.fee_cents, net_cents=line.net_cents, currency=line.currency,
               exchange_rate=line.exchange_rate, balance_transaction_id=line.id)


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def verify_event(payload: bytes, signature_header: str | None, secret: str) -> dict[str, Any]:
    """Check the Stripe-Signature header (Stripe's scheme, default 5-minute tolerance); return the event."""
    if not signature_header:
        raise SignatureError("missing Stripe-Signature header")
    try:
        payload.decode("utf-8")  # the SDK decodes it and would raise on bytes Stripe never sends
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8 text") from None
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature_header, secret, tolerance=stripe.Webhook.DEFAULT_TOLERANCE
        )
    except stripe.SignatureVerificationError as exc:
        raise SignatureError(str(exc)) from None
    try:
        # Strict JSON: NaN and Infinity are not JSON, and PostgreSQL's json type refuses them.
        event = json.loads(payload, parse_constant=_not_json)
    except ValueError:
        raise SignatureError("signed body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise SignatureError("signed body is not a Stripe event")
    return event


# --- disputes, balance and payouts (H2)


@dataclass(frozen=True)
class BalanceLine:
    """One Stripe balance transaction in our words: gross - fee = net, in the settlement currency.

    `source_*` say what moved the money (a charge, a refund, a dispute...) and, when Stripe sent
    the source expanded, the charge and payment behind it, which is how we find the gift.
    """

    id: str
    type: str
    reporting_category: str
    gross_cents: int
    fee_cents: int
    net_cents: int
    currency: str
    exchange_rate: str | None
    created_at: datetime
    description: str
    source_id: str | None
    source_object: str | None = None
    charge_id: str | None = None
    payment_intent_id: str | None = None


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def _rate(value: Any) -> str | None:
    """Stripe's exchange rate as decimal text (kept for people to read; never used as money)."""
    if value is None:
        return None
    try:
        return str(Decimal(repr(value) if isinstance(value, float) else str(value)))
    except InvalidOperation:
        return None


def balance_line(txn: dict[str, Any]) -> BalanceLine:
    """Read a balance transaction (from the API or inside a dispute) into a BalanceLine."""
    source = txn.get("source")
    source_object = charge_id = intent_id = None
    if isinstance(source, dict):
        source_object = source.get("object")
        if source_object == "charge":
            charge_id, intent_id = source.get("id"), _ref(source.get("payment_intent"))
        else:  # a refund or a dispute points at its charge
            charge_id, intent_id = _ref(source.get("charge")), _ref(source.get("payment_intent"))
    elif isinstance(source, str) and source.startswith(("ch_", "py_")):
        charge_id = source
    amount, fee = int(txn.get("amount") or 0), int(txn.get("fee") or 0)
    return BalanceLine(
        id=str(txn["id"]), type=str(txn.get("type") or ""), reporting_category=str(txn.get("reporting_category") or ""),
        gross_cents=amount, fee_cents=fee, net_cents=int(txn["net"]) if txn.get("net") is not None else amount - fee,
        currency=str(txn.get("currency") or "").upper(), exchange_rate=_rate(txn.get("exchange_rate")),
        created_at=datetime.fromtimestamp(int(txn.get("created") or 0), UTC),
        description=str(txn.get("description") or ""), source_id=_ref(source), source_object=source_object,
        charge_id=charge_id, payment_intent_id=intent_id,
    )


PAGE_SIZE = 100


def list_payout_lines(payout_id: str) -> list[BalanceLine]:
    """Every balance transaction an automatic payout paid out (the payout's own one included),
    sources expanded; Stripe answers a hundred a page, so this follows the pages to the end."""
    client = _client()
    lines: list[BalanceLine] = []
    params: dict[str, Any] = {"payout": payout_id, "expand": ["data.source"], "limit": PAGE_SIZE}
    while True:
        try:
            page = _plain(_call(client.v1.balance_transactions.list, params=params))
        except PaymentError as exc:  # said for staff, not for a donor
            cause = getattr(exc.__cause__, "user_message", None) if not exc.retryable else None
            raise PaymentError(
                f"Stripe did not list this payout's transactions: {cause or 'Stripe could not be reached'}.",
                retryable=exc.retryable,
            ) from exc
        data = page.get("data") or []
        lines.extend(balance_line(txn) for txn in data)
        if not page.get("has_more") or not data:
            return lines
        params = {**params, "starting_after": data[-1]["id"]}
