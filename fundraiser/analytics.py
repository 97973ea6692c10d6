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
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from .campaigns import percent_of_goal
from .models import (
    Campaign,
    CampaignStatus,
    CommunityEvent,
    DailyRollup,
    DonorMonthRollup,
    EventRollup,
    GiftChannel,
    GiftMethod,
    GiftSizeRollup,
    PlanStatus,
    RecurringPlan,
)
from .money import minor_units
from .settings import current_settings

# Gift-size bands, in whole units of the currency; the last band is open-ended.
SIZE_BANDS = (0, 25, 50, 100, 250, 500, 1000, 5000)
# Days of recent giving the projection learns its pace from.
PACE_WINDOW_DAYS = 28
# Two-sided 80% band: the projection says "likely between", not "certainly".
BAND_Z = 1.2816
BOARD_STATUSES = (CampaignStatus.ACTIVE, CampaignStatus.CLOSED, CampaignStatus.ARCHIVED)


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
        last = self.last_month or today.replace(day=1)
        first = self.first_month or add_months(last, -11)
        return months_between(first, last)

    def where(self, model, month_column=None, *, dated: bool = True) -> list:
        """SQL conditions for a rollup table: campaigns, channel and (if dated) months."""
        conditions = [model.campaign_id.in_(self.campaign_ids)]
        if self.channel is not None:
            conditions.append(model.channel == self.channel)
        month = month_column if month_column is not None else model.month
        if dated and self.first_month is not None:
            conditions.append(month >= self.first_month)
        if dated and self.last_month is not None:
            conditions.append(month <= self.last_month)
        return conditions


def board_campaigns(session: Session) -> list[Campaign]:
    """Campaigns the board reviews (every one but drafts), newest first."""
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.status.in_(BOARD_STATUSES))
            .order_by(Campaign.starts_at.desc().nulls_last(), Campaign.title)
        )
    )


def board_campaign(session: Session, slug: str) -> Campaign | None:
    return session.scalar(select(Campaign).where(Campaign.slug == slug, Campaign.status.in_(BOARD_STATUSES)))


# ------------------------------------------------------------------------------ figures


@dataclass(frozen=True)
class Headline:
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


def dashboard(session: Session, selection: Selection, today: date) -> Dashboard:
    """Compute a board page: headline, every chart's data, and (for one campaign) its progress."""
    chart_months = selection.chart_months(today)
    money = _money_by_month(session, selection, add_months(chart_months[0], -12))
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
    monthly = _sum_by_month(money, chart_months)
    last_year = _sum_by_month(money, [add_months(m, -12) for m in chart_months])
    counts, sizes_rows = _gift_sizes(session, selection)
    gifts = sum(counts.values())
    total = sum(amount * n for amount, n in counts.items())
    plans, plan_cents = _active_plans(session, selection)
    headline = Headline(
        currency=selection.currency,
        raised_cents=raised,
        fee_cents=fees,
        goal_cents=selection.goal_cents,
        donors=_donor_count(session, selection) + sizes_rows,
        gifts=gifts,
        average_cents=_round_div(total, gifts) if gifts else None,
        median_cents=median_of_counts(counts),
        recurring_monthly_cents=plan_cents,
        active_plans=plans,
    )
    board = Dashboard(
        selection=selection,
        today=today,
        headline=headline,
        by_channel=dict(by_channel),
        by_method=dict(by_method),
        months=monthly,
        months_last_year=last_year,
        donor_months=_donor_months(session, selection, chart_months),
        retention=_retention(session, selection),
        sizes=size_bands(counts, selection.currency),
        events=_events(session, selection),
    )
    if len(selection.campaigns) == 1:
        board.progress = campaign_progress(session, selection.campaigns[0], today)
    return board


def _money_by_month(session: Session, selection: Selection, charts_from: date) -> dict[tuple, MonthRow]:
    """Money per (month, channel, method): the selected range plus what the monthly charts need."""
    conditions = selection.where(DailyRollup, dated=False)
    if selection.first_month is not None:
        conditions.append(DailyRollup.month >= min(charts_from, selection.first_month))
    rows = session.execute(
        select(
            DailyRollup.month, DailyRollup.channel, DailyRollup.method,
            func.sum(DailyRollup.raised_cents), func.sum(DailyRollup.fee_cents),
            func.sum(DailyRollup.recurring_cents), func.sum(DailyRollup.refund_cents),
            func.sum(DailyRollup.refund_count), func.sum(DailyRollup.dispute_cents),
            func.sum(DailyRollup.dispute_count),
        )
        .where(*conditions)
        .group_by(DailyRollup.month, DailyRollup.channel, DailyRollup.method)
    ).all()
    return {(m, c, k): MonthRow(m, *(int(v or 0) for v in values)) for m, c, k, *values in rows}


def _sum_by_month(money: dict[tuple, MonthRow], months: list[date]) -> list[MonthRow]:
    sums: dict[date, list[int]] = {m: [0] * 7 for m in months}
    for (month, _c, _m), row in money.items():
        if month in sums:
            values = (row.raised_cents, row.fee_cents, row.recurring_cents, row.refund_cents,
                      row.refund_count, row.dispute_cents, row.dispute_count)
            sums[month] = [a + b for a, b in zip(sums[month], values, strict=True)]
    return [MonthRow(m, *sums[m]) for m in months]


def _gift_sizes(session: Session, selection: Selection) -> tuple[dict[int, int], int]:
    """Standing gifts by what is left of each, and how many have no donor record."""
    rows = session.execute(
        select(GiftSizeRollup.amount_cents, func.sum(GiftSizeRollup.gift_count), func.sum(GiftSizeRollup.donorless_count))
        .where(*selection.where(GiftSizeRollup))
        .group_by(GiftSizeRollup.amount_cents)
    ).all()
    counts = {int(amount): int(n) for amount, n, _ in rows if n}
    return counts, sum(int(d or 0) for _, _, d in rows)


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
    bands = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else None
        inside = {a: n for a, n in counts.items() if a >= low and (high is None or a < high)}
        bands.append(SizeBand(low, high, sum(inside.values()), sum(a * n for a, n in inside.items())))
    return bands


def _donor_count(session: Session, selection: Selection) -> int:
    return int(
        session.scalar(
            select(func.count(func.distinct(DonorMonthRollup.donor_id))).where(
                *selection.where(DonorMonthRollup), DonorMonthRollup.gift_count > 0
            )
        )
    )


def _donor_months(session: Session, selection: Selection, months: list[date]) -> list[DonorMonth]:
    """New and returning donors in each month; new means a first standing gift in the selection."""
    undated = [*selection.where(DonorMonthRollup, dated=False), DonorMonthRollup.gift_count > 0]
    firsts = (
        select(DonorMonthRollup.donor_id, func.min(DonorMonthRollup.month).label("first"))
        .where(*undated)
        .group_by(DonorMonthRollup.donor_id)
        .subquery()
    )
    new = dict(
        session.execute(
            select(firsts.c.first, func.count())
            .where(firsts.c.first >= months[0], firsts.c.first <= months[-1])
            .group_by(firsts.c.first)
        ).all()
    )
    active = dict(
        session.execute(
            select(DonorMonthRollup.month, func.count(func.distinct(DonorMonthRollup.donor_id)))
            .where(*undated, DonorMonthRollup.month >= months[0], DonorMonthRollup.month <= months[-1])
            .group_by(DonorMonthRollup.month)
        ).all()
    )
    return [DonorMonth(m, int(new.get(m, 0)), int(active.get(m, 0)) - int(new.get(m, 0))) for m in months]


def _retention(session: Session, selection: Selection) -> list[Retention]:
    """For each year in the data: of the year before's donors, how many gave again."""
    year = func.extract("year", DonorMonthRollup.month)
    donor_years = (
        select(DonorMonthRollup.donor_id.label("donor_id"), year.label("year"))
        .where(*selection.where(DonorMonthRollup, dated=False), DonorMonthRollup.gift_count > 0)
        .group_by(DonorMonthRollup.donor_id, year)
        .cte("donor_years")
    )
    later = donor_years.alias("later")
    per_year = dict(
        session.execute(select(donor_years.c.year, func.count()).group_by(donor_years.c.year)).all()
    )
    retained = dict(
        session.execute(
            select(donor_years.c.year, func.count())
            .join(later, and_(later.c.donor_id == donor_years.c.donor_id, later.c.year == donor_years.c.year + 1))
            .group_by(donor_years.c.year)
        ).all()
    )
    per_year = {int(y): int(n) for y, n in per_year.items()}
    retained = {int(y): int(n) for y, n in retained.items()}
    first = selection.first_month.year if selection.first_month else None
    last = selection.last_month.year if selection.last_month else None
    return [
        Retention(y, per_year.get(y - 1, 0), retained.get(y - 1, 0))
        for y in sorted(per_year)[1:]
        if (first is None or y >= first) and (last is None or y <= last)
    ]


def _active_plans(session: Session, selection: Selection) -> tuple[int, int]:
    """Monthly plans paying now, and what they bring in a month (plans are online gifts)."""
    if selection.channel not in (None, GiftChannel.ONLINE):
        return 0, 0
    count, cents = session.execute(
        select(func.count(), func.coalesce(func.sum(RecurringPlan.amount_cents), 0)).where(
            RecurringPlan.campaign_id.in_(selection.campaign_ids),
            RecurringPlan.status == PlanStatus.ACTIVE,
            RecurringPlan.currency == selection.currency,
        )
    ).one()
    return int(count), int(cents)


def _events(session: Session, selection: Selection) -> list[EventProceeds]:
    """Community events of the selection (held within its months), most raised first."""
    conditions = [EventRollup.campaign_id.in_(selection.campaign_ids)]
    if selection.first_month is not None:
        conditions.append(CommunityEvent.event_date >= selection.first_month)
    if selection.last_month is not None:
        conditions.append(CommunityEvent.event_date < add_months(selection.last_month, 1))
    if selection.channel not in (None, GiftChannel.EVENT):
        return []
    rows = session.execute(
        select(CommunityEvent.name, CommunityEvent.event_date, Campaign.title, EventRollup.raised_cents, EventRollup.gift_count)
        .join(CommunityEvent, CommunityEvent.id == EventRollup.event_id)
        .join(Campaign, Campaign.id == EventRollup.campaign_id)
        .where(*conditions)
        .order_by(EventRollup.raised_cents.desc(), CommunityEvent.name)
    ).all()
    return [EventProceeds(n, d, t, int(r), int(g)) for n, d, t, r, g in rows]


# ---------------------------------------------------------------- one campaign's progress


@dataclass(frozen=True)
class CampaignProgress:
    """Cumulative raised by local day, the pace the goal needs, and a projection to the end date."""

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
    daily_mean_cents: float
    daily_sd_cents: float
    window_days: int

    def projection(self) -> list[tuple[date, float, float, float]]:
        """(day, expected, low, high) from today to the end day, for the chart's band."""
        if self.end_day is None or not self.days_left:
            return []
        today = self.days[-1]
        points = []
        for k in range(self.days_left + 1):
            spread = BAND_Z * self.daily_sd_cents * math.sqrt(k + k * k / self.window_days)
            expected = self.raised_cents + self.daily_mean_cents * k
            points.append((today + timedelta(days=k), expected, max(expected - spread, 0.0), expected + spread))
        return points


def campaign_progress(session: Session, campaign: Campaign, today: date) -> CampaignProgress:
    """Every channel, every day from the campaign's first day to today (filters don't apply)."""
    tz = current_settings().tz
    rows = session.execute(
        select(DailyRollup.day, func.sum(DailyRollup.raised_cents))
        .where(DailyRollup.campaign_id == campaign.id, DailyRollup.day <= today)
        .group_by(DailyRollup.day)
        .order_by(DailyRollup.day)
    ).all()
    per_day = {d: int(v) for d, v in rows}
    start = campaign.starts_at.astimezone(tz).date() if campaign.starts_at else None
    first = min([d for d in (start, rows[0][0] if rows else None) if d is not None], default=today)
    first = min(first, today)
    days = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    cumulative, running = [], 0
    for d in days:
        running += per_day.get(d, 0)
        cumulative.append(running)
    window = days[-PACE_WINDOW_DAYS:]
    daily = [per_day.get(d, 0) for d in window]
    n = len(daily)
    mean = sum(daily) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in daily) / (n - 1)) if n > 1 else 0.0
    # The last local day anyone can give on: an end at midnight closes the day before.
    end_day = (campaign.ends_at - timedelta(microseconds=1)).astimezone(tz).date() if campaign.ends_at else None
    days_left = None if end_day is None else max((end_day - today).days, 0)
    needed = projected = low = high = None
    if days_left is not None:
        remaining = campaign.goal_cents - running
        needed = max(-(-remaining // days_left), 0) if days_left else None
        projected = running + _round_div(sum(daily) * days_left, n)
        spread = BAND_Z * sd * math.sqrt(days_left + days_left * days_left / n)
        low, high = max(round(projected - spread), 0), round(projected + spread)
    return CampaignProgress(
        days=days, cumulative_cents=cumulative, raised_cents=running, goal_cents=campaign.goal_cents,
        end_day=end_day, days_left=days_left, needed_per_day_cents=needed, projected_cents=projected,
        projected_low_cents=low, projected_high_cents=high, daily_mean_cents=mean, daily_sd_cents=sd,
        window_days=n,
    )
