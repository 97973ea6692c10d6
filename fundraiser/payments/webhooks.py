"""Stripe webhooks: verify -> store the event once -> answer -> apply it to the ledger.

Stripe delivers at least once and in no particular order, and wants its answer fast. So a delivery
is only verified and stored (one INSERT that ignores a repeat, committed with whatever else the
process is storing at that moment: inbox.py) before the 2xx; a database error there means 5xx
and Stripe retries. Stored events are then applied one at a time, oldest first,
by `process_pending` (right after each delivery, in the background, and from cron): every gift,
refund and dispute has a unique source key; an adjustment that arrives before its payment waits
and is replayed when the payment lands; an event that fails to apply is retried with back-off,
never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .. import ledger, receipts
from ..db import new_session, utcnow
from ..donors import find_or_create_donor
from ..models import (
    AttemptStatus,
    Campaign,
    DedicationKind,
    DonationAttempt,
    EntryKind,
    Gift,
    GiftChannel,
    GiftMethod,
    LedgerEntry,
    PlanStatus,
    RecurringPlan,
    StripeEvent,
)
from ..recurring import apply_subscription_status, plan_for_subscription
from ..settings import current_settings
from .inbox import Inbox, inbox
from .stripe import SignatureError, verify_event

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
BANK_METHODS = {"us_bank_account", "ach_debit", "ach_credit_transfer", "sepa_debit", "bacs_debit", "acss_debit"}


class WaitFor(Exception):
    """The event adjusts a payment we have not seen yet; it waits for `key` (a pi_ or ch_ id)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass
class Outcome:
    """What processing an event did, for the log and for what happens after the commit."""

    text: str
    new_gifts: list[Gift] = field(default_factory=list)


MAX_ATTEMPTS_BACKOFF = timedelta(hours=1)
# While deliveries flood in, the applier waits up to this long for the flood to pass before each event.
FLOOD_PAUSE = timedelta(seconds=2)
# A long backlog is applied in rounds of this many events; receipts go out after each round.
FOLLOW_UP_EVERY = 200
# Serialises event processing across processes on PostgreSQL (SQLite: BEGIN IMMEDIATE does it).
PROCESSING_LOCK = 0x5712_1BE


def verified(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """Check one delivery's signature and shape; returns the row to store. Touches no database,
    so the write lock (SQLite) is held only for the INSERT itself."""
    event = verify_event(payload, signature, secret)
    event_id = event.get("id")
    if not isinstance(event_id, str) or not isinstance(event.get("type"), str) or len(event_id) > 255:
        raise SignatureError("signed body is not a Stripe event")
    obj = event["data"].get("object")
    object_id = obj.get("id") if isinstance(obj, dict) else None
    now = utcnow()
    return {
        "id": event_id, "type": event["type"][:100],
        "object_id": object_id if isinstance(object_id, str) else None,
        "stripe_created_at": datetime.fromtimestamp(_int(event.get("created")), UTC),
        "livemode": bool(event.get("livemode")), "payload": event, "outcome": "",
        "received_at": now, "attempts": 0, "next_attempt_at": now,
    }


def _int(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class ProcessReport:
    processed: int
    postponed: int
    new_gift_ids: tuple[int, ...]


def process_pending(*, limit: int = 1000, yield_to: Inbox | None = None) -> ProcessReport:
    """Apply stored events that are due, oldest first, one transaction each.

    Only one processor works at a time (PostgreSQL advisory lock, SQLite's write lock), so a
    refund and its payment are never applied concurrently. An event that raises is postponed
    with back-off and the rest go on; a database error stops the round (the next one retries).
    Given this process's inbox (`yield_to`), while deliveries flood in each event first waits
    for the flood to pass: answering Stripe comes first (on SQLite every applied gift holds the
    one write lock the deliveries need). A wait lasts at most FLOOD_PAUSE, so the ledger keeps
    moving during a flood.
    """
    processed = postponed = 0
    gift_ids: list[int] = []
    while processed + postponed < limit:
        if yield_to is not None:
            yield_to.wait_for_quiet(FLOOD_PAUSE.total_seconds())
        session = new_session(write=True)
        row_id = None
        try:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(select(func.pg_advisory_xact_lock(PROCESSING_LOCK)))
            row = session.scalar(
                select(StripeEvent)
                .where(StripeEvent.processed_at.is_(None), StripeEvent.next_attempt_at <= utcnow())
                .order_by(StripeEvent.stripe_created_at, StripeEvent.received_at, StripeEvent.id)
                .limit(1)
            )
            if row is None:
                session.rollback()
                break
            row_id = row.id
            outcome = _apply(session, row)
            gifts = list(outcome.new_gifts)
            for gift in outcome.new_gifts:
                gifts.extend(_replay_waiting(session, gift))
            row.processed_at = utcnow()
            row.last_error = None
            session.commit()
            processed += 1
            gift_ids.extend(g.id for g in gifts)
        except SQLAlchemyError:
            session.rollback()
            log.exception("Database error while applying Stripe event %s; will retry", row_id)
            if row_id is not None:
                _postpone(row_id, "database error")
            break
        except Exception as exc:  # a payload our handlers cannot take: keep it, retry later, go on
            session.rollback()
            log.exception("Could not apply Stripe event %s; postponed", row_id)
            _postpone(row_id, f"{exc.__class__.__name__}: {exc}")
            postponed += 1
        finally:
            session.close()
    return ProcessReport(processed, postponed, tuple(gift_ids))


def apply_and_follow_up() -> ProcessReport:
    """Apply everything that is due, in rounds; after each round look up the new gifts' fees and
    send their receipts."""
    from .fees import fill_fees

    processed = postponed = 0
    gift_ids: list[int] = []
    while True:
        report = process_pending(limit=FOLLOW_UP_EVERY, yield_to=inbox())
        if report.new_gift_ids:
            fill_fees(list(report.new_gift_ids))
            receipts.send_due(receipts.Mailer(current_settings()))
        payouts.fetch_due_lines()  # paid payouts' lines, and retries of ones Stripe could not list
        processed, postponed = processed + report.processed, postponed + report.postponed
        gift_ids.extend(report.new_gift_ids)
        # Done when a round came back short, or applied nothing (an event that cannot even be
        # postponed would otherwise come round again and again).
        if report.processed + report.postponed < FOLLOW_UP_EVERY or not report.processed:
            return ProcessReport(processed, postponed, tuple(gift_ids))


def _postpone(event_id: str, error: str) -> None:
    session = new_session(write=True)
    try:
        row = session.get(StripeEvent, event_id)
        if row is not None and row.processed_at is None:
            row.attempts += 1
            row.last_error = error[:500]
            row.next_attempt_at = utcnow() + min(timedelta(seconds=30 * 2 ** min(row.attempts, 12)), MAX_ATTEMPTS_BACKOFF)
            session.commit()
    except SQLAlchemyError:
        session.rollback()
        log.warning("Could not postpone Stripe event %s either; it stays due", event_id)
    finally:
        session.close()


def stuck_events(session: Session, *, attempts: int = 3) -> list[StripeEvent]:
    """Events that failed to apply several times: someone should look (doctor reports them)."""
    return list(session.scalars(
        select(StripeEvent).where(StripeEvent.processed_at.is_(None), StripeEvent.attempts >= attempts)
        .order_by(StripeEvent.received_at)
    ))


def long_waiting_events(session: Session, *, older_than: timedelta = timedelta(days=1)) -> list[StripeEvent]:
    """Refunds and disputes still waiting, a day on, for a payment we never recorded."""
    return list(session.scalars(
        select(StripeEvent).where(StripeEvent.waiting_for.is_not(None), StripeEvent.received_at < utcnow() - older_than)
        .order_by(StripeEvent.received_at)
    ))


def _apply(session: Session, row: StripeEvent) -> Outcome:
    handler = HANDLERS.get(row.type)
    if handler is None:
        row.outcome = "ignored: not an event we act on"
        return Outcome(row.outcome)
    obj = row.payload["data"]["object"]
    try:
        outcome = handler(session, obj, row)
    except WaitFor as wait:
        row.waiting_for = wait.key
        outcome = Outcome(f"waiting for payment {wait.key}")
    row.outcome = outcome.text[:200]
    session.flush()
    return outcome


def _replay_waiting(session: Session, gift: Gift) -> list[Gift]:
    """Apply refunds and disputes that arrived before this payment, oldest first."""
    keys = [k for k in (gift.stripe_payment_intent_id, gift.stripe_charge_id) if k]
    if not keys:
        return []
    waiting = session.scalars(
        select(StripeEvent).where(StripeEvent.waiting_for.in_(keys)).order_by(StripeEvent.stripe_created_at)
    ).all()
    created: list[Gift] = []
    for row in waiting:
        row.waiting_for = None
        created.extend(_apply(session, row).new_gifts)
    return created


# ------------------------------------------------------------------------------ payments


def _metadata(obj: dict) -> dict[str, str]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _campaign(session: Session, metadata: dict[str, str], currency: str) -> Campaign | None:
    """The campaign named in metadata, if it exists and takes this currency; else unattributed."""
    raw = metadata.get("campaign_id")
    if not raw or not str(raw).isdigit():
        return None
    campaign = session.get(Campaign, int(raw))
    if campaign is None or campaign.currency != currency.upper():
        return None
    return campaign


def _id(value: Any) -> str | None:
    """Stripe sends related objects as ids or, when expanded, as objects."""
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def _method(types: list[str] | None, charge: Any = None) -> GiftMethod:
    kind = None
    if isinstance(charge, dict):
        kind = (charge.get("payment_method_details") or {}).get("type")
    kind = kind or (types[0] if types and len(types) == 1 else None)
    return GiftMethod.BANK if kind in BANK_METHODS else GiftMethod.CARD


def _record_online_gift(
    session: Session, *, source_key: str, amount_cents: int, currency: str, metadata: dict[str, str],
    email: str | None, name: str | None, received_at: datetime, method: GiftMethod,
    payment_intent_id: str | None, charge_id: str | None, plan: RecurringPlan | None = None,
) -> Outcome:
    existing = session.scalar(select(Gift).where(Gift.source_key == source_key))
    if existing is not None:
        _fill_stripe_ids(existing, payment_intent_id, charge_id)
        return Outcome(f"already recorded as gift {existing.id}")
    if amount_cents <= 0:
        return Outcome("nothing paid")
    campaign = _campaign(session, metadata, currency)
    if campaign is None and plan is not None and plan.campaign_id is not None:
        campaign = session.get(Campaign, plan.campaign_id)
    donor = find_or_create_donor(session, email=metadata.get("donor_email") or email,
                                 name=metadata.get("donor_name") or name)
    kind = metadata.get("dedication_kind")
    gift = ledger.record_gift(
        session,
        campaign=campaign,
        amount_cents=amount_cents,
        currency=currency,
        received_at=received_at,
        channel=GiftChannel.ONLINE,
        method=method,
        donor_id=donor.id if donor else None,
        recurring_plan_id=plan.id if plan else None,
        reference=payment_intent_id or charge_id,
        source_key=source_key,
        # Sensitive cause: a name or amount is public only when the donor said yes.
        is_anonymous=metadata.get("show_name") != "yes",
        show_amount=metadata.get("show_amount") == "yes",
        dedication_kind=DedicationKind(kind) if kind in ("honour", "memory") else None,
        dedication_name=metadata.get("dedication_name") if kind in ("honour", "memory") else None,
        dedication_notify_email=metadata.get("dedication_notify_email"),
        public_comment=metadata.get("comment"),
    )
    _fill_stripe_ids(gift, payment_intent_id, charge_id)
    attempt_id = metadata.get("donation_attempt")
    if attempt_id:
        attempt = session.scalar(select(DonationAttempt).where(DonationAttempt.public_id == attempt_id))
        if attempt is not None:
            # Checkout learns these ids only now; the thank-you page finds the gift through them.
            attempt.status = AttemptStatus.COMPLETED
            attempt.stripe_payment_intent_id = attempt.stripe_payment_intent_id or (None if plan else payment_intent_id)
            if plan is not None and not attempt.stripe_subscription_id:
                attempt.stripe_subscription_id = plan.stripe_subscription_id
    receipts.queue_for_gift(session, gift)
    where = f"campaign {campaign.slug}" if campaign else "no campaign (unattributed, for staff to assign)"
    return Outcome(f"recorded gift {gift.id} to {where}", [gift])


def _fill_stripe_ids(gift: Gift, payment_intent_id: str | None, charge_id: str | None) -> None:
    if payment_intent_id and not gift.stripe_payment_intent_id:
        gift.stripe_payment_intent_id = payment_intent_id
    if charge_id and not gift.stripe_charge_id:
        gift.stripe_charge_id = charge_id


def _created(obj: dict, row: StripeEvent) -> datetime:
    return datetime.fromtimestamp(int(obj["created"]), UTC) if obj.get("created") else row.stripe_created_at


def _is_instalment(intent: dict) -> bool:
    """PaymentIntents of subscription invoices are recorded from their invoice, not here."""
    metadata = _metadata(intent)
    if metadata.get("frequency") == "monthly":
        return True
    if intent.get("invoice"):
        return True
    return not metadata.get("campaign_id") and (intent.get("description") or "").startswith("Subscription")


def _amount_received(intent: dict) -> int:
    """`amount_received`; API versions before 2019 (and localstripe) omit it, where a succeeded intent got `amount`."""
    if "amount_received" in intent:
        return int(intent["amount_received"] or 0)
    return int(intent.get("amount") or 0) if intent.get("status") == "succeeded" else 0


def on_payment_intent_succeeded(session: Session, intent: dict, row: StripeEvent) -> Outcome:
    if _is_instalment(intent):
        return Outcome("instalment: recorded from its invoice")
    charge = intent.get("latest_charge")
    billing = (charge.get("billing_details") or {}) if isinstance(charge, dict) else {}
    return _record_online_gift(
        session, source_key=f"stripe:{intent['id']}", amount_cents=_amount_received(intent),
        currency=intent["currency"], metadata=_metadata(intent),
        email=intent.get("receipt_email") or billing.get("email"), name=billing.get("name"),
        received_at=_created(intent, row), method=_method(intent.get("payment_method_types"), charge),
        payment_intent_id=intent["id"], charge_id=_id(charge),
    )


def _checkout_paid(session: Session, checkout: dict, row: StripeEvent) -> Outcome:
    if checkout.get("mode") != "payment":
        return Outcome("subscription checkout: instalments are recorded from invoices")
    intent_id = _id(checkout.get("payment_intent"))
    if not intent_id:
        return Outcome("checkout without a payment")
    details = checkout.get("customer_details") or {}
    return _record_online_gift(
        session, source_key=f"stripe:{intent_id}", amount_cents=int(checkout.get("amount_total") or 0),
        currency=checkout["currency"], metadata=_metadata(checkout),
        email=details.get("email") or checkout.get("customer_email"), name=details.get("name"),
        received_at=_created(checkout, row), method=_method(checkout.get("payment_method_types")),
        payment_intent_id=intent_id, charge_id=None,
    )


def on_checkout_completed(session: Session, checkout: dict, row: StripeEvent) -> Outcome:
    if checkout.get("mode") == "subscription":
        subscription_id = _id(checkout.get("subscription"))
        if not subscription_id:
            return Outcome("subscription checkout without a subscription")
        metadata = _metadata(checkout)
        details = checkout.get("customer_details") or {}
        currency = checkout.get("currency") or "usd"
        campaign = _campaign(session, metadata, currency)
        plan = plan_for_subscription(
            session, subscription_id=subscription_id, customer_id=_id(checkout.get("customer")),
            campaign_id=campaign.id if campaign else None, amount_cents=int(checkout.get("amount_total") or 0) or 1,
            currency=currency, donor_email=details.get("email") or checkout.get("customer_email"),
            donor_name=metadata.get("donor_name") or details.get("name"),
        )
        return Outcome(f"monthly plan {plan.id} started")
    if checkout.get("payment_status") != "paid":
        return Outcome("bank debit pending: recorded when it succeeds")
    return _checkout_paid(session, checkout, row)


def on_checkout_async_succeeded(session: Session, checkout: dict, row: StripeEvent) -> Outcome:
    return _checkout_paid(session, checkout, row)


def on_checkout_async_failed(session: Session, checkout: dict, row: StripeEvent) -> Outcome:
    attempt_id = _metadata(checkout).get("donation_attempt")
    attempt = session.scalar(select(DonationAttempt).where(DonationAttempt.public_id == attempt_id)) if attempt_id else None
    if attempt is not None:
        attempt.status = AttemptStatus.FAILED
    return Outcome("bank debit failed: nothing recorded")


def _invoice_subscription(invoice: dict) -> tuple[str | None, dict[str, str]]:
    """Subscription id and its metadata, from the current (parent) or the older invoice shape."""
    details = (invoice.get("parent") or {}).get("subscription_details") or invoice.get("subscription_details") or {}
    subscription = _id(details.get("subscription")) or _id(invoice.get("subscription"))
    metadata = details.get("metadata") if isinstance(details.get("metadata"), dict) else {}
    return subscription, metadata


def _invoice_payment_intent(invoice: dict) -> str | None:
    intent = _id(invoice.get("payment_intent"))
    if intent:
        return intent
    payments = (invoice.get("payments") or {}).get("data") or []
    for payment in payments:
        intent = _id((payment.get("payment") or {}).get("payment_intent"))
        if intent:
            return intent
    return None


def on_invoice_paid(session: Session, invoice: dict, row: StripeEvent) -> Outcome:
    """Every paid instalment is one gift, recorded once per invoice (Stripe sends two event types)."""
    subscription_id, metadata = _invoice_subscription(invoice)
    amount = int(invoice.get("amount_paid") or 0)
    if amount <= 0:
        return Outcome("nothing paid on this invoice")
    plan = None
    if subscription_id:
        campaign = _campaign(session, metadata, invoice["currency"])
        plan = plan_for_subscription(
            session, subscription_id=subscription_id, customer_id=_id(invoice.get("customer")),
            campaign_id=campaign.id if campaign else None, amount_cents=amount, currency=invoice["currency"],
            donor_email=invoice.get("customer_email"), donor_name=metadata.get("donor_name") or invoice.get("customer_name"),
        )
        if plan.status == PlanStatus.INCOMPLETE:
            plan.status = PlanStatus.ACTIVE
        if plan.started_at is None:
            plan.started_at = _created(invoice, row)
    return _record_online_gift(
        session, source_key=f"stripe:{invoice['id']}", amount_cents=amount, currency=invoice["currency"],
        metadata=metadata, email=invoice.get("customer_email"), name=invoice.get("customer_name"),
        received_at=_paid_at(invoice, row), method=GiftMethod.CARD,
        payment_intent_id=_invoice_payment_intent(invoice), charge_id=_id(invoice.get("charge")), plan=plan,
    )


def _paid_at(invoice: dict, row: StripeEvent) -> datetime:
    paid = (invoice.get("status_transitions") or {}).get("paid_at")
    return datetime.fromtimestamp(int(paid), UTC) if paid else _created(invoice, row)


def on_subscription_changed(session: Session, subscription: dict, row: StripeEvent) -> Outcome:
    plan = session.scalar(select(RecurringPlan).where(RecurringPlan.stripe_subscription_id == subscription["id"]))
    if plan is None:
        return Outcome("subscription we did not start: ignored")
    if apply_subscription_status(session, plan, subscription, row.stripe_created_at):
        return Outcome(f"plan {plan.id} is {plan.status}")
    return Outcome("older than what we know: ignored")


# ---------------------------------------------------------------------- refunds, disputes


def _gift_for_charge(session: Session, payment_intent_id: str | None, charge_id: str | None) -> Gift:
    conditions = []
    if payment_intent_id:
        conditions.append(Gift.stripe_payment_intent_id == payment_intent_id)
    if charge_id:
        conditions.append(Gift.stripe_charge_id == charge_id)
    gift = session.scalar(select(Gift).where(or_(*conditions)).limit(1)) if conditions else None
    if gift is None:
        if payment_intent_id:
            gift = session.scalar(select(Gift).where(Gift.source_key == f"stripe:{payment_intent_id}"))
        if gift is None:
            raise WaitFor(payment_intent_id or charge_id or "unknown")
    _fill_stripe_ids(gift, payment_intent_id, charge_id)
    return gift


def on_charge_refunded(session: Session, charge: dict, row: StripeEvent) -> Outcome:
    """Stripe reports the running total refunded; the ledger gets the part it has not seen."""
    gift = _gift_for_charge(session, _id(charge.get("payment_intent")), charge["id"])
    total = int(charge.get("amount_refunded") or 0)
    seen = -int(
        session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
                LedgerEntry.gift_id == gift.id, LedgerEntry.kind == EntryKind.REFUND,
                LedgerEntry.reference == charge["id"],
            )
        )
    )
    if total <= seen:
        return Outcome("refund already applied")
    left = ledger.gift_net(session, gift)
    amount = min(total - seen, left)
    if amount <= 0:
        return Outcome("nothing left of the gift to refund")
    ledger.refund_gift(
        session, gift, amount, occurred_at=_created(charge, row), reference=charge["id"],
        reason="Refunded in Stripe", source_key=f"stripe:{charge['id']}:refunded:{total}",
    )
    return Outcome(f"refunded {amount} of gift {gift.id}")


HANDLERS: dict[str, Callable[[Session, dict, StripeEvent], Outcome]] = {
    "checkout.session.completed": on_checkout_completed,
    "checkout.session.async_payment_succeeded": on_checkout_async_succeeded,
    "checkout.session.async_payment_failed": on_checkout_async_failed,
    "payment_intent.succeeded": on_payment_intent_succeeded,
    "charge.refunded": on_charge_refunded,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_succeeded": on_invoice_paid,
    "customer.subscription.updated": on_subscription_changed,
    "customer.subscription.deleted": on_subscription_changed,
}

# Disputes and payouts live in their own modules; their events are dispatched from here too.
from . import disputes, payouts

HANDLERS.update(disputes.HANDLERS)
HANDLERS.update(payouts.HANDLERS)
