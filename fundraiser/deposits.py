"""Numbered bank deposits: checks and cash gathered into a batch as they come in the mail, and the
batch closed once its checks add up to the deposit slip.

A gift keeps its own received date: the batch only says which trip to the bank it went on, so a
check received on 30 December stays in that year's giving even when it is deposited in January.
Staff either add checks already entered (one at a time, from the gift form) or enter new ones
straight into the batch (gifts.parse_batch / record_batch: all rows or none). Everything is audit
logged; domain functions flush, the view commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import audit
from .audit import Actor
from .db import utcnow
from .models import DepositBatch, DepositStatus, Gift, GiftChannel, GiftMethod, LedgerEntry
from .money import MoneyError, format_money, parse_amount
from .statements import GiftLine, gift_lines

DEPOSIT_METHODS = (GiftMethod.CHECK, GiftMethod.CASH)
CANDIDATE_LIMIT = 200
MEMO_MAX = 500
NUMBER_ATTEMPTS = 5
BATCH_FIELDS = ("number", "status", "currency", "slip_total_cents", "memo")


class DepositError(ValueError):
    """Something about a deposit a person can fix; the message says what."""


@dataclass(frozen=True)
class BatchSummary:
    batch: DepositBatch
    gift_count: int
    total_cents: int


def open_batch(session: Session, actor: Actor, currency: str, memo: str = "") -> DepositBatch:
    """Start the next numbered deposit, open for checks."""
    currency = (currency or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise DepositError("Please choose the deposit's currency.")
    for attempt in range(NUMBER_ATTEMPTS):
        # Two people opening deposits at once on PostgreSQL both see the same highest number; the
        # second insert then fails on the unique number and takes the next one, inside a savepoint
        # so the rest of the request's work stays.
        number = (session.scalar(select(func.max(DepositBatch.number))) or 0) + 1
        batch = DepositBatch(
            number=number, currency=currency, memo=memo.strip()[:MEMO_MAX], status=DepositStatus.OPEN,
            opened_by_id=actor.user_id, opened_at=utcnow(),
        )
        try:
            with session.begin_nested():
                session.add(batch)
        except IntegrityError:
            if attempt == NUMBER_ATTEMPTS - 1:
                raise DepositError("Someone else opened deposits at the same moment; please try again.") from None
            continue
        break
    audit.record(session, actor, "deposit.open", "deposit", batch.id, after=audit.snapshot(batch, BATCH_FIELDS))
    return batch


def _net_of_gift():
    return (
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
        .where(LedgerEntry.gift_id == Gift.id)
        .correlate(Gift)
        .scalar_subquery()
    )


def summaries(session: Session) -> list[BatchSummary]:
    """Every deposit, newest first, with how many checks it holds and what they add up to now."""
    nets = (
        select(LedgerEntry.gift_id, func.sum(LedgerEntry.amount_cents).label("net"))
        .group_by(LedgerEntry.gift_id)
        .subquery()
    )
    per_batch = (
        select(Gift.deposit_batch_id, func.count(Gift.id), func.coalesce(func.sum(nets.c.net), 0))
        .outerjoin(nets, nets.c.gift_id == Gift.id)
        .where(Gift.deposit_batch_id.is_not(None))
        .group_by(Gift.deposit_batch_id)
    )
    counts = {batch_id: (int(n), int(total)) for batch_id, n, total in session.execute(per_batch)}
    batches = session.scalars(select(DepositBatch).order_by(DepositBatch.number.desc()))
    return [BatchSummary(b, *counts.get(b.id, (0, 0))) for b in batches]


def lines(session: Session, batch: DepositBatch) -> list[GiftLine]:
    """The checks and cash in a deposit, in the order they were received."""
    return gift_lines(session, Gift.deposit_batch_id == batch.id)


def total_cents(session: Session, batch: DepositBatch) -> int:
    """What the deposit's gifts add up to now (a corrected amount counts as corrected, a void as nothing)."""
    return sum(line.net_cents for line in lines(session, batch))


def candidates(session: Session, batch: DepositBatch) -> list[GiftLine]:
    """Checks and cash already entered, in the deposit's currency, not yet in any deposit: newest first."""
    where = (
        Gift.deposit_batch_id.is_(None) & Gift.channel.in_((GiftChannel.OFFLINE, GiftChannel.EVENT))
        & Gift.method.in_(DEPOSIT_METHODS) & (Gift.currency == batch.currency) & (_net_of_gift() > 0)
    )
    return gift_lines(session, where, limit=CANDIDATE_LIMIT, newest_first=True)


def _require_open(batch: DepositBatch) -> None:
    if batch.status != DepositStatus.OPEN:
        raise DepositError(f"Deposit {batch.number} is closed; open a new deposit for these checks.")


def add_gifts(session: Session, actor: Actor, batch: DepositBatch, gift_ids: list[int]) -> int:
    """Put checks already entered into an open deposit; a gift already in another deposit is refused."""
    _require_open(batch)
    if not gift_ids:
        raise DepositError("Please tick the checks to add to this deposit.")
    allowed = {line.gift.id for line in candidates(session, batch)}
    wrong = sorted(set(gift_ids) - allowed)
    if wrong:
        raise DepositError(
            f"Gift {wrong[0]} can't go in this deposit: it is already in a deposit, voided, not a check or cash, "
            f"or not in {batch.currency}. Nothing was added."
        )
    # Only rows still outside any deposit move: two people adding the same check at once can't both win.
    moved = session.execute(
        update(Gift).where(Gift.id.in_(gift_ids), Gift.deposit_batch_id.is_(None)).values(deposit_batch_id=batch.id),
        execution_options={"synchronize_session": False},
    ).rowcount
    if moved != len(set(gift_ids)):
        raise DepositError("Someone else just put one of these checks in a deposit; nothing was added. Please try again.")
    session.expire_all()
    for gift_id in sorted(set(gift_ids)):
        audit.record(session, actor, "deposit.add", "gift", gift_id, before={"deposit": None}, after={"deposit": batch.number})
    return moved


def remove_gift(session: Session, actor: Actor, batch: DepositBatch, gift: Gift) -> None:
    """Take a check back out of an open deposit (it was put in by mistake); the gift itself stays."""
    _require_open(batch)
    if gift.deposit_batch_id != batch.id:
        raise DepositError(f"Gift {gift.id} isn't in deposit {batch.number}.")
    gift.deposit_batch_id = None
    session.flush()
    audit.record(session, actor, "deposit.remove", "gift", gift.id, before={"deposit": batch.number}, after={"deposit": None})


def parse_slip(text: str, currency: str) -> int:
    """The deposit slip total as typed, in cents."""
    try:
        return parse_amount(text, currency)
    except MoneyError as exc:
        raise DepositError(f"Deposit slip total: {exc}") from None


def close_batch(session: Session, actor: Actor, batch: DepositBatch, slip: int, memo: str | None = None) -> None:
    """Close a deposit once its checks add up to the slip total; otherwise say by how much they don't."""
    _require_open(batch)
    entered = lines(session, batch)
    if not entered:
        raise DepositError("This deposit has no checks yet; add or enter them before closing it.")
    total = sum(line.net_cents for line in entered)
    if total != slip:
        diff = total - slip
        raise DepositError(
            f"The deposit stays open: its {len(entered)} gift{'s' if len(entered) != 1 else ''} add up to "
            f"{format_money(total, batch.currency)} but the slip says {format_money(slip, batch.currency)} "
            f"({'over' if diff > 0 else 'short'} by {format_money(abs(diff), batch.currency)}). "
            "Check the amounts (a missing or extra check?), or the slip total."
        )
    before = audit.snapshot(batch, BATCH_FIELDS)
    batch.slip_total_cents = slip
    if memo is not None:
        batch.memo = memo.strip()[:MEMO_MAX]
    batch.status = DepositStatus.CLOSED
    batch.closed_by_id = actor.user_id
    batch.closed_at = utcnow()
    session.flush()
    audit.record(session, actor, "deposit.close", "deposit", batch.id, before=before, after=audit.snapshot(batch, BATCH_FIELDS))
