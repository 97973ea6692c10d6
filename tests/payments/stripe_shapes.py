"""Stripe objects and events in the shapes Stripe documents (API reference, current version), and
webhook signing exactly as Stripe signs: HMAC-SHA256 of "<timestamp>.<body>" in `t=...,v1=...`."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_test{next(_ids):08d}"


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


API_VERSION = "2026-10-28.endive"


def event(type_: str, obj: dict, *, created: int | None = None, event_id: str | None = None,
          livemode: bool = False, api_version: str = API_VERSION, account: str | None = None) -> dict:
    evt = {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": created or int(time.time()),
        "data": {"object": obj},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }
    if account:
        evt["account"] = account  # only Connect events name an account
    return evt


def payment_intent(amount: int, *, metadata: dict | None = None, currency: str = "usd", email: str | None = "donor@example.org",
                   pi_id: str | None = None, charge_id: str | None = None, description: str | None = None) -> dict:
    pi_id = pi_id or new_id("pi")
    return {
        "id": pi_id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
        "amount_received": amount, "capture_method": "automatic_async", "client_secret": f"{pi_id}_secret_x",
        "confirmation_method": "automatic", "created": int(time.time()), "currency": currency, "customer": None,
        "description": description, "latest_charge": charge_id or new_id("ch"), "livemode": False,
        "metadata": metadata or {}, "payment_method": new_id("pm"), "payment_method_types": ["card"],
        "receipt_email": email, "status": "succeeded",
    }


def payment_method_details(kind: str = "card", wallet: str | None = None) -> dict:
    """A charge's payment_method_details: a card (maybe in a wallet: apple_pay, google_pay, link) or a bank debit."""
    if kind == "card":
        return {"type": "card", "card": {"brand": "visa", "country": "US", "exp_month": 8, "exp_year": 2030,
                                         "funding": "credit", "last4": "4242", "network": "visa",
                                         "wallet": {"dynamic_last4": None, "type": wallet} if wallet else None}}
    if kind == "us_bank_account":
        return {"type": kind, kind: {"account_holder_type": "individual", "account_type": "checking",
                                    "bank_name": "STRIPE TEST BANK", "last4": "6789", "routing_number": "110000000"}}
    if kind == "sepa_debit":
        return {"type": kind, kind: {"bank_code": "37040044", "country": "DE", "last4": "3000"}}
    return {"type": kind, kind: {}}


def charge(pi: dict, *, amount_refunded: int = 0, kind: str = "card", wallet: str | None = None) -> dict:
    charge_id = pi["latest_charge"]["id"] if isinstance(pi["latest_charge"], dict) else pi["latest_charge"]
    return {
        "id": charge_id, "object": "charge", "amount": pi["amount"], "amount_captured": pi["amount"],
        "amount_refunded": amount_refunded, "balance_transaction": new_id("txn"),
        "billing_details": {"email": pi.get("receipt_email"), "name": None}, "captured": True,
        "created": int(time.time()), "currency": pi["currency"], "metadata": {}, "paid": True,
        "payment_intent": pi["id"], "payment_method_details": payment_method_details(kind, wallet),
        "refunded": amount_refunded == pi["amount"], "status": "succeeded",
    }


def with_charge(pi: dict, *, kind: str = "card", wallet: str | None = None) -> dict:
    """The PaymentIntent with `latest_charge` expanded, as a retrieve with expand[]=latest_charge answers."""
    return {**pi, "latest_charge": charge(pi, kind=kind, wallet=wallet)}


def failed_payment_intent(amount: int, *, metadata: dict, code: str = "card_declined",
                          decline_code: str | None = "insufficient_funds", error_type: str = "card_error",
                          payment_method_type: str = "card") -> dict:
    """A PaymentIntent after a failed attempt: back to requires_payment_method with last_payment_error
    (with `payment_method_type`, in the payload since API version 2026-09-30.endive)."""
    pi = payment_intent(amount, metadata=metadata)
    return {**pi, "amount_received": 0, "latest_charge": None, "status": "requires_payment_method",
            "last_payment_error": {"type": error_type, "code": code, "decline_code": decline_code,
                                   "message": "Your card has insufficient funds.", "doc_url": None,
                                   "payment_method_type": payment_method_type}}


def failed_bank_debit(amount: int, *, metadata: dict) -> dict:
    """An ACH debit that failed days after it was processing (the account had too little): final."""
    return failed_payment_intent(amount, metadata=metadata, code="insufficient_funds", decline_code=None,
                                 error_type="invalid_request_error", payment_method_type="us_bank_account")


def refund(pi: dict, amount: int, *, status: str = "succeeded", failure_reason: str | None = None,
           refund_id: str | None = None) -> dict:
    """A Refund (current API): a failed one has failure_reason and failure_balance_transaction."""
    charge_id = pi["latest_charge"]["id"] if isinstance(pi["latest_charge"], dict) else pi["latest_charge"]
    obj = {
        "id": refund_id or new_id("re"), "object": "refund", "amount": amount, "balance_transaction": new_id("txn"),
        "charge": charge_id, "created": int(time.time()), "currency": pi["currency"],
        "destination_details": {"card": {"type": "refund"}, "type": "card"}, "metadata": {},
        "payment_intent": pi["id"], "reason": "requested_by_customer", "receipt_number": None,
        "source_transfer_reversal": None, "status": status, "transfer_reversal": None,
    }
    if status == "failed":
        obj["failure_reason"] = failure_reason or "expired_or_canceled_card"
        obj["failure_balance_transaction"] = new_id("txn")
    return obj


def invoice_payment(inv: dict, *, pi_id: str | None = None, charge_id: str | None = None, status: str = "paid") -> dict:
    """An InvoicePayment: how, since basil, an invoice is tied to the PaymentIntent (or charge) that paid it."""
    now = int(time.time())
    payment = {"type": "payment_intent", "payment_intent": pi_id} if pi_id else {"type": "charge", "charge": charge_id}
    return {
        "id": new_id("inpay"), "object": "invoice_payment", "amount_paid": inv["amount_paid"] if status == "paid" else None,
        "amount_requested": inv["amount_due"], "created": now, "currency": inv["currency"], "invoice": inv["id"],
        "is_default": True, "livemode": False, "payment": payment, "status": status,
        "status_transitions": {"canceled_at": None, "paid_at": now if status == "paid" else None},
    }


def checkout_session(amount: int, *, metadata: dict, mode: str = "payment", payment_status: str = "paid",
                     pi_id: str | None = None, subscription: str | None = None, email: str = "donor@example.org",
                     name: str = "Dana Donor") -> dict:
    return {
        "id": new_id("cs"), "object": "checkout.session", "amount_subtotal": amount, "amount_total": amount,
        "client_reference_id": metadata.get("donation_attempt"), "created": int(time.time()), "currency": "usd",
        "customer": new_id("cus") if mode == "subscription" else None,
        "customer_details": {"email": email, "name": name}, "customer_email": email, "livemode": False,
        "metadata": metadata, "mode": mode, "payment_intent": pi_id if mode == "payment" else None,
        "payment_method_types": ["card"], "payment_status": payment_status, "status": "complete",
        "submit_type": "donate" if mode == "payment" else None, "subscription": subscription,
        "url": None,
    }


def invoice(amount: int, *, subscription: str, metadata: dict, email: str = "monthly@example.org",
            name: str = "Morgan Monthly", invoice_id: str | None = None, paid: bool = True,
            billing_reason: str = "subscription_cycle") -> dict:
    """The current invoice shape: the subscription and its metadata live under parent.subscription_details,
    and it names no payment_intent or charge (InvoicePayments do)."""
    now = int(time.time())
    invoice_id = invoice_id or new_id("in")
    return {
        "id": invoice_id, "object": "invoice", "amount_due": amount, "amount_paid": amount if paid else 0,
        "amount_remaining": 0 if paid else amount, "attempt_count": 1, "attempted": True,
        "billing_reason": billing_reason, "collection_method": "charge_automatically",
        "created": now, "currency": "usd", "customer": new_id("cus"), "customer_email": email,
        "customer_name": name, "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}", "livemode": False,
        "metadata": {}, "next_payment_attempt": None if paid else now + 3 * 86400,
        "parent": {"quote_details": None, "subscription_details": {"metadata": metadata, "subscription": subscription},
                   "type": "subscription_details"},
        "status": "paid" if paid else "open", "status_transitions": {"paid_at": now if paid else None}, "total": amount,
    }


def subscription(sub_id: str, *, status: str = "active", metadata: dict | None = None, unit_amount: int = 1500,
                 quantity: int = 1) -> dict:
    """Current shape: the billing period lives on the item, with its price and quantity."""
    now = int(time.time())
    return {
        "id": sub_id, "object": "subscription", "customer": new_id("cus"), "status": status,
        "start_date": now, "canceled_at": now if status == "canceled" else None, "metadata": metadata or {},
        "trial_end": now + 14 * 86400 if status == "trialing" else None,
        "items": {"object": "list", "data": [{
            "id": new_id("si"), "object": "subscription_item", "current_period_start": now,
            "current_period_end": now + 30 * 86400, "quantity": quantity,
            "price": {"id": new_id("price"), "object": "price", "currency": "usd", "unit_amount": unit_amount,
                      "recurring": {"interval": "month", "interval_count": 1}, "type": "recurring"},
        }]},
    }


def body(evt: dict) -> bytes:
    return json.dumps(evt).encode()


# --- disputes, balance and payouts (H2): shapes of Stripe's dispute, balance_transaction,
# refund and payout objects (API reference).


def balance_transaction(amount: int, *, fee: int = 0, currency: str = "usd", type_: str = "charge",
                        reporting_category: str | None = None, source: str | None = None, description: str | None = None,
                        exchange_rate: float | None = None, txn_id: str | None = None, fee_description: str = "Stripe processing fees") -> dict:
    now = int(time.time())
    return {
        "id": txn_id or new_id("txn"), "object": "balance_transaction", "amount": amount, "available_on": now,
        "balance_type": "payments", "created": now, "currency": currency, "description": description,
        "exchange_rate": exchange_rate, "fee": fee,
        "fee_details": [{"amount": fee, "application": None, "currency": currency, "description": fee_description,
                         "type": "stripe_fee"}] if fee else [],
        "net": amount - fee, "reporting_category": reporting_category or type_, "source": source,
        "status": "available", "type": type_,
    }


def dispute(pi: dict, *, amount: int | None = None, status: str = "needs_response",
            balance_transactions: list[dict] | None = None, dispute_id: str | None = None) -> dict:
    """A Dispute; an inquiry (status warning_*) has the card case_type "inquiry" and no balance transactions."""
    inquiry = status.startswith("warning_")
    return {
        "id": dispute_id or new_id("dp"), "object": "dispute", "amount": amount or pi["amount"],
        "balance_transactions": balance_transactions or [], "charge": pi["latest_charge"], "created": int(time.time()),
        "currency": pi["currency"], "enhanced_eligibility_types": [],
        "evidence_details": {"due_by": int(time.time()) + 14 * 86400, "enhanced_eligibility": {}, "has_evidence": False,
                             "past_due": False, "submission_count": 0},
        "is_charge_refundable": inquiry, "livemode": False, "metadata": {}, "payment_intent": pi["id"],
        "payment_method_details": {"card": {"brand": "visa", "case_type": "inquiry" if inquiry else "chargeback",
                                            "network_reason_code": "10.4"}, "type": "card"},
        "reason": "fraudulent", "status": status,
    }


def dispute_withdrawal(dp: dict, *, fee: int = 1500) -> dict:
    """The balance transaction a dispute takes the money with (and its dispute fee)."""
    return balance_transaction(
        -dp["amount"], fee=fee, currency=dp["currency"], type_="adjustment", reporting_category="dispute",
        source=dp["id"], description=f"Chargeback withdrawal for {dp['charge']}", fee_description="Dispute fee",
    )


def dispute_reinstatement(dp: dict, *, fee: int = 0) -> dict:
    return balance_transaction(
        dp["amount"], fee=fee, currency=dp["currency"], type_="adjustment", reporting_category="dispute_reversal",
        source=dp["id"], description=f"Chargeback reversal for {dp['charge']}", fee_description="Dispute fee",
    )


def payout(amount: int, *, status: str = "paid", reconciliation_status: str = "completed", currency: str = "usd",
           payout_id: str | None = None, arrival_date: int | None = None, automatic: bool = True) -> dict:
    now = int(time.time())
    return {
        "id": payout_id or new_id("po"), "object": "payout", "amount": amount, "application_fee": None,
        "application_fee_amount": None, "arrival_date": arrival_date or now, "automatic": automatic,
        "balance_transaction": new_id("txn"), "created": now, "currency": currency, "description": "STRIPE PAYOUT",
        "destination": new_id("ba"), "failure_balance_transaction": None, "failure_code": None,
        "failure_message": None, "livemode": False, "metadata": {}, "method": "standard", "original_payout": None,
        "payout_method": None, "reconciliation_status": reconciliation_status, "reversed_by": None,
        "source_type": "card", "statement_descriptor": None, "status": status,
        "trace_id": {"status": "supported", "value": None}, "type": "bank_account",
    }
