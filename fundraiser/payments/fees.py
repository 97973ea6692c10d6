"""Filling in processing fees after a gift is recorded: never part of recording the gift itself."""

from __future__ import annotations

import logging

from sqlalchemy import select

from .. import ledger
from ..db import new_session
from ..models import Gift, GiftChannel
from .stripe import PaymentError, fetch_fee

log = logging.getLogger(__name__)


def fill_fees(gift_ids: list[int] | None = None, *, limit: int = 200) -> tuple[int, int]:
    """Look up the fee of online gifts that lack one, with the currency Stripe settled them in,
    the net and the exchange rate; returns (filled, still missing).

    No transaction is held while Stripe answers: the list is read first, then each fee is written
    in its own short write transaction, so a slow Stripe never blocks (or deadlocks) other writers.
    """
    query = select(Gift.id, Gift.stripe_charge_id).where(
        Gift.fee_cents.is_(None), Gift.channel == GiftChannel.ONLINE, Gift.stripe_charge_id.is_not(None)
    )
    if gift_ids is not None:
        query = query.where(Gift.id.in_(gift_ids))
    with new_session() as session:
        pending = session.execute(query.order_by(Gift.id).limit(limit)).all()
    filled = missing = 0
    for gift_id, charge_id in pending:
        try:
            fee = fetch_fee(charge_id=charge_id)
        except PaymentError as exc:
            log.warning("Fee for gift %s not available yet: %s", gift_id, exc.message)
            fee = None
        if fee is None:
            missing += 1
            continue
        with new_session(write=True) as session:
            if ledger.set_fee(
                session, session.get(Gift, gift_id), fee.fee_cents, currency=fee.currency, net_cents=fee.net_cents,
                exchange_rate=fee.exchange_rate, balance_transaction_id=fee.balance_transaction_id,
            ):
                session.commit()
                filled += 1
    return filled, missing
