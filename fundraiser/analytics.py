"""What the board sees: headline figures and chart data, read from the rollups (never the ledger).

Definitions, in words a board member would use:
- raised: every ledger entry in the period (gifts less refunds, voids and disputes, on the day
  each happened); net of fees: raised less the processing fees of the gifts credited here;
- gifts: gifts that arrived in the period and still stand (something is left of them); their
  average and median are of what is left of each; donors: distinct donors behind those gifts
  (a gift with no donor record counts as one supporter, as on the progress bar);
- a donor is new in the month of their first standing gift within the selection.
Periods are whole local months (organisation time zone), from the first month to the last.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session, selectinload

from .campaigns import percent_of_goal
from .models import (
    ALL_CAMPAIGNS,
    ALL_CHANNELS,
    ALL_MONTHS,
    Campaign,
    CampaignStatus,
    CampaignTotals,
    CommunityEvent,
    DailyRollup,
    DonorBitmap,
    EntryKind,
    EventRollup,
    Gift,
    GiftChannel,
    GiftSizeRollup,
    LedgerEntry,
    MonthlyRollup,
    PlanStatus,
    RecurringPlan,
)
from .money import minor_units
from .projections import PACE_WINDOW_DAYS, Pace, hourly_pace, pace_of
from .rollups import RESTATING_KINDS, bits_of
from .settings import current_settings

# Gift-size bands, in whole units of the currency; the last band is open-ended.
SIZE_BANDS = (0, 25, 50, 100, 250, 500, 1000, 5000)
BOARD_STATUSES = (CampaignStatus.ACTIVE, CampaignStatus.CLOSED, CampaignStatus.ARCHIVED)


def _read(session: Session, statement):
    """Run a read of plain columns on the session's connection: rollup rows need no ORM objects,
    and skipping the ORM's row wrapping is a third of a report's time."""
    return session.connection().execute(statement)


def add_months(month: date, count: int) -> date:
    """The first day of the month `count` months after `month` (negative goes back)."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    """Every month from first to last, inclusive."""
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


@dataclass(frozen=True)
class Selection:
    """What the board asked to see: campaigns of one currency, a channel, a range of months."""

    campaigns: tuple[Campaign, ...]
    currency: str
    channel: GiftChannel | None = None
    first_month: date | None = None
    last_month: date | None = None

    @property
    def campaign_ids(self) -> list[int]:
        return [c.id for c in self.campaigns]

    @property
    def goal_cents(self) -> int:
        return sum(c.goal_cents for c in self.campaigns)

    def chart_months(self, today: date) -> list[date]:
        """Months the monthly charts show: the range, or the twelve months to the last one."""
        last = self.last_month or max(today.replace(day=1), self.first_month or date.min)
        first = self.first_month or add_months(last, -11)
        return months_between(first, last)


def board_campaigns(session: Session) -> list[Campaign]:
    """Campaigns the board reviews (every one but drafts), newest first, with their totals rows."""
    return list(
        session.scalars(
            select(Campaign)
            .options(selectinload(Campaign.totals))
            .where(Campaign.status.in_(BOARD_STATUSES))
            .order_by(Campaign.starts_at.desc().nulls_last(), Campaign.title)
        )
    )


def board_campaign(session: Session, slug: str) -> Campaign | None:
    """A campaign the board may open by its address (drafts are not on the board)."""
    return session.scalar(select(Campaign).where(Campaign.slug == slug, Campaign.status.in_(BOARD_STATUSES)))


# ------------------------------------------------------------------------------ figures


@dataclass(frozen=True)
class Headline:
    """The figures at the top of a board page."""

    currency: str
    raised_cents: int
    fee_cents: int
    goal_cents: int
    donors: int
    gifts: int
    average_cents: int | None
    median_cents: int | None
    recurring_monthly_cents: int
    active_plans: int

    @property
    def net_cents(self) -> int:
        return self.raised_cents - self.fee_cents

    @property
    def percent(self) -> float:
        return percent_of_goal(self.raised_cents, self.goal_cents)


@dataclass(frozen=True)
class MonthRow:
    month: date
    raised_cents: int = 0
    fee_cents: int = 0
    recurring_cents: int = 0
    refund_cents: int = 0
    refund_count: int = 0
    dispute_cents: int = 0
    dispute_count: int = 0


@dataclass(frozen=True)
class DonorMonth:
    month: date
    new: int
    returning: int


@dataclass(frozen=True)
class Retention:
    year: int
    donors_before: int  # donors of the year before
    retained: int       # of those, how many gave again this year

    @property
    def percent(self) -> float | None:
        return None if not self.donors_before else round(self.retained * 100 / self.donors_before, 1)


@dataclass(frozen=True)
class SizeBand:
    low_cents: int
    high_cents: int | None  # None: open-ended
    gifts: int
    total_cents: int


@dataclass(frozen=True)
class EventProceeds:
    name: str
    event_date: date
    campaign_title: str
    raised_cents: int
    gifts: int


@dataclass
class Dashboard:
    """Everything one board page shows, computed from a handful of rollup queries."""

    selection: Selection
    today: date
    headline: Headline
    by_channel: dict[str, int]
    by_method: dict[str, int]
    months: list[MonthRow]
    months_last_year: list[MonthRow]
    donor_months: list[DonorMonth]
    retention: list[Retention]
    sizes: list[SizeBand]
    events: list[EventProceeds]
    progress: CampaignProgress | None = None


def dashboard(session: Session, selection: Selection, today: date, now: datetime | None = None) -> Dashboard:
    """Compute a board page: headline, every chart's data, and (for one campaign) its progress
    (projected by the hour when `now` is on its last day)."""
    scope = _scope(session, selection)
    rollups = _load(session, selection, scope, today, per_campaign=False, now=now)
    return _compute(selection, rollups, scope[0], today)


@dataclass(frozen=True)
class Report:
    """The printed report: the whole selection's page, then one page per campaign."""

    summary: Dashboard
    pages: list[Dashboard]


def report(session: Session, selection: Selection, today: date, now: datetime | None = None) -> Report:
    """Every page of the report from one query per rollup table: each campaign's rows are read
    once, and the summary is their sum (the same figures `dashboard` gives the selection, without
    reading the rollups a second time)."""
    channel = str(selection.channel) if selection.channel is not None else ALL_CHANNELS
    rollups = _load(session, selection, (selection.campaign_ids, channel), today, per_campaign=True, now=now)
    pages = [
        _compute(Selection((c,), c.currency, selection.channel, selection.first_month, selection.last_month),
                 rollups, [c.id], today)
        for c in selection.campaigns
    ]
    return Report(_compute(selection, rollups, selection.campaign_ids, today), pages)


@dataclass(frozen=True)
class Adjustment:
    """A correction or void: shown apart, since the charts already count it on the gift's own day."""

    recorded_at: datetime
    gift_received_at: datetime
    kind: EntryKind
    amount_cents: int
    currency: str
    reason: str | None


def adjustments(session: Session, campaign_ids: list[int], limit: int = 50) -> list[Adjustment]:
    """The latest corrections and voids in these campaigns, newest first."""
    rows = session.execute(
        select(LedgerEntry.occurred_at, Gift.received_at, LedgerEntry.kind, LedgerEntry.amount_cents,
               LedgerEntry.currency, LedgerEntry.reason)
        .join(Gift, Gift.id == LedgerEntry.gift_id)
        .where(LedgerEntry.campaign_id.in_(campaign_ids), LedgerEntry.kind.in_(RESTATING_KINDS))
        .order_by(LedgerEntry.occurred_at.desc(), LedgerEntry.id.desc())
        .limit(limit)
    )
    return [Adjustment(*row) for row in rows]


@dataclass
class _Rollups:
    """Rollup rows for some campaigns (or the all-campaign scope), keyed by campaign id."""

    # MonthRow's figures in order, per (month, channel, method); keyed by campaign, or all under
    # ALL_CAMPAIGNS when one page sums them.
    money: dict[int, dict[tuple, list[int]]]
    sizes: dict[int, dict[int, int]]
    donorless: dict[int, int]
    bitmaps: dict[int, dict[date, int]]
    plans: dict[int, tuple[int, int]]
    events: dict[int, list[EventProceeds]]
    days: dict[int, dict[date, int]]
    # Campaigns on their last day: what came in each hour of it so far, and when that was read.
    hours: dict[int, list[int]]
    now: datetime | None


def _load(
    session: Session, selection: Selection, scope: tuple[list[int], str], today: date, *, per_campaign: bool,
    now: datetime | None = None,
) -> _Rollups:
    """One query per rollup table; money keyed by campaign only when each needs its own page."""
    chart_months = selection.chart_months(today)
    sizes, donorless = _gift_sizes(session, selection, scope)
    with_days = per_campaign or len(selection.campaigns) == 1
    last_day = [c for c in selection.campaigns if _ends_on(c, today)] if with_days and now is not None else []
    return _Rollups(
        money=_money_by_month(session, selection, add_months(chart_months[0], -12), per_campaign),
        sizes=sizes,
        donorless=donorless,
        bitmaps=_donor_bitmaps(session, scope),
        plans=_active_plans(session, selection),
        events=_events(session, selection),
        days=_days(session, selection.campaign_ids, today) if with_days else {},
        hours=_hours(session, last_day, now) if last_day else {},
        now=now,
    )


def _compute(selection: Selection, rollups: _Rollups, scope_ids: list[int], today: date) -> Dashboard:
    """The page's figures from loaded rollups (no queries): sums over the selection's campaigns."""
    chart_months = selection.chart_months(today)
    sums: dict[tuple, list[int]] = {}
    for campaign_id in [*selection.campaign_ids, ALL_CAMPAIGNS]:
        for key, values in rollups.money.get(campaign_id, {}).items():
            if key in sums:
                sums[key] = [a + b for a, b in zip(sums[key], values, strict=True)]
            else:
                sums[key] = values
    money = {key: MonthRow(key[0], *values) for key, values in sums.items()}
    raised = fees = 0
    by_channel: dict[str, int] = defaultdict(int)
    by_method: dict[str, int] = defaultdict(int)
    for (month, channel, method), row in money.items():
        if (selection.first_month is None or month >= selection.first_month) and (
            selection.last_month is None or month <= selection.last_month
        ):
            raised += row.raised_cents
            fees += row.fee_cents
            by_channel[str(channel)] += row.raised_cents
            by_method[str(method)] += row.raised_cents
    counts: dict[int, int] = defaultdict(int)
    bitmaps: dict[date, int] = defaultdict(int)
    for scope_id in scope_ids:
        for amount, n in rollups.sizes.get(scope_id, {}).items():
            counts[amount] += n
        for month, bits in rollups.bitmaps.get(scope_id, {}).items():
            bitmaps[month] |= bits
    counts = {amount: n for amount, n in counts.items() if n}
    gifts = sum(counts.values())
    total = sum(amount * n for amount, n in counts.items())
    donors = DonorSets(bitmaps)
    plans = [rollups.plans.get(c, (0, 0)) for c in selection.campaign_ids]
    headline = Headline(
        currency=selection.currency,
        raised_cents=raised,
        fee_cents=fees,
        goal_cents=selection.goal_cents,
        donors=donors.count(selection.first_month, selection.last_month)
        + sum(rollups.donorless.get(s, 0) for s in scope_ids),
        gifts=gifts,
        average_cents=_round_div(total, gifts) if gifts else None,
        median_cents=median_of_counts(counts),
        recurring_monthly_cents=sum(cents for _, cents in plans),
        active_plans=sum(n for n, _ in plans),
    )
    events = [e for c in selection.campaign_ids for e in rollups.events.get(c, [])]
    board = Dashboard(
        selection=selection,
        today=today,
        headline=headline,
        by_channel=dict(by_channel),
        by_method=dict(by_method),
        months=_sum_by_month(money, chart_months),
        months_last_year=_sum_by_month(money, [add_months(m, -12) for m in chart_months]),
        donor_months=donors.new_and_returning(chart_months),
        retention=donors.retention(selection.first_month, selection.last_month),
        sizes=size_bands(counts, selection.currency),
        events=sorted(events, key=lambda e: (-e.raised_cents, e.name)),
    )
    if len(selection.campaigns) == 1:
        campaign = selection.campaigns[0]
        board.progress = progress_from_days(campaign, rollups.days.get(campaign.id, {}), today,
                                            hours=rollups.hours.get(campaign.id), now=rollups.now)
    return board


def _plus(a: MonthRow, b: MonthRow) -> MonthRow:
    return MonthRow(
        a.month, a.raised_cents + b.raised_cents, a.fee_cents + b.fee_cents, a.recurring_cents + b.recurring_cents,
        a.refund_cents + b.refund_cents, a.refund_count + b.refund_count, a.dispute_cents + b.dispute_cents,
        a.dispute_count + b.dispute_count,
    )


def _money_by_month(
    session: Session, selection: Selection, charts_from: date, per_campaign: bool
) -> dict[int, dict[tuple, list[int]]]:
    """Money per (month, channel, method), per campaign or summed: the range plus what the charts need."""
    m = MonthlyRollup
    conditions = [m.campaign_id.in_(selection.campaign_ids)]
    if selection.channel is not None:
        conditions.append(m.channel == selection.channel)
    if selection.first_month is not None:
        conditions.append(m.month >= min(charts_from, selection.first_month))
    campaign = m.campaign_id if per_campaign else literal(ALL_CAMPAIGNS)
    groups = [m.month, m.channel, m.method, *([m.campaign_id] if per_campaign else [])]
    rows = _read(session, 
        select(
            campaign, m.month, m.channel, m.method, func.sum(m.raised_cents), func.sum(m.fee_cents),
            func.sum(m.recurring_cents), func.sum(m.refund_cents), func.sum(m.refund_count),
            func.sum(m.dispute_cents), func.sum(m.dispute_count),
        )
        .where(*conditions)
        .group_by(*groups)
    ).all()
    result: dict[int, dict[tuple, list[int]]] = defaultdict(dict)
    for campaign_id, month, channel, method, *values in rows:
        result[campaign_id][(month, channel, method)] = [int(v or 0) for v in values]
    return result


def _sum_by_month(money: dict[tuple, MonthRow], months: list[date]) -> list[MonthRow]:
    sums: dict[date, MonthRow] = {m: MonthRow(m) for m in months}
    for (month, _channel, _method), row in money.items():
        if month in sums:
            sums[month] = _plus(sums[month], row)
    return list(sums.values())


def _scope(session: Session, selection: Selection) -> tuple[list[int], str]:
    """Which rollup scopes answer the selection: the sums across campaigns when it holds every
    campaign with a standing gift (the usual overview), else the selected campaigns one by one."""
    channel = str(selection.channel) if selection.channel is not None else ALL_CHANNELS
    if len(selection.campaigns) > 1:
        standing = set(session.scalars(select(CampaignTotals.campaign_id).where(CampaignTotals.gift_count > 0)))
        if standing <= set(selection.campaign_ids):
            return [ALL_CAMPAIGNS], channel
    return selection.campaign_ids, channel


def _gift_sizes(
    session: Session, selection: Selection, scope: tuple[list[int], str]
) -> tuple[dict[int, dict[int, int]], dict[int, int]]:
    """Standing gifts per scope campaign by what is left of each, and how many have no donor record."""
    g = GiftSizeRollup
    conditions = [g.campaign_id.in_(scope[0]), g.channel == scope[1]]
    if selection.first_month is None and selection.last_month is None:
        conditions.append(g.month == ALL_MONTHS)
    else:
        conditions.append(g.month > ALL_MONTHS)
    if selection.first_month is not None:
        conditions.append(g.month >= selection.first_month)
    if selection.last_month is not None:
        conditions.append(g.month <= selection.last_month)
    rows = _read(session, 
        select(g.campaign_id, g.amount_cents, func.sum(g.gift_count), func.sum(g.donorless_count))
        .where(*conditions)
        .group_by(g.campaign_id, g.amount_cents)
    ).all()
    counts: dict[int, dict[int, int]] = defaultdict(dict)
    donorless: dict[int, int] = defaultdict(int)
    for campaign_id, amount, n, d in rows:
        counts[campaign_id][int(amount)] = int(n or 0)
        donorless[campaign_id] += int(d or 0)
    return counts, donorless


def median_of_counts(counts: dict[int, int]) -> int | None:
    """Exact median of amounts given as {amount: how many}; halves round up to the next cent."""
    total = sum(counts.values())
    if total == 0:
        return None
    lower_rank, upper_rank = (total - 1) // 2, total // 2
    seen, lower = 0, None
    for amount in sorted(counts):
        seen += counts[amount]
        if lower is None and seen > lower_rank:
            lower = amount
        if seen > upper_rank:
            return _round_div(lower + amount, 2)
    raise AssertionError("counts changed while reading")  # pragma: no cover


def _round_div(numerator: int, denominator: int) -> int:
    """Integer division rounding halves up (cents stay integers)."""
    return (2 * numerator + denominator) // (2 * denominator)


def size_bands(counts: dict[int, int], currency: str) -> list[SizeBand]:
    """Standing gifts grouped into the SIZE_BANDS of the currency's whole units."""
    unit = 10 ** minor_units(currency)
    edges = [b * unit for b in SIZE_BANDS]
    gifts, cents = [0] * len(edges), [0] * len(edges)
    for amount, n in counts.items():  # one pass: a campaign has thousands of distinct amounts
        band = bisect_right(edges, amount) - 1
        if band >= 0:
            gifts[band] += n
            cents[band] += amount * n
    return [SizeBand(low, edges[i + 1] if i + 1 < len(edges) else None, gifts[i], cents[i]) for i, low in enumerate(edges)]


def _donor_bitmaps(session: Session, scope: tuple[list[int], str]) -> dict[int, dict[date, int]]:
    """Each scope campaign's donors per month, as bitmaps (bit n: donor id n)."""
    result: dict[int, dict[date, int]] = defaultdict(dict)
    for campaign_id, month, bits in _read(session, 
        select(DonorBitmap.campaign_id, DonorBitmap.month, DonorBitmap.bits).where(
            DonorBitmap.campaign_id.in_(scope[0]), DonorBitmap.channel == scope[1]
        )
    ).all():
        result[campaign_id][month] = bits_of(bits)
    return result


class DonorSets:
    """Donor counts from monthly bitmaps: distinct over any months, new and returning, retention."""

    def __init__(self, months: dict[date, int]):
        self.months = {m: bits for m, bits in months.items() if bits}

    def count(self, first: date | None, last: date | None) -> int:
        """Distinct donors with a standing gift that arrived in the months from first to last."""
        union = 0
        for month, bits in self.months.items():
            if (first is None or month >= first) and (last is None or month <= last):
                union |= bits
        return union.bit_count()

    def new_and_returning(self, months: list[date]) -> list[DonorMonth]:
        """Per month: donors giving for the first time in the selection, and those who gave before."""
        seen, result = 0, {}
        for month in sorted(self.months):
            bits = self.months[month]
            result[month] = DonorMonth(month, (bits & ~seen).bit_count(), (bits & seen).bit_count())
            seen |= bits
        return [result.get(m, DonorMonth(m, 0, 0)) for m in months]

    def retention(self, first: date | None, last: date | None) -> list[Retention]:
        """For each year with donors after the first: of the year before's donors, how many gave again."""
        years: dict[int, int] = defaultdict(int)
        for month, bits in self.months.items():
            years[month.year] |= bits
        return [
            Retention(y, years.get(y - 1, 0).bit_count(), (years.get(y - 1, 0) & years[y]).bit_count())
            for y in sorted(years)[1:]
            if (first is None or y >= first.year) and (last is None or y <= last.year)
        ]


def _active_plans(session: Session, selection: Selection) -> dict[int, tuple[int, int]]:
    """Per campaign: monthly plans paying now, and what they bring in a month (plans are online)."""
    if selection.channel not in (None, GiftChannel.ONLINE):
        return {}
    rows = _read(session, 
        select(RecurringPlan.campaign_id, func.count(), func.sum(RecurringPlan.amount_cents))
        .where(
            RecurringPlan.campaign_id.in_(selection.campaign_ids),
            RecurringPlan.status == PlanStatus.ACTIVE,
            RecurringPlan.currency == selection.currency,
        )
        .group_by(RecurringPlan.campaign_id)
    ).all()
    return {campaign_id: (int(n), int(cents or 0)) for campaign_id, n, cents in rows}


def _events(session: Session, selection: Selection) -> dict[int, list[EventProceeds]]:
    """Per campaign: its community events (held within the months) and what each raised."""
    if selection.channel not in (None, GiftChannel.EVENT):
        return {}
    conditions = [EventRollup.campaign_id.in_(selection.campaign_ids)]
    if selection.first_month is not None:
        conditions.append(CommunityEvent.event_date >= selection.first_month)
    if selection.last_month is not None:
        conditions.append(CommunityEvent.event_date < add_months(selection.last_month, 1))
    rows = _read(session, 
        select(EventRollup.campaign_id, CommunityEvent.name, CommunityEvent.event_date, Campaign.title,
               EventRollup.raised_cents, EventRollup.gift_count)
        .join(CommunityEvent, CommunityEvent.id == EventRollup.event_id)
        .join(Campaign, Campaign.id == EventRollup.campaign_id)
        .where(*conditions)
    ).all()
    result: dict[int, list[EventProceeds]] = defaultdict(list)
    for campaign_id, name, day, title, raised, gifts in rows:
        result[campaign_id].append(EventProceeds(name, day, title, int(raised), int(gifts)))
    return result


# ---------------------------------------------------------------- one campaign's progress


@dataclass(frozen=True)
class CampaignProgress:
    """Cumulative raised by local day, the pace the goal needs, and a projection to the end date
    (projections.py: by the day, or by the hour on the campaign's last day)."""

    days: list[date]
    cumulative_cents: list[int]
    raised_cents: int
    goal_cents: int
    end_day: date | None
    days_left: int | None
    needed_per_day_cents: int | None
    projected_cents: int | None
    projected_low_cents: int | None
    projected_high_cents: int | None
    pace: Pace
    pace_unit: str  # "day", or "hour" on the last day
    now: datetime | None = None
    hours_left: float | None = None

    @property
    def ended(self) -> bool:
        """The campaign's last day is behind us: its total is final, nothing is projected."""
        return self.end_day is not None and self.end_day < self.days[-1]

    def projection(self) -> list[tuple[date | datetime, float, float, float]]:
        """(day or hour, expected, low, high) from now to the end, for the chart's band."""
        if self.pace_unit == "hour" and self.now is not None and self.hours_left:
            steps = [float(k) for k in range(math.ceil(self.hours_left))] + [self.hours_left]
            return [(self.now + timedelta(hours=k), *self._at(k)) for k in steps]
        if self.end_day is None or not self.days_left:
            return []
        return [(self.days[-1] + timedelta(days=k), *self._at(k)) for k in range(self.days_left + 1)]

    def _at(self, periods: float) -> tuple[int, int, int]:
        p = self.pace.project(self.raised_cents, periods)
        return p.expected_cents, p.low_cents, p.high_cents


def _days(session: Session, campaign_ids: list[int], today: date) -> dict[int, dict[date, int]]:
    """Per campaign: what it raised each local day up to today."""
    result: dict[int, dict[date, int]] = defaultdict(dict)
    for campaign_id, day, raised in _read(session, 
        select(DailyRollup.campaign_id, DailyRollup.day, DailyRollup.raised_cents).where(
            DailyRollup.campaign_id.in_(campaign_ids), DailyRollup.day <= today
        )
    ).all():
        result[campaign_id][day] = int(raised)
    return result


def _hours(session: Session, campaigns: list[Campaign], now: datetime) -> dict[int, list[int]]:
    """Per campaign: what came in each whole hour of today, from local midnight or the campaign's
    start, up to now (money moved today; corrections restate older days and are not pace)."""
    tz = current_settings().tz
    midnight = datetime.combine(now.astimezone(tz).date(), time(), tz)
    begins = {c.id: max(midnight, c.starts_at or midnight) for c in campaigns}
    result: dict[int, list[int]] = {c.id: [0] * (int((now - begins[c.id]).total_seconds() // 3600) + 1)
                                    for c in campaigns if now >= begins[c.id]}
    rows = _read(session, select(LedgerEntry.campaign_id, LedgerEntry.occurred_at, LedgerEntry.amount_cents).where(
        LedgerEntry.campaign_id.in_(list(result)), LedgerEntry.occurred_at >= midnight,
        LedgerEntry.occurred_at <= now, LedgerEntry.kind.not_in(RESTATING_KINDS),
    ))
    for campaign_id, occurred_at, amount in rows:
        hour = int((occurred_at - begins[campaign_id]).total_seconds() // 3600)
        if 0 <= hour < len(result[campaign_id]):
            result[campaign_id][hour] += int(amount)
    return result


def campaign_progress(session: Session, campaign: Campaign, today: date, now: datetime | None = None) -> CampaignProgress:
    """Every channel, every day from the campaign's first day to today (filters don't apply); by the
    hour when `now` is on the campaign's last day."""
    hours = _hours(session, [campaign], now).get(campaign.id) if now is not None and _ends_on(campaign, today) else None
    return progress_from_days(campaign, _days(session, [campaign.id], today).get(campaign.id, {}), today,
                              hours=hours, now=now)


def _end_day(campaign: Campaign) -> date | None:
    """The last local day anyone can give on: an end at midnight closes the day before."""
    if campaign.ends_at is None:
        return None
    return (campaign.ends_at - timedelta(microseconds=1)).astimezone(current_settings().tz).date()


def _ends_on(campaign: Campaign, day: date) -> bool:
    return _end_day(campaign) == day


def progress_from_days(
    campaign: Campaign, per_day: dict[date, int], today: date, *, hours: list[int] | None = None,
    now: datetime | None = None,
) -> CampaignProgress:
    """The progress chart's series and projection from a campaign's raised per local day (and, on its
    last day, per hour of that day so far)."""
    tz = current_settings().tz
    start = campaign.starts_at.astimezone(tz).date() if campaign.starts_at else None
    first = min([d for d in (start, min(per_day, default=None)) if d is not None], default=today)
    first = min(first, today)
    days = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    cumulative, running = [], 0
    for d in days:
        running += per_day.get(d, 0)
        cumulative.append(running)
    end_day = _end_day(campaign)
    days_left = None if end_day is None else max((end_day - today).days, 0)
    pace = pace_of([per_day.get(d, 0) for d in days[-PACE_WINDOW_DAYS:]])
    unit, hours_left, projection = "day", None, None
    if hours is not None and now is not None and end_day == today:
        day_start = max(datetime.combine(today, time(), tz), campaign.starts_at or now)
        unit, hours_left = "hour", max((campaign.ends_at - now).total_seconds() / 3600, 0.0)
        pace = hourly_pace(hours, (now - day_start).total_seconds() / 3600)
        projection = pace.project(running, hours_left)
    elif days_left is not None and end_day >= today:
        projection = pace.project(running, days_left)
    needed = None
    if days_left:
        needed = max(-(-(campaign.goal_cents - running) // days_left), 0)
    return CampaignProgress(
        days=days, cumulative_cents=cumulative, raised_cents=running, goal_cents=campaign.goal_cents,
        end_day=end_day, days_left=days_left, needed_per_day_cents=needed,
        projected_cents=projection.expected_cents if projection else None,
        projected_low_cents=projection.low_cents if projection else None,
        projected_high_cents=projection.high_cents if projection else None,
        pace=pace, pace_unit=unit, now=now.astimezone(tz) if unit == "hour" else None, hours_left=hours_left,
    )
