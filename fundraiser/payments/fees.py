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
    """Look up the fee of online gifts that lack one; returns (filled, still missing)."""
    session = new_session()
    try:
        query = select(Gift).where(
            Gift.fee_cents.is_(None), Gift.channel == GiftChannel.ONLINE, Gift.stripe_charge_id.is_not(None)
        )
        if gift_ids is not None:
            query = query.where(Gift.id.in_(gift_ids))
        gifts = session.scalars(query.order_by(Gift.id).limit(limit)).all()
        filled = missing = 0
        for gift in gifts:
            try:
                fee = fetch_fee(charge_id=gift.stripe_charge_id)
            except PaymentError as exc:
                log.warning("Fee for gift %s not available yet: %s", gift.id, exc.message)
                missing += 1
                continue
            if fee is None or not ledger.set_fee(session, gift, fee.fee_cents):
                missing += fee is None
                continue
            session.commit()
            filled += 1
        return filled, missing
    finally:
        session.close()
