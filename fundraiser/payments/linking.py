"""After each round of Stripe events: ask Stripe what the events did not say, outside any transaction.

Since API version 2025-03-31.basil an Invoice no longer names its PaymentIntent or Charge, nor a
PaymentIntent its invoice, and webhook payloads never expand a PaymentIntent's charge. So, with
no transaction held while Stripe answers (a slow Stripe must not hold the write lock):
- a PaymentIntent without our metadata, waiting since it arrived, is looked up: if it paid an
  invoice it joins that invoice's gift (never a second gift); if not, it is recorded unattributed;
- a monthly gift whose `invoice_payment.paid` has not come learns its PaymentIntent from the
  invoice's payments;
- each new or linked gift learns its charge and how it was paid (card, Apple Pay, ACH debit...).
Each answer is written in its own short transaction, refunds and disputes that waited for the
payment are replayed there, and the fees of these gifts are looked up last.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..db import new_session, utcnow
from ..models import Gift, StripeEvent
from . import webhooks
from .fees import fill_fees
from .stripe import PaymentError, list_invoice_payments, payment_charge

log = logging.getLogger(__name__)

# Gifts this recent whose instalment payment is still unknown are looked up again each round.
RECENT = timedelta(days=7)
BATCH = 20


def follow_up(gift_ids: list[int], *, catch_up: bool = False) -> list[int]:
    """Everything above for this round's new and linked gifts (and any still-unplaced payments);
    with `catch_up` (cron) also every recent monthly gift still without its payment. Returns the
    ids of the gifts it touched."""
    touched = [*gift_ids, *settle_waiting_intents(), *link_instalments(None if catch_up else gift_ids)]
    if touched:
        learn_charges(touched)
        fill_fees(touched)
    return touched


@contextmanager
def _write_session() -> Iterator[Session]:
    """A write transaction that, like process_pending, holds the event-processing lock: replayed
    refunds never run beside the applier."""
    session = new_session(write=True)
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(select(func.pg_advisory_xact_lock(webhooks.PROCESSING_LOCK)))
        yield session
    finally:
        session.close()


def _replayed(session: Session, gifts: list[Gift]) -> list[int]:
    ids = []
    for gift in gifts:
        ids.append(gift.id)
        ids.extend(g.id for g in webhooks._replay_waiting(session, gift))
    return ids


def settle_waiting_intents() -> list[int]:
    """PaymentIntents without our metadata: did each pay an invoice? Returns the gifts touched."""
    with new_session() as session:
        waiting = session.execute(
            select(StripeEvent.id, StripeEvent.object_id)
            .where(StripeEvent.waiting_for.is_not(None), StripeEvent.waiting_for == StripeEvent.object_id,
                   StripeEvent.type == "payment_intent.succeeded")
            .order_by(StripeEvent.received_at).limit(BATCH)
        ).all()
    touched: list[int] = []
    for event_id, intent_id in waiting:
        try:
            payments = list_invoice_payments(payment_intent_id=intent_id)
        except PaymentError as exc:
            log.warning("Can't ask Stripe whether %s paid an invoice: %s", intent_id, exc.message)
            if exc.retryable:
                break
            continue
        touched.extend(_settle_intent(event_id, intent_id, [p.invoice_id for p in payments if p.invoice_id]))
    return touched


def _settle_intent(event_id: str, intent_id: str, invoice_ids: list[str]) -> list[int]:
    with _write_session() as session:
        row = session.get(StripeEvent, event_id)
        if row is None or row.waiting_for != intent_id:
            return []  # settled meanwhile (its invoice payment arrived)
        if invoice_ids:
            gift = session.scalar(select(Gift).where(Gift.source_key.in_([f"stripe:{i}" for i in invoice_ids])).limit(1))
            if gift is None:
                # An instalment whose invoice has not been applied yet: it keeps waiting, and is
                # replayed when that gift learns its payment.
                return []
            outcome = webhooks.link_payment(session, gift, intent_id, None)
            touched = _replayed(session, outcome.linked or [gift])
        else:
            row.waiting_for = None
            outcome = webhooks.on_payment_intent_succeeded(session, row.payload["data"]["object"], row, standalone=True)
            row.outcome = f"paid no invoice: {outcome.text}"[:200]
            touched = _replayed(session, outcome.new_gifts)
        session.commit()
        return touched


def link_instalments(gift_ids: list[int] | None) -> list[int]:
    """Monthly gifts that don't know their payment yet (no invoice_payment.paid event): the
    invoice's paid payment, from Stripe. Looks at these gifts, or (None) at every recent one.
    Returns the gifts linked."""
    query = select(Gift.id, Gift.source_key).where(
        Gift.source_key.startswith("stripe:in_", autoescape=True), Gift.stripe_payment_intent_id.is_(None),
        Gift.stripe_charge_id.is_(None),
    )
    if gift_ids is None:
        query = query.where(Gift.created_at > utcnow() - RECENT)
    else:
        query = query.where(Gift.id.in_(set(gift_ids)))
    with new_session() as session:
        pending = session.execute(query.order_by(Gift.id).limit(BATCH)).all()
    touched: list[int] = []
    for gift_id, source_key in pending:
        try:
            payments = list_invoice_payments(invoice_id=source_key.removeprefix("stripe:"))
        except PaymentError as exc:
            log.warning("Can't list the payments of invoice %s: %s", source_key, exc.message)
            if exc.retryable:
                break
            continue
        paid = next((p for p in payments if p.status == "paid" and (p.payment_intent_id or p.charge_id)), None)
        if paid is None:
            continue
        with _write_session() as session:
            gift = session.get(Gift, gift_id, with_for_update=True)
            outcome = webhooks.link_payment(session, gift, paid.payment_intent_id, paid.charge_id)
            touched.extend(_replayed(session, outcome.linked))
            session.commit()
    return touched


def learn_charges(gift_ids: list[int]) -> None:
    """Each gift's charge (for refunds, disputes and the fee) and how it was paid (for receipts)."""
    with new_session() as session:
        pending = session.execute(
            select(Gift.id, Gift.stripe_payment_intent_id).where(
                Gift.id.in_(set(gift_ids)), Gift.stripe_payment_intent_id.is_not(None),
                or_(Gift.stripe_charge_id.is_(None), Gift.payment_method_detail.is_(None)),
            ).order_by(Gift.id)
        ).all()
    for gift_id, intent_id in pending:
        try:
            found = payment_charge(intent_id)
        except PaymentError as exc:
            log.warning("Can't look up the charge of %s: %s", intent_id, exc.message)
            if exc.retryable:
                return
            continue
        if found is None:
            continue
        with _write_session() as session:
            gift = session.get(Gift, gift_id, with_for_update=True)
            had_charge = gift.stripe_charge_id is not None
            webhooks._fill_stripe_ids(gift, None, found.charge_id)
            webhooks._fill_detail(session, gift, found.method_detail)
            if not had_charge:
                _replayed(session, [gift])
            session.commit()
