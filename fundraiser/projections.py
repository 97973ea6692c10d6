"""Where a campaign will likely end: a projection at the recent pace, with an 80% band.

The method (docs/board.md has its backtest):
- pace: the mean of what came in over recent periods: the last PACE_WINDOW_DAYS local days
  (today so far included) while more days are left; on the campaign's last day (a one-day
  campaign like Giving Tuesday included) the last PACE_WINDOW_HOURS whole hours of that day, so the
  evening's surge counts rather than a quiet morning or the days before;
- expected: raised so far plus the pace times the periods left (days after today, or hours to
  the end);
- band: the expected total ± 1.2816 standard deviations of what k more periods bring, when each
  period is a draw like the recent ones: sd · √(k + k²/n) (k periods of their own spread, plus the
  uncertainty of a pace learned from n periods); two-sided 80% if periods were independent and
  normal. Money already received does not go away in a projection, so the band never dips below
  what is raised (refunds to come are not projected).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PACE_WINDOW_DAYS = 28
PACE_WINDOW_HOURS = 6
# Two-sided 80% band: the projection says "likely between", not "certainly".
BAND_Z = 1.2816


@dataclass(frozen=True)
class Projection:
    expected_cents: int
    low_cents: int
    high_cents: int


@dataclass(frozen=True)
class Pace:
    """What came in per period recently: its mean and spread, and how many periods it is learned from."""

    mean_cents: float
    sd_cents: float
    periods: int

    def project(self, raised_cents: int, periods_left: float) -> Projection:
        """The total after `periods_left` more periods, with its 80% band (never below raised)."""
        k = max(periods_left, 0.0)
        expected = raised_cents + self.mean_cents * k
        spread = BAND_Z * self.sd_cents * math.sqrt(k + k * k / self.periods) if self.periods else 0.0
        low = max(expected - spread, raised_cents)
        return Projection(round(max(expected, raised_cents)), round(low), round(max(expected + spread, raised_cents)))


def pace_of(amounts: Sequence[int]) -> Pace:
    """Mean and sample standard deviation of per-period amounts (one period: its own size as spread,
    since one draw says nothing of the spread)."""
    n = len(amounts)
    if n == 0:
        return Pace(0.0, 0.0, 0)
    mean = sum(amounts) / n
    if n == 1:
        return Pace(mean, abs(mean), 1)
    return Pace(mean, math.sqrt(sum((x - mean) ** 2 for x in amounts) / (n - 1)), n)


def hourly_pace(per_hour: Sequence[int], elapsed_hours: float) -> Pace:
    """The pace on the last day from its whole hours so far (the last PACE_WINDOW_HOURS); in the
    day's first hour, the rate so far stands for an hour's."""
    whole = min(int(elapsed_hours), len(per_hour))
    if whole == 0:
        so_far = sum(per_hour)
        return pace_of([round(so_far / elapsed_hours)] if elapsed_hours > 0 else [])
    return pace_of(per_hour[max(whole - PACE_WINDOW_HOURS, 0):whole])
