"""Card disputes and inquiries: the ledger follows the money as Stripe moves it.

A dispute withdraws the disputed amount from the balance (with a dispute fee) and, if won,
reinstates it; Stripe lists both on the Dispute as `balance_transactions` and announces them
with `charge.dispute.funds_withdrawn` / `funds_reinstated`. Every dispute event is read the same
way: whatever the dispute says moved (its balance transactions, or a status that means the same)
and the ledger has not recorded yet is recorded now, once. So events may arrive in any order or
twice: a withdrawal happens at most once per dispute, a reinstatement at most once and only
after a withdrawal, each with a unique source key.

An inquiry (status `warning_*`) is the card network asking questions: no money moves, the gift
keeps counting in full, and staff see "inquiry open" / "inquiry closed" on the gift. The dispute
fee is a cost of the gift (GiftCost), never a reduction of what was raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import ledger
from ..models import CostKind, EntryKind, Gift, GiftCost, LedgerEntry, StripeDispute, StripeEvent
from .stripe import BalanceLine, balance_line

if TYPE_CHECKING:
    from .webhooks import Outcome

INQUIRY_OPEN = ("warning_needs_response", "warning_under_review")
# Statuses in which the disputed amount has been taken from the balance.
WITHDRAWN_STATUSES = ("needs_response", "under_review", "won", "lost")
# How far a case has gone: a status never goes back to a lower rank (events come in any order).
RANK = {
    "warning_needs_response": 0, "warning_under_review": 0, "warning_closed": 1,
    "needs_response": 2, "under_review": 2, "won": 3, "lost": 3, "prevented": 3,
}
LABELS = {
    "warning_needs_response": "Inquiry open: the bank asks for information (no money taken)",
    "warning_under_review": "Inquiry open: under review (no money taken)",
    "warning_closed": "Inquiry closed (no money was taken)",
    "needs_response": "Dispute open: evidence needed; the amount is withdrawn",
    "under_review": "Dispute open: under review; the amount is withdrawn",
    "won": "Dispute won: the amount was returned",
    "lost": "Dispute lost: the amount stays withdrawn",
    "prevented": "Dispute prevented",
}


def on_dispute(session: Session, dispute: dict, row: StripeEvent) -> Outcome:
    """Any charge.dispute.* event: track the case, then record the money it says moved."""
    from .webhooks import Outcome, _created, _gift_for_charge, _id

    gift = _gift_for_charge(session, _id(dispute.get("payment_intent")), _id(dispute.get("charge")))
    case = _track(session, gift, dispute, row)
    txns = [balance_line(t) for t in dispute.get("balance_transactions") or [] if isinstance(t, dict) and t.get("id")]
    taken = [t for t in txns if t.gross_cents < 0]
    returned = [t for t in txns if t.gross_cents > 0]
    status = str(dispute.get("status") or "")
    when = _created(dispute, row)
    done: list[str] = []

    withdrawal = _entry(session, dispute["id"], EntryKind.DISPUTE)
    if withdrawal is None and (taken or status in WITHDRAWN_STATUSES or row.type == "charge.dispute.funds_withdrawn"):
        amount = min(int(dispute.get("amount") or 0), ledger.gift_net(session, gift))
        if amount > 0:
            key = f"stripe:{taken[0].id}" if taken else f"stripe:{dispute['id']}:withdrawn"
            withdrawal = ledger.record_dispute(
                session, gift, amount, occurred_at=taken[0].created_at if taken else when,
                reference=dispute["id"], source_key=key,
            )
            done.append(f"withdrew {amount}")
    reinstated = _entry(session, dispute["id"], EntryKind.DISPUTE_WON)
    wants_return = returned or status == "won" or row.type == "charge.dispute.funds_reinstated"
    if reinstated is None and withdrawal is not None and wants_return:
        amount = -withdrawal.amount_cents
        if returned and returned[0].currency == gift.currency:
            amount = min(amount, returned[0].gross_cents)
        key = f"stripe:{returned[0].id}" if returned else f"stripe:{dispute['id']}:won"
        reinstated = ledger.record_dispute_won(
            session, gift, amount, occurred_at=returned[0].created_at if returned else when,
            reference=dispute["id"], source_key=key,
        )
        done.append(f"restored {amount}")
    for txn, entry in [(t, withdrawal) for t in taken] + [(t, reinstated) for t in returned]:
        if txn.fee_cents and _record_fee(session, gift, txn, entry):
            done.append(f"fee {txn.fee_cents} {txn.currency}")
    what = "inquiry" if case.is_inquiry else "dispute"
    return Outcome(f"{what} {dispute['id']} on gift {gift.id} is {case.status}" + (f": {', '.join(done)}" if done else ""))


def _track(session: Session, gift: Gift, dispute: dict, row: StripeEvent) -> StripeDispute:
    """Where the case stands, never moved back by an event that arrives late."""
    from .webhooks import _created

    status = str(dispute.get("status") or "")[:40]
    case = session.scalar(select(StripeDispute).where(StripeDispute.stripe_dispute_id == dispute["id"]))
    if case is None:
        case = StripeDispute(
            stripe_dispute_id=dispute["id"], gift_id=gift.id, status=status, opened_at=_created(dispute, row),
            stripe_updated_at=row.stripe_created_at, amount_cents=int(dispute.get("amount") or 0),
            currency=str(dispute.get("currency") or gift.currency).upper(), reason=str(dispute.get("reason") or "")[:60],
            is_inquiry=status.startswith("warning_"),
        )
        session.add(case)
        session.flush()
        return case
    old, new = RANK.get(case.status, 0), RANK.get(status, 0)
    if new > old or (new == old and row.stripe_created_at >= case.stripe_updated_at):
        case.status = status
        case.is_inquiry = status.startswith("warning_")
        case.amount_cents = int(dispute.get("amount") or case.amount_cents)
        case.reason = str(dispute.get("reason") or case.reason)[:60]
        case.stripe_updated_at = max(case.stripe_updated_at, row.stripe_created_at)
    return case


def _entry(session: Session, dispute_id: str, kind: EntryKind) -> LedgerEntry | None:
    return session.scalar(
        select(LedgerEntry).where(LedgerEntry.reference == dispute_id, LedgerEntry.kind == kind).limit(1)
    )


def _record_fee(session: Session, gift: Gift, txn: BalanceLine, entry: LedgerEntry | None) -> bool:
    known = session.scalar(select(GiftCost.id).where(GiftCost.stripe_balance_transaction_id == txn.id))
    if known is not None:
        return False
    ledger.record_cost(
        session, gift, CostKind.DISPUTE_FEE, txn.fee_cents, currency=txn.currency, occurred_at=txn.created_at,
        balance_transaction_id=txn.id, entry=entry,
        description="Dispute fee" if txn.fee_cents > 0 else "Dispute fee returned",
    )
    return True


@dataclass(frozen=True)
class CaseView:
    """A dispute or inquiry as staff read it on the gift page."""

    case: StripeDispute
    title: str
    text: str


def cases_for_gift(session: Session, gift: Gift) -> list[CaseView]:
    """The gift's disputes and inquiries with what each means, for the staff gift page."""
    cases = session.scalars(select(StripeDispute).where(StripeDispute.gift_id == gift.id).order_by(StripeDispute.id))
    return [
        CaseView(case, "Inquiry" if case.status.startswith("warning_") else "Dispute",
                 LABELS.get(case.status, f"Dispute: {case.status}"))
        for case in cases
    ]


def costs_for_gift(session: Session, gift: Gift) -> list[GiftCost]:
    return list(session.scalars(select(GiftCost).where(GiftCost.gift_id == gift.id).order_by(GiftCost.id)))


def costs_by_gift(session: Session, gift_ids: list[int]) -> dict[int, dict[str, int]]:
    """Each gift's costs summed per currency (for exports), in one query."""
    result: dict[int, dict[str, int]] = {}
    for start in range(0, len(gift_ids), 500):
        rows = session.execute(
            select(GiftCost.gift_id, GiftCost.currency, GiftCost.amount_cents)
            .where(GiftCost.gift_id.in_(gift_ids[start:start + 500]))
        )
        for gift_id, currency, amount in rows:
            per = result.setdefault(gift_id, {})
            per[currency] = per.get(currency, 0) + amount
    return result


HANDLERS = {
    "charge.dispute.created": on_dispute,
    "charge.dispute.updated": on_dispute,
    "charge.dispute.closed": on_dispute,
    "charge.dispute.funds_withdrawn": on_dispute,
    "charge.dispute.funds_reinstated": on_dispute,
}
