"""Every board figure equals a direct computation from the ledger entries, for any ledger
(refunds, voids, disputes, moves, late fees, local-midnight and leap-day edges) and any filter."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fundraiser import analytics
from fundraiser.analytics import Selection, add_months, median_of_counts
from fundraiser.db import new_session
from fundraiser.models import CommunityEvent, EntryKind, Gift, GiftChannel, LedgerEntry
from tests.conftest import _wipe
from tests.factories import give, make_campaign
from tests.unit.ledger_strategies import build_ledger, operation

NEW_YORK = ZoneInfo("America/New_York")
TODAY = date(2025, 6, 15)
ARRIVALS = (EntryKind.GIFT, EntryKind.REASSIGN_IN)


def month_of(moment: datetime) -> date:
    return moment.astimezone(NEW_YORK).date().replace(day=1)


class Direct:
    """The figures, computed the slow and obvious way from every entry."""

    def __init__(self, session, selection: Selection):
        self.s = selection
        rows = session.execute(
            select(LedgerEntry, Gift).join(Gift, Gift.id == LedgerEntry.gift_id).order_by(LedgerEntry.id)
        ).all()
        self.entries = [(e, g) for e, g in rows if e.campaign_id in selection.campaign_ids
                        and (selection.channel is None or g.channel == selection.channel)]
        net: dict[tuple, int] = defaultdict(int)
        arrived: dict[tuple, datetime] = {}
        current: dict[int, int] = {}
        self.gifts = {}
        self.event_months = {e.id: e.event_date.replace(day=1) for e in session.scalars(select(CommunityEvent))}
        # The month an entry's money counts in: corrections and voids restate the gift where it arrived.
        self.money_months: dict[int, date] = {}
        for e, g in rows:
            self.gifts[g.id] = g
            if e.campaign_id is None:
                continue
            net[(g.id, e.campaign_id)] += e.amount_cents
            if e.kind in ARRIVALS:
                arrived[(g.id, e.campaign_id)] = e.occurred_at
                current[g.id] = e.campaign_id
            restating = e.kind in (EntryKind.CORRECTION, EntryKind.VOID)
            self.money_months[e.id] = month_of(arrived[(g.id, e.campaign_id)] if restating else e.occurred_at)
        # Standing gifts: (gift, campaign, what is left, arrival month).
        self.standing = [
            (self.gifts[gid], cid, left, month_of(arrived[(gid, cid)]))
            for (gid, cid), left in net.items()
            if left > 0 and cid in selection.campaign_ids
            and (selection.channel is None or self.gifts[gid].channel == selection.channel)
        ]
        self.fees = [
            (g, month_of(arrived[(g.id, current[g.id])])) for g in self.gifts.values()
            if g.fee_cents and g.id in current and current[g.id] in selection.campaign_ids
            and (selection.channel is None or g.channel == selection.channel)
        ]

    def in_range(self, month: date) -> bool:
        return (self.s.first_month is None or month >= self.s.first_month) and (
            self.s.last_month is None or month <= self.s.last_month
        )

    def raised(self, month_filter=None) -> int:
        keep = month_filter or self.in_range
        return sum(e.amount_cents for e, _ in self.entries if keep(self.money_months[e.id]))

    def standing_in_range(self):
        return [x for x in self.standing if self.in_range(x[3])]


def check(board, direct: Direct, selection: Selection) -> None:
    h = board.headline
    assert h.raised_cents == direct.raised()
    assert h.fee_cents == sum(g.fee_cents for g, m in direct.fees if direct.in_range(m))
    standing = direct.standing_in_range()
    amounts = sorted(left for _, _, left, _ in standing)
    assert h.gifts == len(amounts)
    donors = {g.donor_id for g, _, _, _ in standing if g.donor_id is not None}
    assert h.donors == len(donors) + sum(1 for g, _, _, _ in standing if g.donor_id is None)
    if amounts:
        assert h.average_cents == round_half_up(Fraction(sum(amounts), len(amounts)))
        mid = len(amounts) // 2
        exact = amounts[mid] if len(amounts) % 2 else Fraction(amounts[mid - 1] + amounts[mid], 2)
        assert h.median_cents == round_half_up(Fraction(exact))
    else:
        assert h.average_cents is None and h.median_cents is None
    for channel in GiftChannel:
        assert board.by_channel.get(channel.value, 0) == sum(
            e.amount_cents for e, g in direct.entries if g.channel == channel and direct.in_range(direct.money_months[e.id])
        )
    months = selection.chart_months(TODAY)
    assert [r.raised_cents for r in board.months] == [direct.raised(lambda m, x=m: m == x) for m in months]
    year_before = [add_months(m, -12) for m in months]
    assert [r.raised_cents for r in board.months_last_year] == [
        direct.raised(lambda m, x=x: m == x) for x in year_before
    ]
    assert [r.refund_cents for r in board.months] == [
        sum(-e.amount_cents for e, _ in direct.entries if e.kind == EntryKind.REFUND and month_of(e.occurred_at) == m)
        for m in months
    ]
    assert [r.recurring_cents for r in board.months] == [
        sum(e.amount_cents for e, g in direct.entries if g.recurring_plan_id and direct.money_months[e.id] == m)
        for m in months
    ]
    # New and returning donors: first standing gift in the selection, by arrival month.
    donor_months = defaultdict(set)
    for g, _, _, m in direct.standing:
        if g.donor_id is not None:
            donor_months[g.donor_id].add(m)
    firsts = {d: min(ms) for d, ms in donor_months.items()}
    assert [(r.new, r.returning) for r in board.donor_months] == [
        (
            sum(1 for d, ms in donor_months.items() if m in ms and firsts[d] == m),
            sum(1 for d, ms in donor_months.items() if m in ms and firsts[d] < m),
        )
        for m in months
    ]
    years = defaultdict(set)
    for d, ms in donor_months.items():
        for m in ms:
            years[m.year].add(d)
    expected = [
        (y, len(years.get(y - 1, set())), len(years.get(y - 1, set()) & years[y]))
        for y in sorted(years)[1:]
        if (selection.first_month is None or y >= selection.first_month.year)
        and (selection.last_month is None or y <= selection.last_month.year)
    ]
    assert [(r.year, r.donors_before, r.retained) for r in board.retention] == expected
    assert sum(b.gifts for b in board.sizes) == len(amounts)
    assert sum(b.total_cents for b in board.sizes) == sum(amounts)
    if selection.channel in (None, GiftChannel.EVENT):
        event_totals = defaultdict(int)
        for e, g in direct.entries:
            if g.event_id is not None and direct.in_range(direct.event_months[g.event_id]):
                event_totals[(g.event_id, e.campaign_id)] += e.amount_cents
        assert sorted(e.raised_cents for e in board.events) == sorted(event_totals.values())


def round_half_up(value: Fraction) -> int:
    return int((value * 2 + 1) // 2)


selections = st.tuples(
    st.sampled_from([None, (0,), (1,), (0, 2)]),
    st.sampled_from([None, *GiftChannel]),
    st.sampled_from([(None, None), (date(2024, 2, 1), date(2024, 3, 1)), (date(2024, 1, 1), None),
                     (None, date(2024, 12, 1))]),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=25), choice=selections)
def test_every_board_figure_equals_the_ledger(app, ops, choice):
    with app.app_context():
        session = new_session(write=True)
        try:
            campaigns = build_ledger(session, ops)
            which, channel, (first, last) = choice
            chosen = tuple(campaigns) if which is None else tuple(campaigns[i] for i in which)
            selection = Selection(chosen, "USD", channel, first, last)
            check(analytics.dashboard(session, selection, TODAY), Direct(session, selection), selection)
            # The printed report reads every campaign at once; each page must equal that campaign's
            # own, and its summary the selection's page.
            printed = analytics.report(session, selection, TODAY)
            for page in printed.pages:
                alone = Selection(page.selection.campaigns, "USD", channel, first, last)
                assert page == analytics.dashboard(session, alone, TODAY)
            assert printed.summary == analytics.dashboard(session, selection, TODAY)
            session.commit()
        finally:
            session.close()
            _wipe(app)


def test_median_of_an_even_count_rounds_the_half_cent_up():
    assert median_of_counts({100: 1, 101: 1}) == 101
    assert median_of_counts({100: 2, 300: 1}) == 100
    assert median_of_counts({}) is None


def test_campaign_progress_counts_local_days_and_projects_from_the_recent_pace(session):
    tz = NEW_YORK
    start = datetime(2024, 2, 1, 5, 0, tzinfo=UTC)  # Feb 1, local midnight
    campaign = make_campaign(session, goal_cents=100_000, starts_at=start,
                             ends_at=datetime(2024, 3, 31, 4, 0, tzinfo=UTC))
    # 1,000.00 a day for 28 local days, each given at 23:30 local: the UTC date is the next day.
    for i in range(28):
        give(session, campaign, 1000, received_at=(start + timedelta(days=i, hours=23, minutes=30)))
    today = date(2024, 2, 28)
    progress = analytics.campaign_progress(session, campaign, today)
    assert progress.days[0] == date(2024, 2, 1) and progress.days[-1] == today
    assert progress.cumulative_cents[0] == 1000 and progress.raised_cents == 28_000
    assert start.astimezone(tz).date() == progress.days[0]
    assert progress.days_left == 31  # Feb 29 to Mar 30: the end, 00:00 local on Mar 31, closes Mar 30
    assert progress.pace.sd_cents == 0 and progress.pace_unit == "day"
    assert progress.projected_cents == 28_000 + 31 * 1000
    assert progress.projected_low_cents == progress.projected_high_cents == progress.projected_cents
    assert progress.needed_per_day_cents == -(-(100_000 - 28_000) // 31)


def test_projection_band_widens_with_uneven_giving(session):
    campaign = make_campaign(session, starts_at=datetime(2024, 2, 1, 5, tzinfo=UTC),
                             ends_at=datetime(2024, 4, 1, 4, tzinfo=UTC))
    for i, amount in enumerate([100, 9000, 100, 9000]):
        give(session, campaign, amount, received_at=datetime(2024, 2, 2 + i, 15, tzinfo=UTC))
    progress = analytics.campaign_progress(session, campaign, date(2024, 2, 5))
    assert progress.projected_low_cents < progress.projected_cents < progress.projected_high_cents
    band = progress.projection()
    assert band[0][2] == band[0][3] == progress.raised_cents
    widths = [high - low for _, _, low, high in band]
    assert widths == sorted(widths)


@pytest.mark.parametrize("month,count,expected", [
    (date(2024, 1, 1), -1, date(2023, 12, 1)), (date(2024, 12, 1), 1, date(2025, 1, 1)),
    (date(2024, 2, 1), -12, date(2023, 2, 1)),
])
def test_add_months_crosses_years(month, count, expected):
    assert add_months(month, count) == expected


def test_a_corrected_typo_restates_the_gifts_day_instead_of_looking_like_money_lost(session):
    from fundraiser import ledger, rollups
    from fundraiser.db import utcnow

    now = utcnow()
    campaign = make_campaign(session, goal_cents=1_000_000, starts_at=now - timedelta(days=10))
    give(session, campaign, 10_000, received_at=now - timedelta(days=9))
    typo = give(session, campaign, 500_000, received_at=now - timedelta(days=5))
    ledger.correct_amount(session, typo, 50_000, reason="Typed an extra zero")
    session.flush()
    today = now.astimezone(NEW_YORK).date()
    progress = analytics.campaign_progress(session, campaign, today)
    # Never above what is now recorded, never a fall: the fix lands on the gift's own day.
    assert progress.cumulative_cents == sorted(progress.cumulative_cents)
    assert max(progress.cumulative_cents) == progress.raised_cents == 60_000
    typo_day = progress.days.index((now - timedelta(days=5)).astimezone(NEW_YORK).date())
    assert progress.cumulative_cents[typo_day] == 60_000
    assert rollups.verify_rollups(session) == []


def test_gift_size_bands_take_each_amount_at_their_lower_edge():
    from fundraiser.analytics import size_bands

    bands = size_bands({2499: 1, 2500: 2, 9999: 1, 10000: 1, 50_000_000: 3}, "USD")
    by_low = {b.low_cents: (b.gifts, b.total_cents) for b in bands}
    assert by_low[0] == (1, 2499) and by_low[2500] == (2, 5000) and by_low[5000] == (1, 9999)
    assert by_low[10000] == (1, 10000) and by_low[500000] == (3, 150_000_000)
    assert bands[-1].high_cents is None and sum(b.gifts for b in bands) == 8
    assert [b.low_cents for b in size_bands({}, "JPY")] == [0, 25, 50, 100, 250, 500, 1000, 5000]
