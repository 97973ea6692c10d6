"""Backtest of the board's projections (fundraiser/projections.py) on the dashboard bench's data set.

    .venv/bin/python bench/dashboard.py --db sqlite          # builds /tmp/bench_board.sqlite3 once
    .venv/bin/python bench/projection_backtest.py --db sqlite

By the day: at every seventh day of each campaign (from its 28th day on), project H days ahead from
the daily rollups up to that day, exactly as the progress chart does, and check whether the total
H days later fell inside the 80% band, and by how much the expected figure missed (the median
miss, as a share of where the campaign ended). By the hour: each whole local day of each campaign is taken
as a one-day campaign; at 06:00, 12:00, 18:00 and 21:00 the day's end is projected from its hours
so far (the ledger entries, as the app reads them on a last day) and checked against the day's
total. The bench spreads gifts evenly over the day, which a Giving Tuesday does not; so the same
days are also replayed with each gift moved to an hour drawn from a rising evening profile (the
same gifts and amounts), the case the last-hours pace is for. Both hourly replays also report the
day's average pace, the alternative the method was chosen over.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from common import machine
from sqlalchemy import create_engine, select

from fundraiser.models import Campaign, DailyRollup, LedgerEntry
from fundraiser.projections import PACE_WINDOW_DAYS, Projection, hourly_pace, pace_of
from fundraiser.rollups import RESTATING_KINDS

TZ = ZoneInfo("America/New_York")
HORIZONS_DAYS = (7, 30, 90)
CUTOFF_HOURS = (6, 12, 18, 21)
# Relative giving per local hour on a Giving Tuesday: quiet night, a lunchtime bump, a rising evening.
EVENING_PROFILE = [1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 7, 6, 5, 5, 6, 7, 9, 11, 13, 14, 12, 8]


class Tally:
    """Coverage of the band and the size of the error, over many projections."""

    def __init__(self) -> None:
        self.n = self.inside = self.below = 0
        self.misses: list[float] = []

    def add(self, projection: Projection, raised_before: int, actual: int) -> None:
        self.n += 1
        self.inside += projection.low_cents <= actual <= projection.high_cents
        self.below += actual < projection.low_cents
        # The miss as a share of where the campaign ended (what was still to come can be a few
        # cents late on a quiet day, which made a share of it meaningless).
        self.misses.append(abs(projection.expected_cents - actual) / max(actual, 1))

    def row(self, label: str) -> str:
        if not self.n:
            return f"| {label} | 0 | – | – | – |"
        return (f"| {label} | {self.n:,} | {100 * self.inside / self.n:.1f}% | {100 * self.below / self.n:.1f}% | "
                f"{100 * statistics.median(self.misses):.0f}% |")


def daily_backtest(engine, campaigns: dict[int, tuple[date, date]]) -> dict[int, Tally]:
    per_day: dict[int, dict[date, int]] = defaultdict(dict)
    with engine.connect() as conn:
        for campaign_id, day, raised in conn.execute(select(DailyRollup.campaign_id, DailyRollup.day, DailyRollup.raised_cents)):
            per_day[campaign_id][day] = int(raised)
    tallies = {h: Tally() for h in HORIZONS_DAYS}
    for campaign_id, (first, last) in campaigns.items():
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        amounts = [per_day[campaign_id].get(d, 0) for d in days]
        cumulative, running = [], 0
        for a in amounts:
            running += a
            cumulative.append(running)
        for cut in range(PACE_WINDOW_DAYS - 1, len(days), 7):
            pace = pace_of(amounts[max(cut + 1 - PACE_WINDOW_DAYS, 0):cut + 1])
            for h in HORIZONS_DAYS:
                if cut + h < len(days):
                    tallies[h].add(pace.project(cumulative[cut], h), cumulative[cut], cumulative[cut + h])
    return tallies


def hourly_backtest(engine, campaigns: dict[int, tuple[date, date]], seed: int) -> dict[str, Tally]:
    hours: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0] * 24)
    gifts: dict[tuple[int, date], list[int]] = defaultdict(list)
    with engine.connect() as conn:
        rows = conn.execute(select(LedgerEntry.campaign_id, LedgerEntry.occurred_at, LedgerEntry.amount_cents)
                            .where(LedgerEntry.kind.not_in(RESTATING_KINDS), LedgerEntry.campaign_id.is_not(None))
                            .execution_options(yield_per=50_000))
        for campaign_id, occurred_at, amount in rows:
            local = occurred_at.astimezone(TZ)
            first, last = campaigns[campaign_id]
            if first < local.date() < last:  # whole days only
                midnight = datetime.combine(local.date(), time(), TZ)
                hour = min(int((local - midnight).total_seconds() // 3600), 23)
                hours[(campaign_id, local.date())][hour] += int(amount)
                gifts[(campaign_id, local.date())].append(int(amount))
    rng = random.Random(seed)
    shaped: dict[tuple[int, date], list[int]] = {}
    for key, amounts in gifts.items():
        day = [0] * 24
        for amount in amounts:
            day[rng.choices(range(24), EVENING_PROFILE)[0]] += amount
        shaped[key] = day
    tallies: dict[str, Tally] = defaultdict(Tally)
    for label, days in (("even day (bench as generated)", hours), ("evening-heavy day (same gifts re-timed)", shaped)):
        for series in days.values():
            total = sum(series)
            for cut in CUTOFF_HOURS:
                so_far = sum(series[:cut])
                tallies[f"{label}, at {cut:02d}:00, last 6 hours' pace"].add(
                    hourly_pace(series[:cut], cut).project(so_far, 24 - cut), so_far, total)
                tallies[f"{label}, at {cut:02d}:00, the day's average pace"].add(
                    pace_of(series[:cut]).project(so_far, 24 - cut), so_far, total)
    return tallies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    url = ("sqlite:////tmp/bench_board.sqlite3" if args.db == "sqlite"
           else "postgresql+psycopg://postgres@127.0.0.1:5432/bench_board")
    engine = create_engine(url)
    with engine.connect() as conn:
        campaigns = {}
        data_end = None
        for campaign_id, starts_at, ends_at in conn.execute(select(Campaign.id, Campaign.starts_at, Campaign.ends_at)):
            campaigns[campaign_id] = (starts_at, ends_at)
        data_end = conn.execute(select(LedgerEntry.occurred_at).order_by(LedgerEntry.occurred_at.desc()).limit(1)).scalar()
    spans = {}
    for campaign_id, (starts_at, ends_at) in campaigns.items():
        last = min(ends_at, data_end) if ends_at else data_end
        spans[campaign_id] = (starts_at.astimezone(TZ).date(), last.astimezone(TZ).date())
    print(f"Machine: {machine()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| projection | projections | inside the 80% band | actual below the band | median miss, share of the final total |")
    print("| --- | --- | --- | --- | --- |")
    for h, tally in daily_backtest(engine, spans).items():
        print(tally.row(f"by the day, {h} days ahead"))
    for label, tally in hourly_backtest(engine, spans, args.seed).items():
        print(tally.row(f"by the hour, {label}"))


if __name__ == "__main__":
    main()
