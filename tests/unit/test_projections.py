"""Projections: the recent pace by the day, by the hour on a campaign's last day, and a band that
never dips below what is already raised."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from fundraiser import analytics, ledger
from fundraiser.projections import hourly_pace, pace_of
from tests.factories import give, make_campaign

NEW_YORK = ZoneInfo("America/New_York")


def test_the_band_never_dips_below_what_is_raised_even_after_refund_days(session):
    start = datetime(2024, 1, 1, tzinfo=NEW_YORK)
    campaign = make_campaign(session, starts_at=start, ends_at=datetime(2024, 4, 1, tzinfo=NEW_YORK))
    big = give(session, campaign, 50_000, received_at=start + timedelta(hours=12))
    for i in range(3):
        give(session, campaign, 100, received_at=start + timedelta(days=32 + i, hours=12))
    ledger.refund_gift(session, big, 50_000, occurred_at=start + timedelta(days=35, hours=12), reason="Twice")
    session.flush()
    progress = analytics.campaign_progress(session, campaign, date(2024, 2, 5))
    # The refund falls in the 28 days the pace is learned from, the gift it refunds before them.
    assert progress.raised_cents == 300 and progress.pace.mean_cents < 0
    assert progress.projected_low_cents == progress.projected_cents == progress.raised_cents
    assert progress.projected_high_cents > progress.raised_cents
    assert all(low >= progress.raised_cents for _, _, low, _ in progress.projection())


def test_a_one_day_campaign_projects_its_evening_from_the_last_hours(session):
    """Giving Tuesday: a quiet morning, a busy afternoon; at 18:00 the last six hours set the pace."""
    day = datetime(2026, 12, 1, tzinfo=NEW_YORK)
    campaign = make_campaign(session, goal_cents=1_000_000, starts_at=day, ends_at=day + timedelta(days=1))
    for hour in range(18):
        give(session, campaign, 1_000 if hour < 12 else 10_000, received_at=day + timedelta(hours=hour, minutes=30))
    session.flush()
    now = day + timedelta(hours=18)
    progress = analytics.campaign_progress(session, campaign, date(2026, 12, 1), now=now)
    assert progress.pace_unit == "hour" and progress.days_left == 0 and progress.hours_left == 6
    assert progress.raised_cents == 12 * 1_000 + 6 * 10_000
    assert progress.projected_cents == progress.raised_cents + 6 * 10_000  # not the day's average pace
    assert progress.projected_low_cents == progress.projected_high_cents == progress.projected_cents  # even hours
    band = progress.projection()
    assert band[0][0] == now and band[-1][0] == day + timedelta(days=1) and len(band) == 7
    # The same day read without the time of day has no hours left to project.
    assert analytics.campaign_progress(session, campaign, date(2026, 12, 1)).projected_cents == progress.raised_cents


def test_the_pace_of_uneven_hours_gives_a_band_around_the_expected_total():
    pace = hourly_pace([0, 5_000, 0, 5_000, 0, 5_000, 0, 5_000], elapsed_hours=8.5)
    assert (pace.mean_cents, pace.periods) == (2_500, 6)  # the last six whole hours
    projection = pace.project(20_000, 4)
    assert projection.low_cents < projection.expected_cents == 30_000 < projection.high_cents
    assert projection.low_cents >= 20_000


def test_in_the_first_hour_the_rate_so_far_stands_for_an_hours():
    pace = hourly_pace([3_000], elapsed_hours=0.5)
    assert pace.mean_cents == 6_000 and pace.sd_cents == 6_000
    assert pace_of([]).project(1_000, 5).expected_cents == 1_000
