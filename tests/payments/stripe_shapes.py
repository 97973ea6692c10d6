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


def event(type_: str, obj: dict, *, created: int | None = None, event_id: str | None = None) -> dict:
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created or int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


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


def charge(pi: dict, *, amount_refunded: int = 0) -> dict:
    return {
        "id": pi["latest_charge"], "object": "charge", "amount": pi["amount"], "amount_captured": pi["amount"],
        "amount_refunded": amount_refunded, "balance_transaction": new_id("txn"),
        "billing_details": {"email": pi.get("receipt_email"), "name": None}, "captured": True,
        "created": int(time.time()), "currency": pi["currency"], "metadata": {}, "paid": True,
        "payment_intent": pi["id"], "payment_method_details": {"type": "card"},
        "refunded": amount_refunded == pi["amount"], "status": "succeeded",
    }


def dispute(pi: dict, *, amount: int | None = None, status: str = "needs_response") -> dict:
    return {
        "id": new_id("dp"), "object": "dispute", "amount": amount or pi["amount"], "charge": pi["latest_charge"],
        "created": int(time.time()), "currency": pi["currency"], "is_charge_refundable": False,
        "livemode": False, "metadata": {}, "payment_intent": pi["id"], "reason": "fraudulent", "status": status,
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
            name: str = "Morgan Monthly", invoice_id: str | None = None) -> dict:
    """The current invoice shape: the subscription and its metadata live under parent.subscription_details."""
    now = int(time.time())
    return {
        "id": invoice_id or new_id("in"), "object": "invoice", "amount_due": amount, "amount_paid": amount,
        "amount_remaining": 0, "billing_reason": "subscription_cycle", "collection_method": "charge_automatically",
        "created": now, "currency": "usd", "customer": new_id("cus"), "customer_email": email,
        "customer_name": name, "livemode": False, "metadata": {},
        "parent": {"quote_details": None, "subscription_details": {"metadata": metadata, "subscription": subscription},
                   "type": "subscription_details"},
        "status": "paid", "status_transitions": {"paid_at": now}, "total": amount,
    }


def subscription(sub_id: str, *, status: str = "active", metadata: dict | None = None) -> dict:
    now = int(time.time())
    return {
        "id": sub_id, "object": "subscription", "customer": new_id("cus"), "status": status,
        "start_date": now, "canceled_at": now if status == "canceled" else None, "metadata": metadata or {},
        "items": {"object": "list", "data": [{"id": new_id("si"), "current_period_end": now + 30 * 86400}]},
    }


def body(evt: dict) -> bytes:
    return json.dumps(evt).encode()
