"""A donor's giving: history across campaigns and channels, and the year-end giving statement (page and PDF)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from .config import Settings
from .models import Campaign, Donor, EntryKind, Gift, GiftMethod, LedgerEntry, RecurringPlan
from .money import format_money
from .organisation import Organisation, current_organisation
from .receipts import METHOD_LABELS
from .recurring import interval_words

# Gifts of property: described on documents, never given a value there nor added to money totals.
NON_CASH_METHODS = frozenset({GiftMethod.STOCK, GiftMethod.IN_KIND, GiftMethod.OTHER})


@dataclass(frozen=True)
class GiftLine:
    """One gift on a donor's page or statement, with what is left of it after every entry."""

    gift: Gift
    campaign_title: str
    net_cents: int
    voided: bool = False
    refunded_cents: int = 0  # given back, less refunds the bank reversed
    disputed_cents: int = 0  # held or lost in disputes, less disputes won
    corrected_cents: int = 0  # what corrections of a mistyped amount changed

    @property
    def status(self) -> str:
        """Why a gift counts other than it was entered, in the words of the gift's page ("" if it counts whole)."""
        if self.voided:
            return "Voided"
        parts = ["Corrected"] if self.corrected_cents else []
        if self.refunded_cents:
            parts.append("Refunded" if self.net_cents + self.disputed_cents <= 0 else "Partly refunded")
        if self.disputed_cents:
            parts.append("Disputed")
        return ", ".join(parts)

    @property
    def is_non_cash(self) -> bool:
        """Stock and property: described on documents, never valued by us (IRS Publication 1771)."""
        return self.gift.method in NON_CASH_METHODS

    @property
    def is_daf(self) -> bool:
        return self.gift.method == GiftMethod.DAF

    @property
    def is_event_proceeds(self) -> bool:
        """Money others gave at a community event, credited to its host."""
        return self.gift.event_id is not None

    @property
    def amount_cents(self) -> int | None:
        """The money amount documents state and add up (None for non-cash gifts)."""
        return None if self.is_non_cash else self.net_cents

    @property
    def goods_cents(self) -> int:
        """Good-faith value of what the donor received in exchange (never more than the gift)."""
        return min(self.gift.goods_value_cents or 0, self.net_cents)

    @property
    def deductible_cents(self) -> int | None:
        """The tax-deductible part as we state it (None: we state no amount: non-cash, DAF, event proceeds)."""
        if self.is_non_cash or self.is_daf or self.is_event_proceeds:
            return None
        return self.net_cents - self.goods_cents


def gift_lines(
    session: Session, where, limit: int | None = None, newest_first: bool = False, offset: int = 0
) -> list[GiftLine]:
    """Gifts matching a condition, oldest first, each with its net, what voided, refunded or disputed
    it, and the campaign it counts toward now."""

    def summed(*kinds: EntryKind):
        return func.sum(case((LedgerEntry.kind.in_(kinds), LedgerEntry.amount_cents), else_=0))

    nets = (
        select(
            LedgerEntry.gift_id, func.sum(LedgerEntry.amount_cents).label("net"),
            summed(EntryKind.VOID).label("voids"),  # a void takes out all that was left: never zero
            summed(EntryKind.REFUND, EntryKind.REFUND_REVERSED).label("refunds"),
            summed(EntryKind.DISPUTE, EntryKind.DISPUTE_WON).label("disputes"),
            summed(EntryKind.CORRECTION).label("corrections"),
        )
        .group_by(LedgerEntry.gift_id)
        .subquery()
    )
    last_in = (
        select(LedgerEntry.gift_id, func.max(LedgerEntry.id).label("entry_id"))
        .where(LedgerEntry.kind == "reassign_in")
        .group_by(LedgerEntry.gift_id)
        .subquery()
    )
    rows = session.execute(
        select(Gift, func.coalesce(nets.c.net, 0), nets.c.voids, nets.c.refunds, nets.c.disputes, nets.c.corrections,
               LedgerEntry.campaign_id)
        .outerjoin(nets, nets.c.gift_id == Gift.id)
        .outerjoin(last_in, last_in.c.gift_id == Gift.id)
        .outerjoin(LedgerEntry, LedgerEntry.id == last_in.c.entry_id)
        .where(where)
        .order_by(*((Gift.received_at.desc(), Gift.id.desc()) if newest_first else (Gift.received_at, Gift.id)))
        .limit(limit)
        .offset(offset or None)
    ).all()
    titles = dict(session.execute(select(Campaign.id, Campaign.title)).all())
    result = []
    for gift, net, voids, refunds, disputes, corrections, moved_to in rows:
        campaign_id = moved_to or gift.campaign_id
        result.append(GiftLine(
            gift, titles.get(campaign_id, "Unattributed"), int(net), voided=bool(voids),
            refunded_cents=-int(refunds or 0), disputed_cents=-int(disputes or 0), corrected_cents=int(corrections or 0),
        ))
    return result


@dataclass(frozen=True)
class DonorSummary:
    lines: list[GiftLine]
    plans: list[RecurringPlan]
    totals_by_currency: dict[str, int]
    first_gift_at: datetime | None
    last_gift_at: datetime | None


def summary(session: Session, donor: Donor) -> DonorSummary:
    """Everything the donor page shows: every gift (online, offline, event, monthly), totals, plans."""
    lines = gift_lines(session, Gift.donor_id == donor.id)
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.gift.currency] = totals.get(line.gift.currency, 0) + line.net_cents
    standing = [line for line in lines if line.net_cents > 0]
    plans = list(session.scalars(select(RecurringPlan).where(RecurringPlan.donor_id == donor.id).order_by(RecurringPlan.id)))
    return DonorSummary(
        lines=lines, plans=plans, totals_by_currency=totals,
        first_gift_at=standing[0].gift.received_at if standing else None,
        last_gift_at=standing[-1].gift.received_at if standing else None,
    )


@dataclass
class LifetimeGiving:
    """A donor's giving for exports: what stands per currency, and their standing gifts' count and dates."""

    totals_by_currency: dict[str, int] = field(default_factory=dict)
    gift_count: int = 0
    first_gift_at: datetime | None = None
    last_gift_at: datetime | None = None


def lifetime_giving(session: Session, donor_ids: list[int] | None = None) -> dict[int, LifetimeGiving]:
    """Every donor's (or these donors') lifetime giving in one query: gifts that still stand (net above zero) count."""
    nets = select(LedgerEntry.gift_id, func.sum(LedgerEntry.amount_cents).label("net")).group_by(LedgerEntry.gift_id)
    if donor_ids is not None:
        nets = nets.where(LedgerEntry.gift_id.in_(select(Gift.id).where(Gift.donor_id.in_(donor_ids))))
    nets = nets.subquery()
    rows = session.execute(
        select(
            Gift.donor_id, Gift.currency, func.sum(nets.c.net), func.count(), func.min(Gift.received_at),
            func.max(Gift.received_at),
        )
        .join(nets, nets.c.gift_id == Gift.id)
        .where(Gift.donor_id.is_not(None), nets.c.net > 0)
        .group_by(Gift.donor_id, Gift.currency)
    ).all()
    giving: dict[int, LifetimeGiving] = {}
    for donor_id, currency, total, count, first, last in rows:
        g = giving.setdefault(donor_id, LifetimeGiving())
        g.totals_by_currency[currency] = int(total)
        g.gift_count += count
        g.first_gift_at = min(filter(None, (g.first_gift_at, first)))
        g.last_gift_at = max(filter(None, (g.last_gift_at, last)))
    return giving


@dataclass(frozen=True)
class Statement:
    """A donor's standing gifts over a period (a calendar year, or the dates of a batch of letters)."""

    donor: Donor
    start: date
    end: date  # inclusive
    lines: list[GiftLine]
    totals_by_currency: dict[str, int]
    deductible_by_currency: dict[str, int]
    issued_on: date
    # A printed acknowledgment of one gift: the receipt number it carries (letters.with_receipt_numbers).
    receipt_reference: str | None = None

    @property
    def year(self) -> int:
        return self.start.year

    @property
    def is_calendar_year(self) -> bool:
        return (self.start, self.end) == (date(self.year, 1, 1), date(self.year, 12, 31))

    @property
    def has_goods(self) -> bool:
        return any(line.goods_cents for line in self.lines)


def _bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a local date range (end inclusive) covers in the organisation's time zone."""
    return datetime.combine(start, time(0), tzinfo=tz), datetime.combine(end + timedelta(days=1), time(0), tzinfo=tz)


def _statement(donor: Donor, start: date, end: date, lines: list[GiftLine], issued_on: date) -> Statement:
    totals: dict[str, int] = {}
    deductible: dict[str, int] = {}
    for line in lines:
        if line.amount_cents is not None:
            totals[line.gift.currency] = totals.get(line.gift.currency, 0) + line.amount_cents
        if line.deductible_cents is not None:
            deductible[line.gift.currency] = deductible.get(line.gift.currency, 0) + line.deductible_cents
    return Statement(donor, start, end, lines, totals, deductible, issued_on)


def period_statements(
    session: Session, start: date, end: date, tz: ZoneInfo, *, issued_on: date, donor_ids: Collection[int] | None = None,
) -> list[Statement]:
    """A statement for every donor with a standing gift received between two local dates (one query
    for the gifts), by donor name; voided and fully refunded gifts are left out."""
    low, high = _bounds(start, end, tz)
    where = Gift.donor_id.is_not(None) & (Gift.received_at >= low) & (Gift.received_at < high)
    if donor_ids is not None:
        where &= Gift.donor_id.in_(list(donor_ids))
    by_donor: dict[int, list[GiftLine]] = {}
    for line in gift_lines(session, where):
        if line.net_cents > 0:
            by_donor.setdefault(line.gift.donor_id, []).append(line)
    donors = {d.id: d for d in session.scalars(select(Donor).where(Donor.id.in_(list(by_donor))))} if by_donor else {}
    found = [_statement(donors[i], start, end, lines, issued_on) for i, lines in by_donor.items()]
    return sorted(found, key=lambda s: (s.donor.name.lower(), s.donor.id))


def year_statement(session: Session, donor: Donor, year: int, tz: ZoneInfo, *, issued_on: date | None = None) -> Statement:
    """The donor's gifts received in a calendar year (organisation's time zone) that still stand."""
    start, end = date(year, 1, 1), date(year, 12, 31)
    issued_on = issued_on or datetime.now(tz).date()
    found = period_statements(session, start, end, tz, issued_on=issued_on, donor_ids=[donor.id])
    return found[0] if found else _statement(donor, start, end, [], issued_on)


# ------------------------------------------------------------------ what the documents say

THANKS = "Thank you for your generosity. Your support makes our work possible."
NO_GOODS_ALL = "No goods or services were provided in exchange for these contributions."
SOME_GOODS = (
    "Goods or services were provided in exchange for the gifts where a description and a good-faith estimate "
    "of their value is given; only the amount above that value is deductible. No goods or services "
    "were provided in exchange for the other gifts."
)
NON_CASH_NOTE = (
    "Gifts of stock or property are described without a value: we do not value them, and they are not "
    "included in the totals. Determining their value is up to you (see IRS Publication 561)."
)
DAF_NOTE = (
    "Grants from a donor-advised fund are not deductible by you: the fund's sponsoring organization "
    "already received the deduction. Please don't claim them on your own return."
)
EVENT_NOTE = (
    "Event proceeds are the gifts of the people who gave at the event you hosted; we thank you for "
    "collecting them. They are not stated as a deductible contribution of yours."
)


@dataclass(frozen=True)
class LineWords:
    """One gift as every document prints it (PDF, email, staff page)."""

    received: str
    what: str
    amount: str
    goods: str
    deductible: str


def line_words(line: GiftLine, settings: Settings) -> LineWords:
    """What a statement or letter says about one gift: what it was, its amount (none for non-cash
    gifts), what the donor received in exchange, and the deductible part."""
    gift = line.gift
    locale = settings.locale
    label = METHOD_LABELS[gift.method]
    if line.is_event_proceeds:
        what = f"Proceeds of {gift.event.name if gift.event else 'an event'} you hosted"
    elif line.is_non_cash:
        what = f"{label[:1].upper()}{label[1:]}: {gift.description or 'described in our records'}"
    else:
        what = f"{label[:1].upper()}{label[1:]}" + (f" #{gift.reference}" if gift.method == GiftMethod.CHECK and gift.reference else "")
    if gift.recurring_plan_id:
        what += f" ({interval_words(gift.recurring_plan.interval)[0] if gift.recurring_plan else 'monthly'} gift)"
    if line.campaign_title != "Unattributed":
        what += f", for {line.campaign_title}"
    amount = "not valued by us" if line.amount_cents is None else format_money(line.amount_cents, gift.currency, locale)
    if line.goods_cents:
        received = "goods or services at the event" if line.is_event_proceeds else (gift.description or "goods or services")
        goods = f"{received}, good-faith estimate {format_money(line.goods_cents, gift.currency, locale)}"
    else:
        goods = "none"
    if line.deductible_cents is not None:
        deductible = format_money(line.deductible_cents, gift.currency, locale)
    elif line.is_daf:
        deductible = "not deductible by you (donor-advised fund)"
    elif line.is_event_proceeds:
        deductible = "not stated (event proceeds)"
    else:
        deductible = "non-cash: value not stated by us"
    day = format_date(gift.received_at.astimezone(settings.tz).date(), format="medium", locale=locale)
    return LineWords(day, what, amount, goods, deductible)


def notes(statement: Statement) -> list[str]:
    """The explanations a statement needs for the kinds of gift on it, goods-or-services first."""
    found = [SOME_GOODS if statement.has_goods else NO_GOODS_ALL]
    if any(line.is_non_cash for line in statement.lines):
        found.append(NON_CASH_NOTE)
    if any(line.is_daf for line in statement.lines):
        found.append(DAF_NOTE)
    if any(line.is_event_proceeds for line in statement.lines):
        found.append(EVENT_NOTE)
    return found


def single_gift_statement(donor: Donor, day: date, lines: list[GiftLine], issued_on: date) -> Statement:
    """An acknowledgment of one gift, worded like a statement of one line."""
    return _statement(donor, day, day, lines, issued_on)


def title(statement: Statement, settings: Settings) -> str:
    if statement.is_calendar_year:
        return f"{statement.year} giving statement"
    if statement.start == statement.end and len(statement.lines) == 1:
        return "Acknowledgment of your gift"
    start = format_date(statement.start, format="medium", locale=settings.locale)
    end = format_date(statement.end, format="medium", locale=settings.locale)
    return f"Acknowledgment of your gifts, {start} to {end}"


def opening(statement: Statement, settings: Settings, org: Organisation) -> str:
    """The first paragraph of a letter or statement: thanks, and what the document is for."""
    if statement.is_calendar_year:
        return (f"Thank you for supporting {org.name} in {statement.year}. This statement lists every gift we "
                f"received from you in {statement.year}; please keep it for your tax records.")
    if statement.start == statement.end and len(statement.lines) == 1:
        day = format_date(statement.start, format="long", locale=settings.locale)
        return (f"Thank you for your gift to {org.name}, received on {day}. This letter is your acknowledgment; "
                "please keep it for your tax records.")
    return (f"Thank you for your gifts to {org.name}. This letter acknowledges each gift listed below; please keep "
            "it for your tax records.")


def statement_text(statement: Statement, settings: Settings, org: Organisation, *, pdf_link: str = "") -> str:
    """The whole statement as plain text: the body of the year-end email (itself the acknowledgment)."""
    issued = format_date(statement.issued_on, format="long", locale=settings.locale)
    out = [
        f"Dear {statement.donor.name},",
        "",
        opening(statement, settings, org),
        "",
        f"Charity: {org.charity_name}" + (f", Tax ID (EIN) {org.charity_ein}" if org.charity_ein else ""),
        f"Donor: {statement.donor.name}",
        f"Date issued: {issued}",
        "",
    ]
    for number, line in enumerate(statement.lines, start=1):
        words = line_words(line, settings)
        out += [
            f"{number}. {words.received}: {words.what}",
            f"   Amount: {words.amount}",
            f"   Goods or services received in exchange: {words.goods}",
            f"   Tax-deductible amount: {words.deductible}",
        ]
    out.append("")
    for currency, total in statement.totals_by_currency.items():
        out.append(f"Total of money gifts: {format_money(total, currency, settings.locale)}")
    for currency, total in statement.deductible_by_currency.items():
        out.append(f"Total tax-deductible amount: {format_money(total, currency, settings.locale)}")
    out += ["", *notes(statement), "", org.sponsor_statement, ""]
    if pdf_link:
        out += [f"A printable copy (PDF) of this statement: {pdf_link}", ""]
    out += [THANKS, "", org.legal_name, *org.address_lines]
    contact = " · ".join(x for x in (org.contact_email, org.contact_phone, org.website) if x)
    if contact:
        out.append(contact)
    return "\n".join(out) + "\n"


def statement_pdf(statement: Statement, settings: Settings) -> bytes:
    """The statement as a PDF the donor can file with their taxes (laid out for a window envelope)."""
    from .letters import documents_pdf

    return documents_pdf([statement], settings, current_organisation())
