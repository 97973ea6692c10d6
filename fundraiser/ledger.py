"""The only code that records or changes money, and the only code that keeps totals and rollups.

Every gift is a `Gift` row plus a `LedgerEntry` of kind GIFT. Corrections, voids, refunds,
disputes and reassignments are further entries pointing at the same gift; nothing is updated
or deleted. Each entry changes the campaign's cached totals in the same transaction (functions
here only flush; the caller commits once), so reading progress is one primary-key lookup, and
the board's rollups (rollups.py) and what the campaign's matching challenges have unlocked
(matches.py) in that same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import matches
from .db import dialect_insert, utcnow
from .models import (
    Campaign,
    CampaignDonorTotal,
    CampaignTotals,
    CostKind,
    DedicationKind,
    EntryKind,
    Gift,
    GiftChannel,
    GiftCost,
    GiftMethod,
    LedgerEntry,
    MatchingChallenge,
)
from .money import format_money
from .rollups import (
    ARRIVAL_KINDS,
    Deltas,
    GiftFacts,
    apply_batch,
    apply_entry,
    apply_fee,
    entry_deltas,
    facts_of,
    last_arrival,
    local_day,
    move_donor,
)
from .rollups import restate_gift as restate_rollups
from .settings import current_settings


class LedgerError(ValueError):
    """A money change that is not allowed; the message says why in plain words."""


# ---------------------------------------------------------------------------- recording


def record_gift(
    session: Session,
    *,
    campaign: Campaign | None,
    amount_cents: int,
    currency: str,
    received_at: datetime,
    channel: GiftChannel,
    method: GiftMethod,
    donor_id: int | None = None,
    event_id: int | None = None,
    recurring_plan_id: int | None = None,
    reference: str | None = None,
    source_key: str | None = None,
    fee_cents: int | None = None,
    is_anonymous: bool = False,
    show_amount: bool = False,
    dedication_kind: DedicationKind | None = None,
    dedication_name: str | None = None,
    dedication_notify_email: str | None = None,
    public_comment: str | None = None,
    private_note: str | None = None,
    description: str | None = None,
    goods_value_cents: int | None = None,
    is_sample: bool = False,
    recorded_by_id: int | None = None,
) -> Gift:
    """Record a gift and its GIFT entry, and update the campaign's totals.

    `campaign=None` records an unattributed gift (e.g. a Stripe payment without campaign
    metadata) that staff assign later. A `source_key` seen before returns the existing gift
    unchanged, so a second arrival of the same payment is a no-op.
    """
    if source_key is not None:
        existing = session.scalar(select(Gift).where(Gift.source_key == source_key))
        if existing is not None:
            return existing
    currency = currency.upper()
    if amount_cents <= 0:
        raise LedgerError("A gift must be more than zero.")
    if fee_cents is not None and not 0 <= fee_cents <= amount_cents:
        raise LedgerError("The fee must be between zero and the gift amount.")
    if goods_value_cents is not None and not 0 <= goods_value_cents <= amount_cents:
        raise LedgerError("The value of goods received must be between zero and the gift amount.")
    if campaign is not None and campaign.currency != currency:
        raise LedgerError(
            f"This campaign takes {campaign.currency}; the gift is in {currency}."
        )
    if received_at.tzinfo is None:
        raise LedgerError("The date received needs a time zone.")
    gift = Gift(
        campaign_id=campaign.id if campaign else None,
        donor_id=donor_id,
        event_id=event_id,
        recurring_plan_id=recurring_plan_id,
        amount_cents=amount_cents,
        currency=currency,
        received_at=received_at,
        channel=channel,
        method=method,
        reference=reference,
        source_key=source_key,
        fee_cents=fee_cents,
        is_anonymous=is_anonymous,
        show_amount=show_amount,
        dedication_kind=dedication_kind,
        dedication_name=dedication_name,
        dedication_notify_email=dedication_notify_email,
        public_comment=public_comment,
        private_note=private_note,
        description=description,
        goods_value_cents=goods_value_cents,
        is_sample=is_sample,
        recorded_by_id=recorded_by_id,
    )
    if source_key is not None:
        # Two workers may race on the same payment: the unique source_key lets exactly one win.
        try:
            with session.begin_nested():
                session.add(gift)
                session.flush()
        except IntegrityError:
            existing = session.scalar(select(Gift).where(Gift.source_key == source_key))
            if existing is None:
                raise
            return existing
    else:
        session.add(gift)
        session.flush()
    _append(
        session,
        gift,
        campaign_id=gift.campaign_id,
        kind=EntryKind.GIFT,
        amount_cents=amount_cents,
        occurred_at=received_at,
        reference=reference,
        created_by_id=recorded_by_id,
    )
    return gift


@dataclass
class NewGift:
    """One gift of a batch (an import, a webhook backlog), with the refund its source already shows, if any."""

    campaign: Campaign
    amount_cents: int
    currency: str
    received_at: datetime
    channel: GiftChannel
    method: GiftMethod
    source_key: str
    donor_id: int | None = None
    reference: str | None = None
    fee_cents: int | None = None
    is_anonymous: bool = False
    public_comment: str | None = None
    private_note: str | None = None
    refund_cents: int = 0
    refund_reason: str | None = None
    refund_at: datetime | None = None  # when it was refunded (an export's refund date); the gift's time if None
    recorded_by_id: int | None = None
    # Online gifts (a webhook backlog) carry the donor's choices and their Stripe payment.
    show_amount: bool = False
    dedication_kind: DedicationKind | None = None
    dedication_name: str | None = None
    dedication_notify_email: str | None = None
    stripe_payment_intent_id: str | None = None
    stripe_charge_id: str | None = None
    payment_method_detail: str | None = None
    wall_reviewed: bool = True
    is_sample: bool = False


def record_gift_batch(session: Session, new_gifts: Sequence[NewGift]) -> dict[str, int]:
    """Record many gifts (and the refunds they come with) in a few statements, with the same
    totals and rollups as `record_gift` + `refund_gift` one by one; returns {source_key: gift id}
    for the gifts written. A source key already recorded (or racing in) is skipped, not doubled.

    Each refund is the gift's own entry keyed "<source_key>:refund", so a later export that shows
    a refund adds just that entry through `refund_gift` with the same key.
    """
    if not new_gifts:
        return {}
    for g in new_gifts:
        if g.amount_cents <= 0:
            raise LedgerError("A gift must be more than zero.")
        if g.fee_cents is not None and not 0 <= g.fee_cents <= g.amount_cents:
            raise LedgerError("The fee must be between zero and the gift amount.")
        if g.campaign.currency != g.currency.upper():
            raise LedgerError(f"This campaign takes {g.campaign.currency}; the gift is in {g.currency.upper()}.")
        if g.received_at.tzinfo is None:
            raise LedgerError("The date received needs a time zone.")
        if not 0 <= g.refund_cents <= g.amount_cents:
            raise LedgerError("A refund can't be more than the gift.")
        if g.refund_at is not None and (g.refund_at.tzinfo is None or g.refund_at < g.received_at):
            raise LedgerError("A refund's date needs a time zone and can't be before the gift.")
    campaign_ids = sorted({g.campaign.id for g in new_gifts})
    # Lock the campaigns' totals first, in id order, as every single money change does.
    locked = {
        t.campaign_id: t
        for t in session.scalars(
            select(CampaignTotals).where(CampaignTotals.campaign_id.in_(campaign_ids))
            .order_by(CampaignTotals.campaign_id).with_for_update()
        )
    }
    for campaign_id in campaign_ids:
        if campaign_id not in locked:
            locked[campaign_id] = _new_totals(session, campaign_id)
    session.flush()
    now = utcnow()
    table = Gift.__table__
    statement = dialect_insert(session.get_bind().dialect.name, table).on_conflict_do_nothing(
        index_elements=["source_key"]
    ).returning(table.c.id, table.c.source_key)
    rows = [
        {
            "campaign_id": g.campaign.id, "donor_id": g.donor_id, "event_id": None, "recurring_plan_id": None,
            "amount_cents": g.amount_cents, "currency": g.currency.upper(), "received_at": g.received_at,
            "channel": g.channel, "method": g.method, "reference": g.reference, "source_key": g.source_key,
            "fee_cents": g.fee_cents, "is_anonymous": g.is_anonymous, "show_amount": g.show_amount,
            "dedication_kind": g.dedication_kind, "dedication_name": g.dedication_name,
            "dedication_notify_email": g.dedication_notify_email, "public_comment": g.public_comment,
            "comment_hidden": False, "name_hidden": False, "wall_reviewed": g.wall_reviewed, "private_note": g.private_note,
            "description": None, "goods_value_cents": None, "is_sample": g.is_sample,
            "stripe_payment_intent_id": g.stripe_payment_intent_id, "stripe_charge_id": g.stripe_charge_id,
            "payment_method_detail": g.payment_method_detail, "recorded_by_id": g.recorded_by_id, "created_at": now,
        }
        for g in new_gifts
    ]
    ids = {key: gift_id for gift_id, key in session.connection().execute(statement, rows)}
    written = [g for g in new_gifts if g.source_key in ids]
    entries = []
    for g in written:
        entries.append({
            "gift_id": ids[g.source_key], "campaign_id": g.campaign.id, "kind": EntryKind.GIFT,
            "amount_cents": g.amount_cents, "currency": g.currency.upper(), "occurred_at": g.received_at,
            "reason": None, "reference": g.reference, "source_key": None, "created_by_id": g.recorded_by_id,
            "created_at": now,
        })
        if g.refund_cents:
            entries.append({
                "gift_id": ids[g.source_key], "campaign_id": g.campaign.id, "kind": EntryKind.REFUND,
                "amount_cents": -g.refund_cents, "currency": g.currency.upper(), "occurred_at": g.refund_at or g.received_at,
                "reason": g.refund_reason, "reference": g.reference, "source_key": f"{g.source_key}:refund",
                "created_by_id": g.recorded_by_id, "created_at": now,
            })
    if entries:
        session.connection().execute(LedgerEntry.__table__.insert(), entries)
    _apply_batch_to_totals(session, locked, written, now)
    _count_batch_for_matches(session, locked, written, ids)
    tz = current_settings().tz
    deltas: Deltas = {}
    for g in written:
        facts = GiftFacts(g.channel, g.method, g.donor_id, None, False, g.fee_cents)
        day = local_day(g.received_at, tz)
        entry_deltas(deltas, campaign_id=g.campaign.id, kind=EntryKind.GIFT, amount_cents=g.amount_cents, day=day,
                     arrival_day=day, before_cents=0, gift=facts)
        if g.refund_cents:
            refund_day = local_day(g.refund_at, tz) if g.refund_at else day
            entry_deltas(deltas, campaign_id=g.campaign.id, kind=EntryKind.REFUND, amount_cents=-g.refund_cents,
                         day=refund_day, arrival_day=day, before_cents=g.amount_cents, gift=facts)
    apply_batch(session, deltas)
    return ids


def _apply_batch_to_totals(session: Session, locked: dict[int, CampaignTotals], written: Sequence[NewGift], now) -> None:
    """The totals a batch of new gifts changes: raised, standing gifts, donors (by their net per campaign)."""
    donor_nets: dict[tuple[int, int], int] = {}
    for g in written:
        totals = locked[g.campaign.id]
        net = g.amount_cents - g.refund_cents
        totals.raised_cents += net
        totals.gift_count += 1 if net > 0 else 0
        if g.donor_id is None:
            totals.donor_count += 1 if net > 0 else 0
        else:
            key = (g.campaign.id, g.donor_id)
            donor_nets[key] = donor_nets.get(key, 0) + net
        if totals.last_gift_at is None or g.received_at > totals.last_gift_at:
            totals.last_gift_at = g.received_at
    keys = sorted(donor_nets)
    existing: dict[tuple[int, int], CampaignDonorTotal] = {}
    # Not flushed first: the totals changed above are written once, with the donor count, below.
    with session.no_autoflush:
        for start in range(0, len(keys), 400):
            chunk = keys[start:start + 400]
            for row in session.scalars(
                select(CampaignDonorTotal).where(
                    tuple_(CampaignDonorTotal.campaign_id, CampaignDonorTotal.donor_id).in_(chunk)
                )
            ):
                existing[(row.campaign_id, row.donor_id)] = row
    new_rows = []
    for key in keys:
        row = existing.get(key)
        before = row.net_cents if row is not None else 0
        after = before + donor_nets[key]
        locked[key[0]].donor_count += _crossing(before, after)
        if row is None:
            new_rows.append({"campaign_id": key[0], "donor_id": key[1], "net_cents": after})
        else:
            row.net_cents = after
    if new_rows:
        session.connection().execute(CampaignDonorTotal.__table__.insert(), new_rows)
    for totals in locked.values():
        totals.version += 1
        totals.updated_at = now
    session.flush()


def _count_batch_for_matches(
    session: Session, locked: dict[int, CampaignTotals], written: Sequence[NewGift], ids: dict[str, int]
) -> None:
    """What a batch of new gifts unlocks from the matches of their campaigns (each gift at what
    is left of it after the refund it came with)."""
    for campaign_id, totals in locked.items():
        if not totals.has_matches:
            continue
        arrived = [
            matches.GiftForMatch(g.received_at, g.channel, g.amount_cents - g.refund_cents, ids[g.source_key])
            for g in written if g.campaign.id == campaign_id
        ]
        matches.count_new_gifts(session, campaign_id, arrived)
    session.flush()


def set_fee(
    session: Session,
    gift: Gift,
    fee_cents: int,
    *,
    currency: str | None = None,
    net_cents: int | None = None,
    exchange_rate: str | None = None,
    balance_transaction_id: str | None = None,
) -> bool:
    """Fill in a processor fee learned after the gift was recorded; a known fee is never changed.

    The fee is in the currency Stripe settled the gift in (`currency`, the gift's when not
    given); only a fee in the gift's own currency counts in the board's fee figures, as a sum of
    two currencies would mean nothing. `net_cents` is what reached the balance, in that currency.
    """
    if gift.fee_cents is not None:
        return False
    currency = (currency or gift.currency).upper()
    if fee_cents < 0 or (currency == gift.currency and fee_cents > gift.amount_cents):
        raise LedgerError("The fee must be between zero and the gift amount.")
    gift.fee_cents = fee_cents
    gift.fee_currency = currency
    gift.settled_net_cents = net_cents
    gift.exchange_rate = exchange_rate
    gift.stripe_balance_transaction_id = gift.stripe_balance_transaction_id or balance_transaction_id
    campaign_id = current_campaign_id(session, gift)
    if campaign_id is not None and fee_cents and gift.fee_in_gift_currency:
        apply_fee(session, gift, campaign_id, fee_cents)
    session.flush()
    return True


def record_cost(
    session: Session,
    gift: Gift,
    kind: CostKind,
    amount_cents: int,
    *,
    currency: str,
    occurred_at: datetime,
    balance_transaction_id: str,
    entry: LedgerEntry | None = None,
    description: str = "",
) -> GiftCost:
    """Record what a gift cost beyond its processing fee (a dispute fee; negative when given back).

    A cost never changes what was raised: no totals move. One row per Stripe balance
    transaction, so a second arrival returns the first.
    """
    existing = session.scalar(
        select(GiftCost).where(GiftCost.stripe_balance_transaction_id == balance_transaction_id)
    )
    if existing is not None:
        return existing
    if amount_cents == 0:
        raise LedgerError("A cost must not be zero.")
    cost = GiftCost(
        gift_id=gift.id, ledger_entry_id=entry.id if entry else None, kind=kind, amount_cents=amount_cents,
        currency=currency.upper(), occurred_at=occurred_at, description=description[:200],
        stripe_balance_transaction_id=balance_transaction_id,
    )
    session.add(cost)
    session.flush()
    return cost


def correct_amount(
    session: Session, gift: Gift, new_amount_cents: int, *, reason: str, by_user_id: int | None = None
) -> LedgerEntry:
    """Correct a mistyped amount with an entry for the difference; the original stays as entered."""
    _require_reason(reason)
    if new_amount_cents <= 0:
        raise LedgerError("A corrected amount must be more than zero; void the gift instead.")
    if is_voided(session, gift):
        raise LedgerError("This gift was voided; it can't be corrected.")
    delta = new_amount_cents - corrected_amount(session, gift)
    if delta == 0:
        raise LedgerError("That is already the gift's amount.")
    if gift_net(session, gift) + delta < 0:
        raise LedgerError("The correction would take the gift below what has been refunded.")
    return _append(
        session,
        gift,
        campaign_id=current_campaign_id(session, gift),
        kind=EntryKind.CORRECTION,
        amount_cents=delta,
        occurred_at=utcnow(),
        reason=reason,
        created_by_id=by_user_id,
    )


def void_gift(
    session: Session, gift: Gift, *, reason: str, by_user_id: int | None = None
) -> LedgerEntry:
    """Void a gift entered in error: one entry takes its whole remaining amount back out."""
    _require_reason(reason)
    if is_voided(session, gift):
        raise LedgerError("This gift is already void.")
    net = gift_net(session, gift)
    if net <= 0:
        raise LedgerError("Nothing is left of this gift to void.")
    return _append(
        session,
        gift,
        campaign_id=current_campaign_id(session, gift),
        kind=EntryKind.VOID,
        amount_cents=-net,
        occurred_at=utcnow(),
        reason=reason,
        created_by_id=by_user_id,
    )


def refund_gift(
    session: Session,
    gift: Gift,
    amount_cents: int,
    *,
    occurred_at: datetime | None = None,
    reason: str | None = None,
    reference: str | None = None,
    source_key: str | None = None,
    by_user_id: int | None = None,
) -> LedgerEntry:
    """Refund part or all of a gift; a refund seen before (same source_key) is returned as is."""
    return _reversal(
        session, gift, EntryKind.REFUND, amount_cents, occurred_at, reason, reference, source_key, by_user_id
    )


def reverse_refund(
    session: Session,
    gift: Gift,
    amount_cents: int,
    *,
    charge_id: str | None,
    occurred_at: datetime,
    reference: str,
    reason: str,
    source_key: str,
) -> LedgerEntry | None:
    """A Stripe refund that failed or was cancelled: the money is the gift's again, as a new
    REFUND_REVERSED entry pointing at the refund. Never restores more than Stripe refunds took
    from this charge and failures have not already given back; None when nothing is left to restore."""
    existing = _by_source_key(session, source_key)
    if existing is not None:
        return existing
    refunded = -int(session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.gift_id == gift.id, LedgerEntry.kind == EntryKind.REFUND, LedgerEntry.reference == charge_id,
        )
    ))
    restored = _reversed_refunds(session, gift, None)
    amount = min(amount_cents, refunded - restored)
    if amount <= 0:
        return None
    return _append(
        session,
        gift,
        campaign_id=current_campaign_id(session, gift),
        kind=EntryKind.REFUND_REVERSED,
        amount_cents=amount,
        occurred_at=occurred_at,
        reason=reason,
        reference=reference,
        source_key=source_key,
    )


def stripe_refunded(session: Session, gift: Gift, *, charge_id: str, as_of: datetime) -> int:
    """What the ledger counts as refunded from a Stripe charge, as Stripe's running total at
    `as_of` would: refunds less the failed ones restored by then (later failures were still
    counted in that total)."""
    refunded = -int(session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.gift_id == gift.id, LedgerEntry.kind == EntryKind.REFUND, LedgerEntry.reference == charge_id,
        )
    ))
    return refunded - _reversed_refunds(session, gift, as_of)


def _reversed_refunds(session: Session, gift: Gift, as_of: datetime | None) -> int:
    query = select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
        LedgerEntry.gift_id == gift.id, LedgerEntry.kind == EntryKind.REFUND_REVERSED
    )
    if as_of is not None:
        query = query.where(LedgerEntry.occurred_at <= as_of)
    return int(session.scalar(query))


def record_dispute(
    session: Session,
    gift: Gift,
    amount_cents: int,
    *,
    occurred_at: datetime | None = None,
    reference: str | None = None,
    source_key: str | None = None,
) -> LedgerEntry:
    """A card dispute withdraws the disputed amount until it is decided."""
    return _reversal(
        session, gift, EntryKind.DISPUTE, amount_cents, occurred_at, "Card dispute", reference, source_key, None
    )


def record_dispute_won(
    session: Session,
    gift: Gift,
    amount_cents: int,
    *,
    occurred_at: datetime | None = None,
    reference: str | None = None,
    source_key: str | None = None,
) -> LedgerEntry:
    """A dispute decided in our favour restores what the dispute withdrew."""
    existing = _by_source_key(session, source_key)
    if existing is not None:
        return existing
    if amount_cents <= 0:
        raise LedgerError("A restored amount must be more than zero.")
    return _append(
        session,
        gift,
        campaign_id=current_campaign_id(session, gift),
        kind=EntryKind.DISPUTE_WON,
        amount_cents=amount_cents,
        occurred_at=occurred_at or utcnow(),
        reason="Dispute won",
        reference=reference,
        source_key=source_key,
    )


def assign_campaign(
    session: Session, gift: Gift, campaign: Campaign, *, by_user_id: int | None = None, reason: str | None = None
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move a gift (e.g. an unattributed online payment) to a campaign with a pair of entries."""
    source = current_campaign_id(session, gift)
    if source == campaign.id:
        raise LedgerError("The gift is already credited to this campaign.")
    if campaign.currency != gift.currency:
        raise LedgerError(f"This campaign takes {campaign.currency}; the gift is in {gift.currency}.")
    # Lock both campaigns' totals in id order before reading what is left of the gift: two
    # opposite moves at once then wait for each other instead of deadlocking, and never both move it.
    _lock_totals(session, source, campaign.id)
    if current_campaign_id(session, gift) != source:
        raise LedgerError("Someone moved this gift a moment ago; reload the page and try again.")
    net = gift_net(session, gift)
    if net <= 0:
        raise LedgerError("Nothing is left of this gift to move.")
    now = utcnow()
    out = _append(
        session, gift, campaign_id=source, kind=EntryKind.REASSIGN_OUT, amount_cents=-net,
        occurred_at=now, reason=reason, created_by_id=by_user_id,
    )
    into = _append(
        session, gift, campaign_id=campaign.id, kind=EntryKind.REASSIGN_IN, amount_cents=net,
        occurred_at=now, reason=reason, created_by_id=by_user_id,
    )
    return out, into


@dataclass(frozen=True)
class Restatement:
    """What a gift's restated facts moved: the re-entry pair (None when nothing was left to move)."""

    out_entry: LedgerEntry | None
    in_entry: LedgerEntry | None


def restate_gift(
    session: Session,
    gift: Gift,
    *,
    donor_id: int | None,
    received_at: datetime,
    method: GiftMethod,
    reason: str,
    by_user_id: int | None = None,
) -> Restatement:
    """Change who gave a recorded gift, when it was received or how, keeping the ledger append-only.

    Totals, donor totals and the board count a gift by its donor, arrival day and method, so:
    - a new donor or date takes what is left of the gift out where it counts now (a REASSIGN_OUT
      dated when it arrived there, under the old donor) and enters it again (a REASSIGN_IN on the
      new date, under the new donor) in the same campaign: both point at the gift, the original
      GIFT entry stays as entered, and every cached total moves as any move does;
    - a new method (a key of the board's monthly figures, not of any total) restates the gift's
      rollups under the new method (rollups.restate_gift).
    An unattributed, void or fully refunded gift counts nowhere, so only its record changes.
    The caller records the revision (audit log) and commits.
    """
    _require_reason(reason)
    if received_at.tzinfo is None:
        raise LedgerError("The date received needs a time zone.")
    if method != gift.method and gift.channel == GiftChannel.ONLINE:
        raise LedgerError("An online gift's method comes from the card processor and can't be changed.")
    campaign_id = current_campaign_id(session, gift)
    _lock_totals(session, campaign_id)  # before reading what is left of the gift, as every money change does
    if method != gift.method:
        _restate_method(session, gift, method)
    moves = donor_id != gift.donor_id or received_at != gift.received_at
    net = gift_net(session, gift) if campaign_id is not None and moves else 0
    if net <= 0:
        gift.donor_id, gift.received_at = donor_id, received_at
        session.flush()
        return Restatement(None, None)
    arrived = last_arrival(session, gift, campaign_id)
    out = _append(
        session, gift, campaign_id=campaign_id, kind=EntryKind.REASSIGN_OUT, amount_cents=-net,
        occurred_at=arrived, reason=reason, created_by_id=by_user_id,
    )
    moved_date = received_at != gift.received_at
    gift.donor_id, gift.received_at = donor_id, received_at
    session.flush()
    into = _append(
        session, gift, campaign_id=campaign_id, kind=EntryKind.REASSIGN_IN, amount_cents=net,
        occurred_at=received_at if moved_date else arrived, reason=reason, created_by_id=by_user_id,
    )
    return Restatement(out, into)


def move_donor_gifts(session: Session, source_id: int, target_id: int) -> list[int]:
    """Credit every gift of one donor to another (merging a duplicate); donor counts follow.

    Amounts and entries are untouched: only who gave changes, and each campaign's per-donor net
    moves with the gifts, so a campaign both records gave to now counts one donor, not two.
    """
    if source_id == target_id:
        raise LedgerError("A donor can't be merged into themself.")
    gift_ids = list(session.scalars(select(Gift.id).where(Gift.donor_id == source_id).order_by(Gift.id)))
    moving = list(
        session.scalars(select(CampaignDonorTotal).where(CampaignDonorTotal.donor_id == source_id))
    )
    now = utcnow()
    for row in moving:
        totals = session.scalar(
            select(CampaignTotals).where(CampaignTotals.campaign_id == row.campaign_id).with_for_update()
        )
        target = session.get(CampaignDonorTotal, (row.campaign_id, target_id))
        if target is None:
            target = CampaignDonorTotal(campaign_id=row.campaign_id, donor_id=target_id, net_cents=0)
            session.add(target)
        counted_before = (row.net_cents > 0) + (target.net_cents > 0)
        target.net_cents += row.net_cents
        row.net_cents = 0
        if totals is not None:
            totals.donor_count += (target.net_cents > 0) - counted_before
            totals.version += 1
            totals.updated_at = now
    for gift in session.scalars(select(Gift).where(Gift.id.in_(gift_ids))):
        gift.donor_id = target_id
    session.flush()
    move_donor(session, source_id, target_id)  # the board's donor counts follow too
    return gift_ids


# ------------------------------------------------------------------------- reading a gift


def gift_net(session: Session, gift: Gift) -> int:
    """What is left of a gift after every entry, wherever it is credited now."""
    campaign_id = current_campaign_id(session, gift)
    where_campaign = (
        LedgerEntry.campaign_id.is_(None) if campaign_id is None else LedgerEntry.campaign_id == campaign_id
    )
    entries = select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
        LedgerEntry.gift_id == gift.id, where_campaign
    )
    return int(session.scalar(entries))


def learn_online_method(session: Session, gift: Gift, method: GiftMethod) -> bool:
    """An online gift's method once Stripe's charge says how it was paid (a webhook's PaymentIntent
    names only the methods offered: card, Link, a bank debit): the gift and the board's figures by
    method follow; no amount moves. False when there is nothing to change."""
    if gift.channel != GiftChannel.ONLINE or method == gift.method:
        return False
    _lock_totals(session, current_campaign_id(session, gift))
    _restate_method(session, gift, method)
    return True


def _lock_totals(session: Session, *campaign_ids: int | None) -> None:
    """Lock campaigns' totals rows, in id order (two changes locking the same pair then wait for
    each other instead of deadlocking); every change of money takes them before reading a gift's net."""
    for campaign_id in sorted({c for c in campaign_ids if c is not None}):
        session.execute(
            select(CampaignTotals.campaign_id).where(CampaignTotals.campaign_id == campaign_id).with_for_update()
        )


def _restate_method(session: Session, gift: Gift, method: GiftMethod) -> None:
    """A new method for a gift whose campaign totals the caller has locked: the board's figures
    by method (rollups) move with it; no total does."""
    before = facts_of(gift)
    gift.method = method
    session.flush()
    restate_rollups(session, gift, before, facts_of(gift))


def corrected_amount(session: Session, gift: Gift) -> int:
    """The gift's amount after corrections (before refunds, voids and disputes)."""
    corrections = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.gift_id == gift.id, LedgerEntry.kind == EntryKind.CORRECTION
        )
    )
    return gift.amount_cents + int(corrections)


def current_campaign_id(session: Session, gift: Gift) -> int | None:
    """The campaign a gift is credited to now: its last reassignment, else where it was given."""
    last_in = session.scalar(
        select(LedgerEntry.campaign_id)
        .where(LedgerEntry.gift_id == gift.id, LedgerEntry.kind == EntryKind.REASSIGN_IN)
        .order_by(LedgerEntry.id.desc())
        .limit(1)
    )
    return last_in if last_in is not None else gift.campaign_id


def is_voided(session: Session, gift: Gift) -> bool:
    return session.scalar(
        select(func.count()).where(LedgerEntry.gift_id == gift.id, LedgerEntry.kind == EntryKind.VOID)
    ) > 0


# --------------------------------------------------------------------------- internals


def _require_reason(reason: str | None) -> None:
    if not reason or not reason.strip():
        raise LedgerError("Please give a reason; it is kept with the entry.")


def _by_source_key(session: Session, source_key: str | None) -> LedgerEntry | None:
    if source_key is None:
        return None
    return session.scalar(select(LedgerEntry).where(LedgerEntry.source_key == source_key))


def _reversal(
    session: Session,
    gift: Gift,
    kind: EntryKind,
    amount_cents: int,
    occurred_at: datetime | None,
    reason: str | None,
    reference: str | None,
    source_key: str | None,
    by_user_id: int | None,
) -> LedgerEntry:
    existing = _by_source_key(session, source_key)
    if existing is not None:
        return existing
    if amount_cents <= 0:
        raise LedgerError("A refund must be more than zero.")
    net = gift_net(session, gift)
    if amount_cents > net:
        raise LedgerError(
            f"Only {format_money(net, gift.currency)} of this gift is left; "
            f"{format_money(amount_cents, gift.currency)} can't be taken back."
        )
    return _append(
        session,
        gift,
        campaign_id=current_campaign_id(session, gift),
        kind=kind,
        amount_cents=-amount_cents,
        occurred_at=occurred_at or utcnow(),
        reason=reason,
        reference=reference,
        source_key=source_key,
        created_by_id=by_user_id,
    )


def _append(
    session: Session,
    gift: Gift,
    *,
    campaign_id: int | None,
    kind: EntryKind,
    amount_cents: int,
    occurred_at: datetime,
    reason: str | None = None,
    reference: str | None = None,
    source_key: str | None = None,
    created_by_id: int | None = None,
) -> LedgerEntry:
    """Add one entry and apply it to the campaign's totals: the single write path for money."""
    totals = None
    if campaign_id is not None:
        totals, before_cents = _apply_to_totals(session, gift, campaign_id, kind, amount_cents, occurred_at)
        apply_entry(session, gift, campaign_id, kind, amount_cents, occurred_at, before_cents)
    entry = LedgerEntry(
        gift_id=gift.id,
        campaign_id=campaign_id,
        kind=kind,
        amount_cents=amount_cents,
        currency=gift.currency,
        occurred_at=occurred_at,
        reason=reason,
        reference=reference,
        source_key=source_key,
        created_by_id=created_by_id,
    )
    session.add(entry)
    session.flush()
    if totals is not None and totals.has_matches:
        if kind == EntryKind.GIFT and before_cents == 0:
            arrived = matches.GiftForMatch(gift.received_at, gift.channel, amount_cents, gift.id)
            matches.count_new_gifts(session, campaign_id, [arrived])
        else:
            # A refund, void, correction, dispute, move or restatement can change what every later
            # gift unlocked (a freed cap, a new order): count the campaign's gifts again.
            matches.recount(session, campaign_id)
        session.flush()
    return entry


def _apply_to_totals(
    session: Session, gift: Gift, campaign_id: int, kind: EntryKind, amount_cents: int, occurred_at: datetime
) -> tuple[CampaignTotals, int]:
    """Apply an entry to the campaign's totals; returns them (locked) and what was left of the gift there before it."""
    # Lock the totals row first: it serialises every money change of this campaign, so the
    # "net before" reads below cannot race with another worker on PostgreSQL.
    totals = session.scalar(
        select(CampaignTotals).where(CampaignTotals.campaign_id == campaign_id).with_for_update()
    )
    if totals is None:
        totals = _new_totals(session, campaign_id)
        session.flush()
    gift_before = int(
        session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
                LedgerEntry.gift_id == gift.id, LedgerEntry.campaign_id == campaign_id
            )
        )
    )
    gift_step = _crossing(gift_before, gift_before + amount_cents)
    totals.raised_cents += amount_cents
    totals.gift_count += gift_step
    if gift.donor_id is None:
        # A gift with no donor record (anonymous cash) counts as one supporter of its own.
        totals.donor_count += gift_step
    else:
        row = session.get(CampaignDonorTotal, (campaign_id, gift.donor_id))
        if row is None:
            row = CampaignDonorTotal(campaign_id=campaign_id, donor_id=gift.donor_id, net_cents=0)
            session.add(row)
        donor_before = row.net_cents
        row.net_cents = donor_before + amount_cents
        totals.donor_count += _crossing(donor_before, row.net_cents)
    if kind in ARRIVAL_KINDS and (totals.last_gift_at is None or occurred_at > totals.last_gift_at):
        totals.last_gift_at = occurred_at
    totals.version += 1
    totals.updated_at = utcnow()
    return totals, gift_before


def _new_totals(session: Session, campaign_id: int) -> CampaignTotals:
    """The empty totals row of a campaign that has none yet (added to the session)."""
    has_matches = session.scalar(
        select(MatchingChallenge.id).where(MatchingChallenge.campaign_id == campaign_id).limit(1)
    ) is not None
    totals = CampaignTotals.empty(campaign_id, has_matches=has_matches)
    session.add(totals)
    return totals


def _crossing(before: int, after: int) -> int:
    """+1 when a balance becomes positive, -1 when it stops being positive, else 0."""
    if before <= 0 < after:
        return 1
    if after <= 0 < before:
        return -1
    return 0


# ------------------------------------------------------------------ totals from scratch


@dataclass(frozen=True)
class ComputedTotals:
    raised_cents: int
    gift_count: int
    donor_count: int
    last_gift_at: datetime | None


@dataclass(frozen=True)
class TotalsDifference:
    campaign_id: int
    slug: str
    field: str
    stored: object
    computed: object


def compute_totals(session: Session) -> dict[int, ComputedTotals]:
    """Recompute every campaign's totals straight from the ledger (slow, for checks only)."""
    raised = dict(
        session.execute(
            select(LedgerEntry.campaign_id, func.sum(LedgerEntry.amount_cents))
            .where(LedgerEntry.campaign_id.is_not(None))
            .group_by(LedgerEntry.campaign_id)
        ).all()
    )
    last = dict(
        session.execute(
            select(LedgerEntry.campaign_id, func.max(LedgerEntry.occurred_at))
            .where(LedgerEntry.campaign_id.is_not(None), LedgerEntry.kind.in_(ARRIVAL_KINDS))
            .group_by(LedgerEntry.campaign_id)
        ).all()
    )
    per_gift = (
        select(
            LedgerEntry.campaign_id.label("campaign_id"),
            Gift.donor_id.label("donor_id"),
            func.sum(LedgerEntry.amount_cents).label("net"),
        )
        .join(Gift, Gift.id == LedgerEntry.gift_id)
        .where(LedgerEntry.campaign_id.is_not(None))
        .group_by(LedgerEntry.campaign_id, LedgerEntry.gift_id, Gift.donor_id)
        .subquery()
    )
    gift_counts = dict(
        session.execute(
            select(per_gift.c.campaign_id, func.count())
            .where(per_gift.c.net > 0)
            .group_by(per_gift.c.campaign_id)
        ).all()
    )
    anonymous_counts = dict(
        session.execute(
            select(per_gift.c.campaign_id, func.count())
            .where(per_gift.c.net > 0, per_gift.c.donor_id.is_(None))
            .group_by(per_gift.c.campaign_id)
        ).all()
    )
    per_donor = (
        select(per_gift.c.campaign_id, per_gift.c.donor_id, func.sum(per_gift.c.net).label("net"))
        .where(per_gift.c.donor_id.is_not(None))
        .group_by(per_gift.c.campaign_id, per_gift.c.donor_id)
        .subquery()
    )
    donor_counts = dict(
        session.execute(
            select(per_donor.c.campaign_id, func.count())
            .where(per_donor.c.net > 0)
            .group_by(per_donor.c.campaign_id)
        ).all()
    )
    result = {}
    for campaign_id in session.scalars(select(Campaign.id)):
        result[campaign_id] = ComputedTotals(
            raised_cents=int(raised.get(campaign_id) or 0),
            gift_count=int(gift_counts.get(campaign_id, 0)),
            donor_count=int(donor_counts.get(campaign_id, 0)) + int(anonymous_counts.get(campaign_id, 0)),
            last_gift_at=last.get(campaign_id),
        )
    return result


def _donor_nets(session: Session) -> dict[tuple[int, int], int]:
    rows = session.execute(
        select(LedgerEntry.campaign_id, Gift.donor_id, func.sum(LedgerEntry.amount_cents))
        .join(Gift, Gift.id == LedgerEntry.gift_id)
        .where(LedgerEntry.campaign_id.is_not(None), Gift.donor_id.is_not(None))
        .group_by(LedgerEntry.campaign_id, Gift.donor_id)
    ).all()
    return {(c, d): int(n) for c, d, n in rows}


def verify_totals(session: Session) -> list[TotalsDifference]:
    """Every difference between the stored totals (and matches' unlocked amounts) and a recomputation
    from the ledger."""
    computed = compute_totals(session)
    slugs = dict(session.execute(select(Campaign.id, Campaign.slug)).all())
    stored = {t.campaign_id: t for t in session.scalars(select(CampaignTotals))}
    differences: list[TotalsDifference] = []
    for campaign_id, want in computed.items():
        have = stored.get(campaign_id)
        for name in ("raised_cents", "gift_count", "donor_count", "last_gift_at"):
            have_value = getattr(have, name) if have else (None if name == "last_gift_at" else 0)
            want_value = getattr(want, name)
            if have_value != want_value:
                differences.append(TotalsDifference(campaign_id, slugs[campaign_id], name, have_value, want_value))
    stored_nets = {
        (r.campaign_id, r.donor_id): r.net_cents for r in session.scalars(select(CampaignDonorTotal))
    }
    wanted_nets = _donor_nets(session)
    for key in sorted(set(stored_nets) | set(wanted_nets)):
        if stored_nets.get(key, 0) != wanted_nets.get(key, 0):
            differences.append(
                TotalsDifference(
                    key[0], slugs.get(key[0], "?"), f"donor {key[1]} net_cents",
                    stored_nets.get(key, 0), wanted_nets.get(key, 0),
                )
            )
    for stale in matches.stale_matches(session):
        name = stale.field if stale.field == "has_matches" else f"match {stale.match_id} {stale.field}"
        differences.append(
            TotalsDifference(stale.campaign_id, slugs.get(stale.campaign_id, "?"), name, stale.stored, stale.computed)
        )
    return differences


def rebuild_totals(session: Session) -> None:
    """Overwrite every cached total (and matches' unlocked amounts) with a recomputation from the
    ledger (the ledger is the truth)."""
    computed = compute_totals(session)
    now = utcnow()
    for campaign_id, want in computed.items():
        totals = session.get(CampaignTotals, campaign_id, with_for_update=True)
        if totals is None:
            totals = CampaignTotals(campaign_id=campaign_id, version=0)
            session.add(totals)
        totals.raised_cents = want.raised_cents
        totals.gift_count = want.gift_count
        totals.donor_count = want.donor_count
        totals.last_gift_at = want.last_gift_at
        totals.version = (totals.version or 0) + 1
        totals.updated_at = now
    wanted_nets = _donor_nets(session)
    for row in session.scalars(select(CampaignDonorTotal)):
        row.net_cents = wanted_nets.pop((row.campaign_id, row.donor_id), 0)
    for (campaign_id, donor_id), net in wanted_nets.items():
        session.add(CampaignDonorTotal(campaign_id=campaign_id, donor_id=donor_id, net_cents=net))
    session.flush()
    matches.recount_all(session)


def remove_sample_gifts(session: Session) -> int:
    """Delete the demo's sample gifts with their entries, credits and queued emails, then rebuild
    every cached total and rollup from the ledger that is left; returns the gifts removed.

    The one place gifts are ever deleted: sample data is not money anybody gave. Real gifts are
    never touched (a mistake in one is corrected or voided by a new entry)."""
    from .models import GiftCredit, OutboxMessage
    from .rollups import rebuild_rollups

    sample = select(Gift.id).where(Gift.is_sample.is_(True))
    count = session.scalar(select(func.count()).select_from(sample.subquery())) or 0
    quick = {"synchronize_session": False}
    session.execute(delete(LedgerEntry).where(LedgerEntry.gift_id.in_(sample)), execution_options=quick)
    session.execute(delete(GiftCredit).where(GiftCredit.gift_id.in_(sample)), execution_options=quick)
    session.execute(delete(OutboxMessage).where(OutboxMessage.gift_id.in_(sample)), execution_options=quick)
    session.execute(delete(Gift).where(Gift.is_sample.is_(True)), execution_options=quick)
    session.expire_all()
    rebuild_rollups(session)
    rebuild_totals(session)
    return count


def recent_gift_count(session: Session, campaign_id: int, since: datetime) -> int:
    """Gifts that arrived for a campaign since a moment (e.g. "12 gifts in the last hour")."""
    return int(
        session.scalar(
            select(func.count()).where(
                LedgerEntry.campaign_id == campaign_id,
                LedgerEntry.kind == EntryKind.GIFT,
                LedgerEntry.occurred_at >= since,
            )
        )
    )


def ensure_totals(session: Session, campaign: Campaign) -> CampaignTotals:
    """The totals row of a new campaign, created empty."""
    totals = session.get(CampaignTotals, campaign.id)
    if totals is None:
        totals = _new_totals(session, campaign.id)
        session.flush()
    return totals

