"""Soft credits: a gift credited to another donor for reporting (a fund's advisor, a spouse, the
employee behind a company match, an event's host). The giver of record keeps the gift, its money,
its receipt and its year-end statement: a soft credit never touches the ledger or any total."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from . import audit
from .db import utcnow
from .donors import picked
from .models import CreditKind, Donor, Gift, GiftCredit
from .money import MoneyError, format_money, parse_amount

KIND_NAMES = {
    CreditKind.DAF_ADVISOR: "Donor-advised fund advisor",
    CreditKind.SPOUSE: "Spouse or partner",
    CreditKind.EMPLOYER_MATCH: "Employee behind an employer match",
    CreditKind.EVENT_HOST: "Event host",
    CreditKind.OTHER: "Other",
}
SOFT_KINDS = tuple(KIND_NAMES)


def active_soft_credits():
    """The clause that picks soft credits still standing (not event guests, not removed)."""
    return (GiftCredit.kind.in_(SOFT_KINDS), GiftCredit.removed_at.is_(None))


def for_gift(session: Session, gift: Gift) -> list[GiftCredit]:
    """A gift's standing soft credits, oldest first."""
    return list(session.scalars(
        select(GiftCredit).where(GiftCredit.gift_id == gift.id, *active_soft_credits())
        .options(selectinload(GiftCredit.donor)).order_by(GiftCredit.id)
    ))


def received_by(session: Session, donor: Donor) -> list[GiftCredit]:
    """The soft credits a donor received, newest gift first, with their gifts."""
    return list(session.scalars(
        select(GiftCredit).join(Gift, Gift.id == GiftCredit.gift_id)
        .where(GiftCredit.donor_id == donor.id, *active_soft_credits())
        .options(selectinload(GiftCredit.gift).selectinload(Gift.donor))
        .order_by(Gift.received_at.desc(), GiftCredit.id.desc())
    ))


def totals_by_donor(session: Session) -> dict[int, dict[str, int]]:
    """Every donor's standing soft-credit total per currency, in one query (for the donors CSV)."""
    rows = session.execute(
        select(GiftCredit.donor_id, Gift.currency, func.sum(GiftCredit.amount_cents))
        .join(Gift, Gift.id == GiftCredit.gift_id)
        .where(GiftCredit.donor_id.is_not(None), *active_soft_credits())
        .group_by(GiftCredit.donor_id, Gift.currency)
    ).all()
    result: dict[int, dict[str, int]] = {}
    for donor_id, currency, cents in rows:
        result.setdefault(donor_id, {})[currency] = int(cents or 0)
    return result


def total_for(credits: list[GiftCredit]) -> dict[str, int]:
    """Soft credits summed per currency, never added to the donor's own giving."""
    totals: dict[str, int] = {}
    for credit in credits:
        totals[credit.gift.currency] = totals.get(credit.gift.currency, 0) + (credit.amount_cents or 0)
    return totals


@dataclass(frozen=True)
class SoftCreditInput:
    donor: Donor
    kind: CreditKind
    amount_cents: int


def parse(session: Session, gift: Gift, form: Mapping[str, str]) -> SoftCreditInput:
    """The soft credit staff asked for, or ValueError saying what to fix."""
    donor = picked(session, form)
    if donor is None:
        raise ValueError("Please search for the donor to credit and pick them from the list.")
    if donor.id == gift.donor_id:
        raise ValueError(f"{donor.name} already gave this gift; a soft credit goes to someone else.")
    kind = CreditKind._value2member_map_.get(form.get("credit_kind") or "")
    if kind not in SOFT_KINDS:
        raise ValueError("Please choose why this donor is credited.")
    raw = (form.get("credit_amount") or "").strip()
    try:
        cents = parse_amount(raw, gift.currency) if raw else gift.amount_cents
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    if cents > gift.amount_cents:
        raise ValueError(f"A soft credit can't be more than the gift ({format_money(gift.amount_cents, gift.currency)}).")
    if session.scalar(select(GiftCredit.id).where(GiftCredit.gift_id == gift.id, GiftCredit.donor_id == donor.id,
                                                  *active_soft_credits())):
        raise ValueError(f"{donor.name} is already credited with this gift.")
    return SoftCreditInput(donor, kind, cents)


def add(session: Session, actor: audit.Actor, gift: Gift, wanted: SoftCreditInput) -> GiftCredit:
    """Credit a donor with a gift for reporting; the audit log records it on the gift."""
    credit = GiftCredit(gift_id=gift.id, donor_id=wanted.donor.id, name=wanted.donor.name, kind=wanted.kind,
                        amount_cents=wanted.amount_cents, created_by_id=actor.user_id)
    session.add(credit)
    session.flush()
    audit.record(session, actor, "gift.soft_credit_add", "gift", gift.id, after=_described(credit, gift))
    return credit


def remove(session: Session, actor: audit.Actor, gift: Gift, credit_id: int) -> GiftCredit:
    """Take a soft credit off a gift: the row stays, marked removed by whom and when, and audited."""
    credit = session.get(GiftCredit, credit_id)
    if credit is None or credit.gift_id != gift.id or credit.kind not in SOFT_KINDS:
        raise ValueError("That soft credit is not on this gift.")
    if credit.removed_at is not None:
        raise ValueError("That soft credit was already removed.")
    credit.removed_at = utcnow()
    credit.removed_by_id = actor.user_id
    session.flush()
    audit.record(session, actor, "gift.soft_credit_remove", "gift", gift.id, before=_described(credit, gift))
    return credit


def _described(credit: GiftCredit, gift: Gift) -> dict:
    return {"donor_id": credit.donor_id, "credited_as": KIND_NAMES[credit.kind], "amount_cents": credit.amount_cents,
            "currency": gift.currency}
