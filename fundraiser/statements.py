"""A donor's giving: history across campaigns and channels, and the year-end giving statement (page and PDF)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .config import Settings
from .models import Campaign, Donor, Gift, GiftMethod, LedgerEntry, RecurringPlan
from .money import format_money
from .organisation import current_organisation
from .receipts import METHOD_LABELS


@dataclass(frozen=True)
class GiftLine:
    """One gift on a donor's page or statement, with what is left of it after every entry."""

    gift: Gift
    campaign_title: str
    net_cents: int

    @property
    def deductible_cents(self) -> int | None:
        """The tax-deductible part as we state it (None: we state no amount, e.g. in-kind or DAF)."""
        if self.gift.method in (GiftMethod.DAF, GiftMethod.IN_KIND):
            return None
        return max(0, self.net_cents - (self.gift.goods_value_cents or 0))


def gift_lines(
    session: Session, where, limit: int | None = None, newest_first: bool = False, offset: int = 0
) -> list[GiftLine]:
    """Gifts matching a condition, oldest first, each with its net and the campaign it counts toward now."""
    nets = (
        select(LedgerEntry.gift_id, func.sum(LedgerEntry.amount_cents).label("net"))
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
        select(Gift, func.coalesce(nets.c.net, 0), LedgerEntry.campaign_id)
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
    for gift, net, moved_to in rows:
        campaign_id = moved_to or gift.campaign_id
        result.append(GiftLine(gift, titles.get(campaign_id, "Unattributed"), int(net)))
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


def lifetime_giving(session: Session) -> dict[int, LifetimeGiving]:
    """Every donor's lifetime giving in one query: gifts that still stand (net above zero) count."""
    nets = (
        select(LedgerEntry.gift_id, func.sum(LedgerEntry.amount_cents).label("net"))
        .group_by(LedgerEntry.gift_id)
        .subquery()
    )
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
    donor: Donor
    year: int
    lines: list[GiftLine]
    totals_by_currency: dict[str, int]
    deductible_by_currency: dict[str, int]


def year_statement(session: Session, donor: Donor, year: int, tz: ZoneInfo) -> Statement:
    """The donor's gifts received in a calendar year (organisation's time zone) that still stand."""
    start = datetime.combine(datetime(year, 1, 1).date(), time(0), tzinfo=tz)
    end = datetime.combine(datetime(year + 1, 1, 1).date(), time(0), tzinfo=tz)
    lines = [
        line for line in gift_lines(session, (Gift.donor_id == donor.id) & (Gift.received_at >= start) & (Gift.received_at < end))
        if line.net_cents > 0
    ]
    totals: dict[str, int] = {}
    deductible: dict[str, int] = {}
    for line in lines:
        totals[line.gift.currency] = totals.get(line.gift.currency, 0) + line.net_cents
        if line.deductible_cents is not None:
            deductible[line.gift.currency] = deductible.get(line.gift.currency, 0) + line.deductible_cents
    return Statement(donor, year, lines, totals, deductible)


def statement_pdf(statement: Statement, settings: Settings) -> bytes:
    """The statement as a one-column PDF a donor can file with their taxes."""
    from fpdf import FPDF

    org = current_organisation()

    def safe(text: str) -> str:
        # The core PDF fonts are Latin-1; anything else is replaced rather than failing.
        return text.encode("latin-1", "replace").decode("latin-1")

    pdf = FPDF(format="Letter")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, safe(f"{statement.year} giving statement"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(0, 7, safe(f"{org.charity_name} · Tax ID (EIN) {org.charity_ein}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.cell(0, 7, safe(f"For: {statement.donor.name}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 10)
    for text, width in (("Date", 30), ("Campaign", 70), ("Method", 45), ("Amount", 0)):
        pdf.cell(width, 7, text, border="B")
    pdf.ln()
    pdf.set_font("Helvetica", "", 10)
    for line in statement.lines:
        gift = line.gift
        pdf.cell(30, 7, gift.received_at.astimezone(settings.tz).strftime("%b %d, %Y"))
        pdf.cell(70, 7, safe(line.campaign_title[:38]))
        pdf.cell(45, 7, safe(METHOD_LABELS[gift.method]))
        if gift.method == GiftMethod.IN_KIND:
            amount = gift.description or "in-kind gift"
        else:
            amount = format_money(line.net_cents, gift.currency, settings.locale)
        pdf.cell(0, 7, safe(amount[:40]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    for currency, total in statement.totals_by_currency.items():
        pdf.cell(0, 7, safe(f"Total received: {format_money(total, currency, settings.locale)}"), new_x="LMARGIN", new_y="NEXT")
    for currency, total in statement.deductible_by_currency.items():
        pdf.cell(0, 7, safe(f"Tax-deductible part of cash and stock gifts: {format_money(total, currency, settings.locale)}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.ln(3)
    pdf.multi_cell(0, 5, safe(
        "Gifts from a donor-advised fund are not deductible by the individual (the fund's sponsor received the "
        "deduction). We state no value for in-kind gifts. Where goods or services were received, only the amount "
        f"above their value is deductible. {org.sponsor_statement}"
    ))
    return bytes(pdf.output())
