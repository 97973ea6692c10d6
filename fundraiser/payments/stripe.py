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

# The Stripe API version this code is written for (stripe-python 16.x's own). Every request sends
# it, and the webhook endpoint must be created with it too (docs/deploy.md): events rendered in
# another version have other shapes, and doctor reports them.
API_VERSION = "2026-10-28.endive"

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
    return stripe.StripeClient(
        settings.stripe_secret_key, stripe_version=API_VERSION, base_addresses=base, max_network_retries=2
    )


MISCONFIGURED = "Online giving is misconfigured on our side; please let us know. Nothing was charged."
NOT_STARTED = (
    "We couldn't start this payment because of a problem on our side, so nothing was charged. "
    "Please try again, or let us know if it keeps happening."
)
# Stripe's error codes a donor can act on, in plain words (docs.stripe.com/error-codes).
PLAIN_CODES = {
    "amount_too_small": "That amount is below the smallest card payment we can take. Please give a little more.",
    "amount_too_large": "That amount is above the largest card payment we can take. Please give a smaller amount, "
                        "or contact us to give by check or bank transfer.",
    "card_declined": "Your card was declined. Nothing was charged; please try another card.",
    "expired_card": "Your card has expired. Nothing was charged; please try another card.",
    "incorrect_cvc": "The card's security code is incorrect. Nothing was charged.",
    "processing_error": "Your card couldn't be processed just now. Nothing was charged; please try again.",
    "email_invalid": "Please check your email address; the payment processor couldn't accept it.",
}


def _call(fn, *args, **kwargs) -> Any:
    """Run one SDK call, translating Stripe's errors into PaymentError.

    Donors see plain words only; Stripe's own text (e.g. "Unexpected payment_settings" or
    "No such price") goes to the log for staff, with its request id.
    """
    try:
        return fn(*args, **kwargs)
    except stripe.CardError as exc:
        log.info("Card refused: code=%s decline=%s request=%s", exc.code, getattr(exc, "decline_code", None), exc.request_id)
        raise PaymentError(PLAIN_CODES.get(exc.code or "", PLAIN_CODES["card_declined"])) from exc
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        log.warning("Stripe unreachable or busy: %s", exc)
        raise PaymentError(NETWORK_TROUBLE, retryable=True) from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        log.error("Stripe rejected our API key: %s", exc)
        raise PaymentError(MISCONFIGURED) from exc
    except stripe.IdempotencyError as exc:
        log.error("Stripe idempotency clash (same key, different request): %s", exc)
        raise PaymentError(NOT_STARTED) from exc
    except stripe.InvalidRequestError as exc:
        log.error("Stripe refused a request: %s (code=%s param=%s request=%s)", exc.user_message or exc,
                  exc.code, exc.param, exc.request_id)
        raise PaymentError(PLAIN_CODES.get(exc.code or "", NOT_STARTED)) from exc
    except stripe.StripeError as exc:
        # APIError (Stripe's own 5xx) and anything newer: worth a retry, nothing was charged.
        log.error("Stripe error: %s", exc)
        raise PaymentError(NETWORK_TROUBLE, retryable=True) from exc


def _plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def create_payment_intent(
    *, amount_cents: int, currency: str, metadata: dict[str, str], idempotency_key: str,
    description: str = "", statement_descriptor_suffix: str = "",
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
            **_described(description, statement_descriptor_suffix),
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


def create_subscription(
    *, email: str, name: str, amount_cents: int, currency: str, product_id: str, metadata: dict[str, str],
    idempotency_key: str, recurring: dict[str, Any], description: str = "",
) -> SubscriptionResult:
    """A Customer and a Subscription with an inline recurring price (`recurring`: Stripe's interval
    and interval_count), its first invoice to be paid on the page."""
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
                    "recurring": recurring,
                },
            }],
            "payment_behavior": "default_incomplete",
            "payment_settings": {"save_default_payment_method": "on_subscription"},
            "metadata": metadata,
            **({"description": description} if description else {}),
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
    *, recurring: dict[str, Any] | None, amount_cents: int, currency: str, product_name: str, metadata: dict[str, str],
    customer_email: str, client_reference_id: str, success_url: str, cancel_url: str, idempotency_key: str,
    description: str = "", statement_descriptor_suffix: str = "",
) -> CheckoutResult:
    """Stripe Checkout: the no-JavaScript path (one-time: a donate payment; with `recurring`: a subscription)."""
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
    if recurring:
        price_data["recurring"] = recurring
        params["mode"] = "subscription"
        params["subscription_data"] = {"metadata": metadata, **({"description": description} if description else {})}
    else:
        params["mode"] = "payment"
        params["submit_type"] = "donate"
        params["payment_intent_data"] = {"metadata": metadata, **_described(description, statement_descriptor_suffix)}
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


# --- events and instalments (H1)


def keys_livemode(secret_key: str) -> bool | None:
    """Whether the configured keys are live (sk_live_/rk_live_) or test ones; None without a key."""
    if not secret_key:
        return None
    return "_live_" in secret_key


@dataclass(frozen=True)
class InvoicePaymentRef:
    """One payment of an invoice (an InvoicePayment), in our terms."""

    invoice_id: str
    payment_intent_id: str | None
    charge_id: str | None
    amount_paid_cents: int
    status: str


@dataclass(frozen=True)
class ChargeDetail:
    """The charge that paid a PaymentIntent and how it was paid ("card", "card:apple_pay", ...)."""

    charge_id: str
    method_detail: str | None


def _invoice_payment_ref(obj: dict[str, Any]) -> InvoicePaymentRef:
    payment = obj.get("payment") or {}
    return InvoicePaymentRef(
        invoice_id=_ref(obj.get("invoice")) or "",
        payment_intent_id=_ref(payment.get("payment_intent")),
        charge_id=_ref(payment.get("charge")),
        amount_paid_cents=int(obj.get("amount_paid") or 0),
        status=str(obj.get("status") or ""),
    )


def invoice_payment_from_event(obj: dict[str, Any]) -> InvoicePaymentRef:
    """The InvoicePayment of an `invoice_payment.paid` event."""
    return _invoice_payment_ref(obj)
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


def list_invoice_payments(*, invoice_id: str | None = None, payment_intent_id: str | None = None) -> list[InvoicePaymentRef]:
    """The paid payments of an invoice, or the invoice payment a PaymentIntent belongs to.

    Since 2025-03-31.basil an Invoice no longer names its PaymentIntent, nor a PaymentIntent its
    invoice: InvoicePayments link them.
    """
    params: dict[str, Any] = {"limit": 10}
    if invoice_id:
        params["invoice"] = invoice_id
        params["status"] = "paid"
    if payment_intent_id:
        # Any status: at payment_intent.succeeded its InvoicePayment may not say "paid" yet.
        params["payment"] = {"type": "payment_intent", "payment_intent": payment_intent_id}
    page = _call(_client().v1.invoice_payments.list, params=params)
    return [_invoice_payment_ref(_plain(item)) for item in _plain(page).get("data") or []]


def method_detail(payment_method_details: Any) -> str | None:
    """"card", "card:apple_pay", "link", "us_bank_account", "sepa_debit"... from a charge's details."""
    if not isinstance(payment_method_details, dict) or not payment_method_details.get("type"):
        return None
    kind = str(payment_method_details["type"])
    wallet = ((payment_method_details.get(kind) or {}).get("wallet") or {}).get("type") if kind == "card" else None
    return f"{kind}:{wallet}"[:60] if wallet else kind[:60]


def payment_charge(payment_intent_id: str) -> ChargeDetail | None:
    """The PaymentIntent's latest charge (expanded) and how it was paid; None if it has none yet."""
    intent = _plain(_call(
        _client().v1.payment_intents.retrieve, payment_intent_id, params={"expand": ["latest_charge"]}
    ))
    charge = intent.get("latest_charge")
    if isinstance(charge, str):
        charge = _plain(_call(_client().v1.charges.retrieve, charge))
    if not isinstance(charge, dict) or not charge.get("id"):
        return None
    return ChargeDetail(charge_id=charge["id"], method_detail=method_detail(charge.get("payment_method_details")))
# --- donate path (H3)

def _described(description: str, suffix: str) -> dict[str, str]:
    """What a donor's bank statement and Stripe's dashboard show: who the gift went to."""
    params = {"description": description} if description else {}
    if suffix:
        params["statement_descriptor_suffix"] = suffix
    return params


# PaymentIntent states Stripe lets us cancel (succeeded and processing ones are on their way).
_CANCELLABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"})


def cancel_payment_intent(intent_id: str) -> bool:
    """Cancel a PaymentIntent the donor replaced; False when it can no longer be cancelled
    (already paid or being paid), True when it is cancelled now or was already."""
    client = _client()
    status = _call(client.v1.payment_intents.retrieve, intent_id).status
    if status == "canceled":
        return True
    if status not in _CANCELLABLE:
        return False
    _call(client.v1.payment_intents.cancel, intent_id)
    return True


def cancel_incomplete_subscription(*, subscription_id: str, customer_id: str | None) -> bool:
    """Drop a monthly gift the donor replaced before paying: cancel the subscription (Stripe voids
    its open first invoice) and delete the customer made for it. False when it is already active
    (the first payment went through), so the caller must not start a second one."""
    client = _client()
    status = _call(client.v1.subscriptions.retrieve, subscription_id).status
    if status in ("active", "trialing", "past_due"):
        return False
    if status not in ("canceled", "incomplete_expired"):
        _call(client.v1.subscriptions.cancel, subscription_id)
    if customer_id:
        _call(client.v1.customers.delete, customer_id)
    return True
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
