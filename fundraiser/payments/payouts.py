"""Bank deposits (Stripe payouts) and the balance transactions each one paid out, for the books.

A `payout.*` event only records the payout (amount, arrival date, status) in the event's own
transaction. Its lines are listed from Stripe afterwards, with no database transaction open
while Stripe answers (`fetch_due_lines`: after each round of events, `flask fetch-payouts`, and
the button on the staff page), once Stripe says the payout is paid and reconciled. Each line is
linked to the gift and ledger entry it belongs to where it is ours; lines that are not (Stripe's
own fees, adjustments) are kept as well, so a payout's lines always add up to what reached the bank.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from .. import ledger
from ..db import new_session, utcnow
from ..models import (
    Campaign,
    EntryKind,
    Gift,
    LedgerEntry,
    Payout,
    PayoutLine,
    StripeDispute,
    StripeEvent,
)
from ..money import from_cents
from .stripe import BalanceLine, PaymentError, list_payout_lines

if TYPE_CHECKING:
    from .webhooks import Outcome

log = logging.getLogger(__name__)

# A status never goes back to a lower rank; a paid payout can still fail later (Stripe says so).
RANK = {"pending": 0, "in_transit": 1, "paid": 2, "canceled": 2, "failed": 3}
CHARGE_TYPES = ("charge", "payment")
REFUND_TYPES = ("refund", "payment_refund")
MAX_BACKOFF = timedelta(hours=6)


def on_payout(session: Session, payout: dict, row: StripeEvent) -> Outcome:
    """Any payout.* event: record or update the deposit; its lines are fetched after the commit."""
    from .webhooks import Outcome

    status = str(payout.get("status") or "pending")[:24]
    record = session.scalar(select(Payout).where(Payout.stripe_payout_id == payout["id"]))
    if record is None:
        record = Payout(
            stripe_payout_id=payout["id"], amount_cents=int(payout.get("amount") or 0),
            currency=str(payout.get("currency") or "usd").upper(), status=status,
            arrival_date=_arrival(payout), automatic=bool(payout.get("automatic", True)),
            reconciliation_status=payout.get("reconciliation_status"),
            description=str(payout.get("description") or "")[:200], stripe_updated_at=row.stripe_created_at,
        )
        session.add(record)
    else:
        old, new = RANK.get(record.status, 0), RANK.get(status, 0)
        if new > old or (new == old and row.stripe_created_at >= record.stripe_updated_at):
            record.status = status
            record.amount_cents = int(payout.get("amount") or record.amount_cents)
            record.arrival_date = _arrival(payout)
            record.stripe_updated_at = max(record.stripe_updated_at, row.stripe_created_at)
        if record.reconciliation_status != "completed" and payout.get("reconciliation_status"):
            record.reconciliation_status = payout["reconciliation_status"]
    if row.type == "payout.reconciliation_completed":
        record.reconciliation_status = "completed"
    if is_listable(record) and record.lines_fetched_at is None:
        record.next_fetch_at = utcnow()
    session.flush()
    return Outcome(f"payout {payout['id']} is {record.status}")


def _arrival(payout: dict) -> date:
    # Stripe gives the arrival day as midnight UTC of that day.
    return datetime.fromtimestamp(int(payout.get("arrival_date") or payout.get("created") or 0), UTC).date()


def is_listable(payout: Payout) -> bool:
    """Stripe lists the transactions of an automatic payout once it is paid and reconciled."""
    return payout.automatic and payout.status == "paid" and payout.reconciliation_status in ("completed", None)


@dataclass(frozen=True)
class FetchReport:
    fetched: int
    failed: int


def fetch_due_lines(payout_ids: list[int] | None = None, *, now: bool = False) -> FetchReport:
    """List the lines of paid payouts that lack them (the ones given, or every one that is due;
    `now` skips the back-off, for a person asking). Stripe is asked with no transaction open."""
    query = select(Payout.id, Payout.stripe_payout_id).where(
        Payout.lines_fetched_at.is_(None), Payout.status == "paid", Payout.automatic.is_(True),
        or_(Payout.reconciliation_status.is_(None), Payout.reconciliation_status == "completed"),
    )
    if payout_ids is not None:
        query = query.where(Payout.id.in_(payout_ids))
    if not now:
        query = query.where(or_(Payout.next_fetch_at.is_(None), Payout.next_fetch_at <= utcnow()))
    with new_session() as session:
        due = session.execute(query.order_by(Payout.id).limit(50)).all()
    fetched = failed = 0
    for payout_id, stripe_id in due:
        try:
            lines = list_payout_lines(stripe_id)
        except PaymentError as exc:
            log.warning("Could not list the lines of payout %s: %s", stripe_id, exc.message)
            _postpone(payout_id, exc.message)
            failed += 1
            continue
        with new_session(write=True) as session:
            payout = session.get(Payout, payout_id, with_for_update=True)
            if payout.lines_fetched_at is None:
                store_lines(session, payout, lines)
                session.commit()
        fetched += 1
    return FetchReport(fetched, failed)


def _postpone(payout_id: int, error: str) -> None:
    with new_session(write=True) as session:
        payout = session.get(Payout, payout_id)
        payout.fetch_attempts += 1
        payout.last_error = error[:500]
        payout.next_fetch_at = utcnow() + min(timedelta(minutes=2 ** min(payout.fetch_attempts, 10)), MAX_BACKOFF)
        session.commit()


def store_lines(session: Session, payout: Payout, lines: list[BalanceLine]) -> int:
    """Keep a payout's balance transactions as lines linked to our gifts; returns how many are new.

    The payout's own transaction (the money leaving for the bank) is not a line. A charge line
    also fills in its gift's fee, net and settlement currency if those are still unknown.
    """
    known = set(session.scalars(select(PayoutLine.stripe_balance_transaction_id).where(PayoutLine.payout_id == payout.id)))
    added = 0
    for line in lines:
        if line.id in known or (line.type == "payout" and line.source_id == payout.stripe_payout_id):
            continue
        gift, entry = _match(session, line)
        session.add(PayoutLine(
            payout_id=payout.id, stripe_balance_transaction_id=line.id, type=line.type[:40],
            reporting_category=line.reporting_category[:40], gross_cents=line.gross_cents, fee_cents=line.fee_cents,
            net_cents=line.net_cents, currency=line.currency or payout.currency, exchange_rate=line.exchange_rate,
            source_id=line.source_id, description=line.description[:500], occurred_at=line.created_at,
            gift_id=gift.id if gift else None, ledger_entry_id=entry.id if entry else None,
        ))
        known.add(line.id)
        added += 1
        if gift is not None and line.type in CHARGE_TYPES and gift.fee_cents is None:
            ledger.set_fee(session, gift, line.fee_cents, currency=line.currency, net_cents=line.net_cents,
                           exchange_rate=line.exchange_rate, balance_transaction_id=line.id)
    payout.lines_fetched_at = utcnow()
    payout.last_error = None
    session.flush()
    return added


def _gift(session: Session, charge_id: str | None, intent_id: str | None) -> Gift | None:
    conditions = []
    if charge_id:
        conditions.append(Gift.stripe_charge_id == charge_id)
    if intent_id:
        conditions.append(Gift.stripe_payment_intent_id == intent_id)
    return session.scalar(select(Gift).where(or_(*conditions)).order_by(Gift.id).limit(1)) if conditions else None


def _match(session: Session, line: BalanceLine) -> tuple[Gift | None, LedgerEntry | None]:
    """The gift and ledger entry a balance transaction is about, where we have them."""
    source = line.source_id or ""
    is_dispute = line.source_object == "dispute" or source.startswith(("dp_", "du_"))
    gift = _gift(session, line.charge_id, line.payment_intent_id)
    if gift is None and is_dispute:
        case = session.scalar(select(StripeDispute).where(StripeDispute.stripe_dispute_id == source))
        gift = session.get(Gift, case.gift_id) if case else None
    if gift is None:
        return None, None
    entries = select(LedgerEntry).where(LedgerEntry.gift_id == gift.id).order_by(LedgerEntry.id)
    if line.type in CHARGE_TYPES:
        return gift, session.scalar(entries.where(LedgerEntry.kind == EntryKind.GIFT).limit(1))
    if is_dispute:
        entry = session.scalar(select(LedgerEntry).where(LedgerEntry.source_key == f"stripe:{line.id}"))
        kind = EntryKind.DISPUTE if line.gross_cents < 0 else EntryKind.DISPUTE_WON
        return gift, entry or session.scalar(entries.where(LedgerEntry.reference == source, LedgerEntry.kind == kind).limit(1))
    if line.type in REFUND_TYPES or line.source_object == "refund":
        refunds = entries.where(LedgerEntry.kind == EntryKind.REFUND)
        by_id = session.scalar(
            refunds.where(or_(LedgerEntry.reference == source, LedgerEntry.source_key.contains(source))).limit(1)
        ) if source else None
        if by_id is not None or line.currency != gift.currency:
            return gift, by_id
        linked = select(PayoutLine.ledger_entry_id).where(PayoutLine.ledger_entry_id.is_not(None))
        return gift, session.scalar(
            refunds.where(LedgerEntry.amount_cents == line.gross_cents, LedgerEntry.id.not_in(linked)).limit(1)
        )
    return gift, None


# ------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class PayoutSummary:
    """A payout as the list shows it, with the check that its lines add up to the deposit."""

    payout: Payout
    line_count: int
    lines_net_cents: int

    @property
    def fetched(self) -> bool:
        return self.payout.lines_fetched_at is not None

    @property
    def balanced(self) -> bool:
        return self.fetched and self.lines_net_cents == self.payout.amount_cents

    @property
    def difference_cents(self) -> int:
        return self.payout.amount_cents - self.lines_net_cents


def summaries(session: Session, *, limit: int = 200) -> list[PayoutSummary]:
    """Newest deposits first, each with its number of lines and their net sum."""
    sums = (
        select(PayoutLine.payout_id, func.count().label("n"), func.sum(PayoutLine.net_cents).label("net"))
        .group_by(PayoutLine.payout_id).subquery()
    )
    rows = session.execute(
        select(Payout, func.coalesce(sums.c.n, 0), func.coalesce(sums.c.net, 0))
        .outerjoin(sums, sums.c.payout_id == Payout.id)
        .order_by(Payout.arrival_date.desc(), Payout.id.desc()).limit(limit)
    ).all()
    return [PayoutSummary(p, int(n), int(net)) for p, n, net in rows]


def summary(session: Session, payout: Payout) -> PayoutSummary:
    n, net = session.execute(
        select(func.count(), func.coalesce(func.sum(PayoutLine.net_cents), 0)).where(PayoutLine.payout_id == payout.id)
    ).one()
    return PayoutSummary(payout, int(n), int(net))


def needing_attention(session: Session, *, attempts: int = 3) -> tuple[list[PayoutSummary], list[Payout]]:
    """Payouts whose lines do not add up to the deposit, and paid ones Stripe failed to list
    several times (doctor reports both)."""
    unbalanced = [s for s in summaries(session, limit=1000) if s.fetched and not s.balanced]
    unlisted = list(session.scalars(
        select(Payout).where(Payout.lines_fetched_at.is_(None), Payout.fetch_attempts >= attempts).order_by(Payout.id)
    ))
    return unbalanced, unlisted


@dataclass(frozen=True)
class LineView:
    """One payout line with the names a bookkeeper reads."""

    line: PayoutLine
    payout: Payout
    donor_name: str
    campaign_title: str

    @property
    def kind(self) -> str:
        return TYPE_NAMES.get(self.line.reporting_category) or TYPE_NAMES.get(self.line.type) or self.line.type


TYPE_NAMES = {
    "charge": "Gift", "payment": "Gift", "refund": "Refund", "payment_refund": "Refund",
    "dispute": "Dispute withdrawal", "dispute_reversal": "Dispute reinstated", "fee": "Stripe fee",
    "stripe_fee": "Stripe fee", "adjustment": "Adjustment", "other_adjustment": "Adjustment",
}


def line_views(session: Session, payouts: list[Payout]) -> list[LineView]:
    """The lines of these payouts in order, with donor and campaign (where credited now)."""
    by_id = {p.id: p for p in payouts}
    if not by_id:
        return []
    lines = list(session.scalars(
        select(PayoutLine).where(PayoutLine.payout_id.in_(list(by_id)))
        .options(selectinload(PayoutLine.gift).selectinload(Gift.donor))
        .order_by(PayoutLine.payout_id, PayoutLine.id)
    ))
    titles = dict(session.execute(select(Campaign.id, Campaign.title)).all())
    moved = _moved_to(session, list({line.gift_id for line in lines if line.gift_id}))
    views = []
    for line in lines:
        gift = line.gift
        campaign_id = moved.get(gift.id, gift.campaign_id) if gift else None
        views.append(LineView(
            line, by_id[line.payout_id], gift.donor.name if gift and gift.donor else "",
            titles.get(campaign_id, "Unattributed" if gift else ""),
        ))
    return views


def _moved_to(session: Session, gift_ids: list[int]) -> dict[int, int | None]:
    """Where each of these gifts was last moved (ledger.current_campaign_id, for many at once)."""
    result: dict[int, int | None] = {}
    for start in range(0, len(gift_ids), 500):
        last = (
            select(func.max(LedgerEntry.id))
            .where(LedgerEntry.kind == EntryKind.REASSIGN_IN, LedgerEntry.gift_id.in_(gift_ids[start:start + 500]))
            .group_by(LedgerEntry.gift_id)
        )
        result.update(session.execute(select(LedgerEntry.gift_id, LedgerEntry.campaign_id).where(LedgerEntry.id.in_(last))).all())
    return result


def lines_for_gift(session: Session, gift: Gift) -> list[PayoutLine]:
    """The payout lines a gift appears on (its charge, a refund, a dispute), for its staff page."""
    return list(session.scalars(
        select(PayoutLine).where(PayoutLine.gift_id == gift.id).options(selectinload(PayoutLine.payout)).order_by(PayoutLine.id)
    ))


def payouts_arriving(session: Session, start: date | None, end: date | None) -> list[Payout]:
    """Payouts that arrived in a date range (either end open), oldest first, for the books."""
    query = select(Payout)
    if start is not None:
        query = query.where(Payout.arrival_date >= start)
    if end is not None:
        query = query.where(Payout.arrival_date <= end)
    return list(session.scalars(query.order_by(Payout.arrival_date, Payout.id)))


CSV_HEADER = [
    "payout_id", "arrival_date", "type", "gross", "fee", "net", "currency", "exchange_rate", "gift_id", "donor",
    "campaign", "date", "description", "balance_transaction", "source",
]


def csv_rows(views: list[LineView], tz) -> list[list[object]]:
    """Rows for the fiscal sponsor's books: amounts as plain decimal numbers in the payout's currency."""
    return [
        [
            v.payout.stripe_payout_id, v.payout.arrival_date.isoformat(), v.kind, _amount(v.line.gross_cents, v.line.currency),
            _amount(v.line.fee_cents, v.line.currency), _amount(v.line.net_cents, v.line.currency), v.line.currency,
            v.line.exchange_rate, v.line.gift_id, v.donor_name, v.campaign_title,
            v.line.occurred_at.astimezone(tz).date().isoformat(), v.line.description,
            v.line.stripe_balance_transaction_id, v.line.source_id,
        ]
        for v in views
    ]


def _amount(cents: int, currency: str) -> Decimal:
    return from_cents(cents, currency)


def parse_day(text: str | None) -> date | None:
    """A yyyy-mm-dd date from a query string, or None when absent or unreadable."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


HANDLERS = {
    "payout.created": on_payout,
    "payout.updated": on_payout,
    "payout.paid": on_payout,
    "payout.failed": on_payout,
    "payout.canceled": on_payout,
    "payout.reconciliation_completed": on_payout,
}
