"""The board's fiscal-year figures, read from the rollups (never by scanning every gift).

Definitions, as the board overview states them:
- the fiscal year starts on the first of the month set on the Settings page
  (`ORG_FISCAL_YEAR_START`), local midnight in the organisation's time zone;
- year to date: raised from the year's first day to today, against the previous year from its
  first day to the same day a year before (daily rollups: gifts less refunds, voids and disputes
  on the day each happened, corrections on the day the gift arrived);
- cash and in kind: this year's raised by payment method, in kind being method `in_kind`;
- a donor "gave" in a year when a gift of theirs that arrived that year still stands, and gave
  what is left of those gifts (donor-month rollups), so a refunded gift is not a gift given;
- retention: of last year's donors, the share who gave again this year (retained ÷ last year's);
- lapsed: gave last year but not this year; long lapsed: gave in an earlier year but neither last
  year nor this (together: everyone who gave some year but not this one);
- upgraded and downgraded: gave in both years, more (or less) this year than last.
The figures cover every channel of the selected campaigns (the channel filter is for the charts).
"""

from __future__ import annotations

import csv
import io
from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from .analytics import Selection, _read, _scope, add_months
from .exports import safe_cell
from .models import (
    ALL_CHANNELS,
    DailyRollup,
    Donor,
    DonorBitmap,
    DonorMonthRollup,
    EntryKind,
    Gift,
    GiftMethod,
    GiftSizeRollup,
    LedgerEntry,
    MonthlyRollup,
)
from .money import from_cents
from .rollups import bits_of
from .settings import current_settings

TOP_GIFTS = 10
# Rows of each donor list the page shows; the CSV has every row.
LIST_ROWS = 10
DONOR_LISTS = ("lapsed", "long-lapsed", "upgraded", "downgraded")
# Selections whose donor lists a process keeps (each about 100 bytes a donor).
DONOR_LISTS_KEPT = 4


@dataclass(frozen=True)
class FiscalYear:
    """A fiscal year: its first day and the first day of the next."""

    start: date
    end: date

    @property
    def label(self) -> str:
        last = self.end - timedelta(days=1)
        if self.start.month == 1:
            return f"FY {self.start.year}"
        return f"FY {self.start.year}–{str(last.year)[-2:]}"

    def previous(self) -> FiscalYear:
        return FiscalYear(add_months(self.start, -12), self.start)


def fiscal_year_of(day: date, start_month: int) -> FiscalYear:
    """The fiscal year a local day falls in, for a year starting on the first of `start_month`."""
    year = day.year if day.month >= start_month else day.year - 1
    start = date(year, start_month, 1)
    return FiscalYear(start, add_months(start, 12))


def same_day_a_year_before(day: date) -> date:
    """The day a year earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


@dataclass(frozen=True)
class TopGift:
    gift_id: int
    donor_id: int | None
    donor_name: str | None
    received_at: datetime
    method: GiftMethod
    net_cents: int


@dataclass(frozen=True)
class DonorLine:
    """One donor on a list: what they gave this year and last (what is left of those gifts)."""

    donor_id: int
    this_year_cents: int
    last_year_cents: int
    last_gave: str = ""  # the fiscal year they last gave in (long-lapsed donors)


@dataclass
class FiscalFigures:
    year: FiscalYear
    today: date
    currency: str
    to_date_cents: int
    previous_to_date_cents: int
    cash_cents: int
    in_kind_cents: int
    top_gifts: list[TopGift]
    donors_last_year: int
    retained: int
    donors_this_year: int
    lists: dict[str, Sequence[DonorLine]] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)  # for the rows the page shows

    @property
    def previous(self) -> FiscalYear:
        return self.year.previous()

    @property
    def previous_to_date(self) -> date:
        return same_day_a_year_before(self.today)

    @property
    def change_percent(self) -> float | None:
        """This year to date against last year to date, in percent (None: nothing last year)."""
        if not self.previous_to_date_cents:
            return None
        return round((self.to_date_cents - self.previous_to_date_cents) * 100 / self.previous_to_date_cents, 1)

    @property
    def retention_percent(self) -> float | None:
        return None if not self.donors_last_year else round(self.retained * 100 / self.donors_last_year, 1)


def fiscal_figures(session: Session, selection: Selection, today: date, start_month: int) -> FiscalFigures:
    """This fiscal year's figures for the selection's campaigns: a few rollup queries and a handful
    of gift rows, whatever the number of gifts."""
    year = fiscal_year_of(today, start_month)
    ids = selection.campaign_ids
    donors = _donor_lists_cached(session, selection, year, start_month)
    figures = FiscalFigures(
        year=year, today=today, currency=selection.currency,
        to_date_cents=_raised_between(session, ids, year.start, today),
        previous_to_date_cents=_raised_between(session, ids, year.previous().start, same_day_a_year_before(today)),
        cash_cents=0, in_kind_cents=0,
        top_gifts=top_gifts(session, selection, year),
        donors_last_year=donors.last_year, retained=donors.retained, donors_this_year=donors.this_year,
        lists=donors.lists,
    )
    figures.cash_cents, figures.in_kind_cents = _cash_and_in_kind(session, ids, year)
    shown = {r.donor_id for rows in figures.lists.values() for r in rows[:LIST_ROWS]}
    shown |= {g.donor_id for g in figures.top_gifts if g.donor_id is not None}
    figures.names = donor_names(session, shown)
    return figures


class DonorColumns(Sequence[DonorLine]):
    """A donor list kept as columns of plain numbers; its DonorLine rows are made as they are read.

    The kept lists hold every donor of two years (127,000 lines at 100,000 donors). As objects,
    every full pass of the garbage collector walked them, in every request the process served
    while they were kept: 140 ms of the printed board report at 1,000,000 gifts. Arrays of
    integers (and a tuple of strings) are not walked."""

    def __init__(self, lines: Iterable[DonorLine]) -> None:
        self._ids, self._this, self._last = array("q"), array("q"), array("q")
        labels = []
        for line in lines:
            self._ids.append(line.donor_id)
            self._this.append(line.this_year_cents)
            self._last.append(line.last_year_cents)
            labels.append(line.last_gave)
        self._labels = tuple(labels)

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return DonorLine(self._ids[index], self._this[index], self._last[index], self._labels[index])


@dataclass(frozen=True)
class DonorLists:
    """Donor counts of this fiscal year and last, and the four lists in full (sorted as shown)."""

    last_year: int
    retained: int
    this_year: int
    lists: dict[str, DonorColumns]


def _donor_lists_cached(session: Session, selection: Selection, year: FiscalYear, start_month: int) -> DonorLists:
    """`_donor_lists`, kept per process until a selected campaign's totals version moves.

    Summing and sorting every donor of two years is the one part of the page that grows with the
    donors; every entry that changes a donor rollup (gifts, refunds, moves, merges) also bumps its
    campaign's version, so kept lists are never older than the page's own totals."""
    key = (tuple(sorted((c.id, c.totals.version if c.totals else 0) for c in selection.campaigns)),
           year, start_month)
    cache: dict = current_app.extensions.setdefault("fundraiser.fiscal_donor_lists", {})
    if key not in cache:
        found = _donor_lists(session, selection, year, start_month)
        while len(cache) >= DONOR_LISTS_KEPT:
            cache.pop(next(iter(cache)), None)
        cache[key] = found
    return cache[key]


def _donor_lists(session: Session, selection: Selection, year: FiscalYear, start_month: int) -> DonorLists:
    last = year.previous()
    years = _donors_by_year(session, selection, start_month)
    this_bits, last_bits = years.get(year.start, 0), years.get(last.start, 0)
    earlier_bits = 0
    for start, bits in years.items():
        if start < last.start:
            earlier_bits |= bits
    totals = _donor_totals(session, selection.campaign_ids, last.start, year.start, year.end)
    lines = {d: DonorLine(d, this, before) for d, (this, before) in totals.items()}
    both = [lines[d] for d in _ids(last_bits & this_bits) if d in lines]
    last_gave = _last_year_given(years, earlier_bits & ~last_bits & ~this_bits)
    lists = {
        "lapsed": sorted((lines.get(d, DonorLine(d, 0, 0)) for d in _ids(last_bits & ~this_bits)),
                         key=lambda r: (-r.last_year_cents, r.donor_id)),
        "long-lapsed": [DonorLine(d, 0, 0, fiscal_year_of(start, start_month).label)
                        for d, start in sorted(last_gave.items(), key=lambda item: (-item[1].toordinal(), item[0]))],
        "upgraded": sorted((r for r in both if r.this_year_cents > r.last_year_cents),
                           key=lambda r: (r.last_year_cents - r.this_year_cents, r.donor_id)),
        "downgraded": sorted((r for r in both if r.this_year_cents < r.last_year_cents),
                             key=lambda r: (r.this_year_cents - r.last_year_cents, r.donor_id)),
    }
    return DonorLists(last_year=last_bits.bit_count(), retained=(last_bits & this_bits).bit_count(),
                      this_year=this_bits.bit_count(), lists={name: DonorColumns(rows) for name, rows in lists.items()})


def _ids(bits: int) -> list[int]:
    """The donor ids whose bits are set (bit n: donor id n)."""
    found, base = [], 0
    for byte in bits.to_bytes((bits.bit_length() + 7) // 8, "little"):
        while byte:
            low = byte & -byte
            found.append(base + low.bit_length() - 1)
            byte ^= low
        base += 8
    return found


def _donors_by_year(session: Session, selection: Selection, start_month: int) -> dict[date, int]:
    """Donors with a standing gift, per fiscal year (keyed by its first day), from monthly bitmaps."""
    scope_ids, _channel = _scope(session, selection)
    years: dict[date, int] = defaultdict(int)
    for month, bits in _read(session, select(DonorBitmap.month, DonorBitmap.bits).where(
        DonorBitmap.campaign_id.in_(scope_ids), DonorBitmap.channel == ALL_CHANNELS,
    )):
        years[fiscal_year_of(month, start_month).start] |= bits_of(bits)
    return dict(years)


def _last_year_given(years: dict[date, int], lapsed_bits: int) -> dict[int, date]:
    """For long-lapsed donors: the first day of the latest fiscal year each gave in."""
    found: dict[int, date] = {}
    left = lapsed_bits
    for start in sorted(years, reverse=True):
        hit = years[start] & left
        for donor_id in _ids(hit):
            found[donor_id] = start
        left &= ~hit
    return found


def _donor_totals(
    session: Session, campaign_ids: list[int], last_start: date, this_start: date, this_end: date
) -> dict[int, tuple[int, int]]:
    """Per donor: what is left of their gifts that arrived this fiscal year, and last."""
    m = DonorMonthRollup
    this_year = func.sum(case((m.month >= this_start, m.raised_cents), else_=literal(0)))
    last_year = func.sum(case((m.month < this_start, m.raised_cents), else_=literal(0)))
    rows = _read(session, select(m.donor_id, this_year, last_year).where(
        m.campaign_id.in_(campaign_ids), m.month >= last_start, m.month < this_end,
    ).group_by(m.donor_id))
    return {donor_id: (int(this or 0), int(before or 0)) for donor_id, this, before in rows}


def _raised_between(session: Session, campaign_ids: list[int], first: date, last: date) -> int:
    """Raised on the local days from first to last, inclusive."""
    total = _read(session, select(func.sum(DailyRollup.raised_cents)).where(
        DailyRollup.campaign_id.in_(campaign_ids), DailyRollup.day >= first, DailyRollup.day <= last,
    )).scalar()
    return int(total or 0)


def _cash_and_in_kind(session: Session, campaign_ids: list[int], year: FiscalYear) -> tuple[int, int]:
    """This fiscal year's raised in money, and in goods or services (method in kind)."""
    rows = _read(session, select(MonthlyRollup.method, func.sum(MonthlyRollup.raised_cents)).where(
        MonthlyRollup.campaign_id.in_(campaign_ids), MonthlyRollup.month >= year.start,
        MonthlyRollup.month < year.end,
    ).group_by(MonthlyRollup.method))
    cash = in_kind = 0
    for method, raised in rows:
        if str(method) == GiftMethod.IN_KIND.value:
            in_kind += int(raised or 0)
        else:
            cash += int(raised or 0)
    return cash, in_kind


def top_gifts(session: Session, selection: Selection, year: FiscalYear) -> list[TopGift]:
    """The largest gifts that arrived this fiscal year, by what is left of each.

    The size rollups give the smallest amount T among the ten largest standing gifts and how many
    stand at T or more; gifts received at T or more are read (by the amount index) with their
    ledger nets. Only when fewer of them stand at T or more than the rollups count were some
    corrected upwards from below T, and those are read too."""
    scope_ids, _channel = _scope(session, selection)
    sizes = _read(session, select(GiftSizeRollup.amount_cents, func.sum(GiftSizeRollup.gift_count)).where(
        GiftSizeRollup.campaign_id.in_(scope_ids), GiftSizeRollup.channel == ALL_CHANNELS,
        GiftSizeRollup.month >= year.start, GiftSizeRollup.month < year.end,
    ).group_by(GiftSizeRollup.amount_cents).having(func.sum(GiftSizeRollup.gift_count) > 0)
        .order_by(GiftSizeRollup.amount_cents.desc()).limit(TOP_GIFTS))
    threshold, standing = None, 0
    for amount, count in sizes:
        threshold, standing = int(amount), standing + int(count)
        if standing >= TOP_GIFTS:
            break
    if threshold is None:
        return []
    tz = current_settings().tz
    ids = selection.campaign_ids
    in_year = (Gift.campaign_id.in_(ids), Gift.received_at >= datetime.combine(year.start, time(), tz),
               Gift.received_at < datetime.combine(year.end, time(), tz))
    # The candidates are chosen by amount alone (the amount index), the year and campaigns checked
    # on those few: SQLite otherwise walks the whole year's gifts by campaign and date.
    found = _gift_nets(session, ids, select(Gift.id).where(Gift.amount_cents >= threshold), *in_year)
    if sum(1 for row in found if row[4] >= threshold) < standing:
        raised = select(LedgerEntry.gift_id).where(
            LedgerEntry.kind == EntryKind.CORRECTION, LedgerEntry.amount_cents > 0, LedgerEntry.campaign_id.in_(ids))
        found += _gift_nets(session, ids, raised, *in_year, Gift.amount_cents < threshold)
    rows = sorted((row for row in found if row[4] > 0), key=lambda row: (-row[4], row[0]))[:TOP_GIFTS]
    names = donor_names(session, {r[1] for r in rows if r[1] is not None})
    return [TopGift(gid, donor_id, names.get(donor_id), received_at, method, cents)
            for gid, donor_id, received_at, method, cents in rows]


def _gift_nets(session: Session, campaign_ids: list[int], gift_ids, *conditions) -> list[tuple]:
    """(id, donor, received, method, what is left in these campaigns) of the gifts chosen by
    `gift_ids` (a subquery) that meet `conditions`."""
    net = func.sum(LedgerEntry.amount_cents)
    rows = session.execute(
        select(Gift.id, Gift.donor_id, Gift.received_at, Gift.method, net)
        .join(LedgerEntry, LedgerEntry.gift_id == Gift.id)
        .where(Gift.id.in_(gift_ids), *conditions, LedgerEntry.campaign_id.in_(campaign_ids))
        .group_by(Gift.id, Gift.donor_id, Gift.received_at, Gift.method)
    ).all()
    return [(gid, donor_id, received_at, method, int(cents)) for gid, donor_id, received_at, method, cents in rows]


def donor_names(session: Session, donor_ids: Iterable[int]) -> dict[int, str]:
    """Donor names by id, read in chunks the databases accept."""
    ids = sorted(set(donor_ids))
    names: dict[int, str] = {}
    for start in range(0, len(ids), 900):
        names.update(session.execute(select(Donor.id, Donor.name).where(Donor.id.in_(ids[start:start + 900]))).all())
    return names


def donor_list_csv(session: Session, figures: FiscalFigures, name: str) -> str:
    """One donor list, every row, as CSV: id, name and the years' totals in plain numbers."""
    rows = figures.lists[name]
    names = donor_names(session, (r.donor_id for r in rows))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    currency = figures.currency
    if name == "long-lapsed":
        writer.writerow(["Donor ID", "Name", "Last gave in"])
        for r in rows:
            writer.writerow([r.donor_id, safe_cell(names.get(r.donor_id, "")), r.last_gave])
        return out.getvalue()
    writer.writerow(["Donor ID", "Name", f"{figures.previous.label} ({currency})", f"{figures.year.label} ({currency})"])
    for r in rows:
        writer.writerow([r.donor_id, safe_cell(names.get(r.donor_id, "")),
                         from_cents(r.last_year_cents, currency), from_cents(r.this_year_cents, currency)])
    return out.getvalue()
