"""Plotly figures for the board, each with the table a screen reader reads and the CSV it downloads.

Figures are plain Plotly JSON (data + layout), rendered in the browser by static/js/board.js.
Amounts are plotted in whole currency units (plot coordinates only; every figure a person reads
in a table or CSV comes from integer cents).
"""

from __future__ import annotations

import csv
import html
import io
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from babel import Locale
from babel.dates import format_date
from babel.numbers import get_currency_symbol

from ..analytics import Dashboard, MonthRow
from ..exports import safe_cell
from ..models import GiftChannel, GiftMethod
from ..money import format_money, from_cents, minor_units

CHANNEL_LABELS = {GiftChannel.ONLINE: "Online", GiftChannel.OFFLINE: "Offline", GiftChannel.EVENT: "Event"}
METHOD_LABELS = {
    GiftMethod.CARD: "Card", GiftMethod.BANK: "Bank transfer", GiftMethod.CHECK: "Check", GiftMethod.CASH: "Cash",
    GiftMethod.STOCK: "Stock", GiftMethod.IN_KIND: "In kind", GiftMethod.DAF: "Donor-advised fund",
    GiftMethod.OTHER: "Other",
}
COLOURS = ["#1d4e89", "#0a6b52", "#b35c00", "#7a3e9d", "#8b98a6", "#a0001c"]


@dataclass
class Chart:
    id: str
    title: str
    figure: dict
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)      # what the table shows
    csv_rows: list[list[str]] = field(default_factory=list)  # the same, as plain numbers
    # Builds a long CSV (every day) only when it is downloaded, not on every page view.
    csv_source: Callable[[], list[list[str]]] | None = None

    @property
    def has_data(self) -> bool:
        return bool(self.rows)

    def csv(self) -> list[list[str]]:
        return self.csv_source() if self.csv_source is not None else self.csv_rows


def to_csv(chart: Chart) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(c) for c in chart.columns])
    for row in chart.csv():
        writer.writerow([safe_cell(str(c)) for c in row])
    return out.getvalue()


class _Builder:
    def __init__(self, board: Dashboard, locale: str | Locale):
        self.board = board
        self.currency = board.selection.currency
        # Parsed once: Babel parses a locale name again on every call, the slow part of a report.
        self.locale = Locale.parse(locale)
        self.symbol = get_currency_symbol(self.currency, locale=self.locale)
        self.scale = 10 ** minor_units(self.currency)
        self._months: dict[date, str] = {}

    def money(self, cents: int) -> str:
        return format_money(cents, self.currency, self.locale)

    def plain(self, cents: int) -> str:
        return str(from_cents(cents, self.currency))

    def units(self, cents: float) -> float:
        """A plot coordinate in whole currency units (never used for a figure people read)."""
        return cents / self.scale

    def month(self, m: date) -> str:
        # Several charts label the same months; Babel's formatting is the slow part of a page.
        if m not in self._months:
            self._months[m] = format_date(m, "MMM yyyy", locale=self.locale)
        return self._months[m]

    def axis(self, title: str, money: bool = True) -> dict:
        axis = {"title": {"text": title}, "automargin": True, "rangemode": "tozero"}
        if money:
            axis.update(tickprefix=self.symbol, tickformat=",.0f", hoverformat=",.2f")
        return axis

    def layout(self, x: dict, y: dict, **extra) -> dict:
        # The title is the figure's caption on the page, so the plot itself doesn't repeat it.
        return {
            "xaxis": x, "yaxis": y, "margin": {"t": 40, "r": 16, "b": 40, "l": 16},
            "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"}, "height": 340, "font": {"family": "system-ui, sans-serif"},
            **extra,
        }

    # ------------------------------------------------------------------------- charts

    def progress(self) -> Chart | None:
        p = self.board.progress
        if p is None:
            return None
        title = "Raised so far against the goal"
        days = [d.isoformat() for d in p.days]
        cumulative = list(p.cumulative_cents)
        end = p.end_day.isoformat() if p.end_day else days[-1]
        if p.pace_unit == "hour":
            # The last day by the hour: from its midnight (yesterday's total) to now, then to the end.
            days[-1:] = [days[-1], _moment(p.now)]
            cumulative[-1:] = [cumulative[-2] if len(cumulative) > 1 else 0, cumulative[-1]]
            end = _moment(p.now + timedelta(hours=p.hours_left))
        data = [
            {"type": "scatter", "mode": "lines", "name": "Raised", "x": days,
             "y": [self.units(c) for c in cumulative], "line": {"color": COLOURS[0], "width": 3}},
        ]
        data.append({"type": "scatter", "mode": "lines", "name": "Goal", "x": [days[0], end],
                     "y": [self.units(p.goal_cents)] * 2, "line": {"color": COLOURS[4], "dash": "dot"}})
        band = p.projection()
        if band:
            data.append({"type": "scatter", "mode": "lines", "name": "Pace needed for the goal",
                         "x": [days[-1], end], "y": [self.units(p.raised_cents), self.units(p.goal_cents)],
                         "line": {"color": COLOURS[2], "dash": "dash"}})
            xs = [_moment(d) if isinstance(d, datetime) else d.isoformat() for d, *_ in band]
            data.append({"type": "scatter", "mode": "lines", "name": "Likely range (80%)", "x": xs,
                         "y": [self.units(high) for *_, high in band], "line": {"width": 0},
                         "showlegend": False, "hoverinfo": "skip"})
            data.append({"type": "scatter", "mode": "lines", "name": "Likely range (80%)", "x": xs,
                         "y": [self.units(low) for _, _, low, _ in band], "line": {"width": 0},
                         "fill": "tonexty", "fillcolor": "rgba(10,107,82,0.18)"})
            data.append({"type": "scatter", "mode": "lines", "name": "Projection at the recent pace", "x": xs,
                         "y": [self.units(e) for _, e, _, _ in band], "line": {"color": COLOURS[1], "dash": "dot"}})
        chart = Chart("progress", title, {"data": data, "layout": self.layout(self.axis("Day", money=False) | {"type": "date"}, self.axis(f"Raised ({self.currency})"))},
            ["Day", f"Raised to date ({self.currency})"])
        # The table reads month by month (each month's last day, and today); the CSV has every day.
        for i, day in enumerate(p.days):
            if i == len(p.days) - 1 or p.days[i + 1].month != day.month:
                chart.rows.append([format_date(day, locale=self.locale), self.money(p.cumulative_cents[i])])
        if p.projected_cents is not None and p.end_day:
            likely = f"likely {self.money(p.projected_low_cents)} to {self.money(p.projected_high_cents)}"
            chart.rows.append([f"{format_date(p.end_day, locale=self.locale)} (projected)",
                               f"{self.money(p.projected_cents)} ({likely})"])

        def every_day() -> list[list[str]]:
            rows = [[d.isoformat(), self.plain(c)] for d, c in zip(p.days, p.cumulative_cents, strict=True)]
            if p.projected_cents is not None and p.end_day:
                rows.append([f"{p.end_day.isoformat()} projected", self.plain(p.projected_cents)])
            return rows

        chart.csv_source = every_day
        return chart

    def totals_by(self, chart_id: str, title: str, label: str, totals: dict[str, int], labels: dict) -> Chart:
        names = [k for k in labels if totals.get(k.value)]
        chart = Chart(chart_id, title, {"data": [{
            "type": "bar", "x": [labels[k] for k in names], "y": [self.units(totals[k.value]) for k in names],
            "marker": {"color": COLOURS[0]}, "name": "Raised",
        }], "layout": self.layout(self.axis(label, money=False), self.axis(f"Raised ({self.currency})"))},
            [label, f"Raised ({self.currency})"])
        for k in names:
            chart.rows.append([labels[k], self.money(totals[k.value])])
            chart.csv_rows.append([labels[k], self.plain(totals[k.value])])
        return chart

    def monthly(self) -> Chart:
        title = "Raised each month, against the same month a year before"
        now, before = self.board.months, self.board.months_last_year
        x = [self.month(r.month) for r in now]
        chart = Chart("monthly", title, {"data": [
            {"type": "bar", "name": "This period", "x": x, "y": [self.units(r.raised_cents) for r in now],
             "marker": {"color": COLOURS[0]}},
            {"type": "bar", "name": "A year before", "x": x, "y": [self.units(r.raised_cents) for r in before],
             "marker": {"color": COLOURS[4]}},
        ], "layout": self.layout(self.axis("Month", money=False), self.axis(f"Raised ({self.currency})"),
                                 barmode="group")},
            ["Month", f"Raised ({self.currency})", f"A year before ({self.currency})"])
        self._month_rows(chart, now, lambda r, i: [r.raised_cents, before[i].raised_cents])
        return chart

    def donors(self) -> Chart:
        title = "New and returning donors each month"
        rows = self.board.donor_months
        x = [self.month(r.month) for r in rows]
        chart = Chart("donors", title, {"data": [
            {"type": "bar", "name": "New donors", "x": x, "y": [r.new for r in rows], "marker": {"color": COLOURS[1]}},
            {"type": "bar", "name": "Returning donors", "x": x, "y": [r.returning for r in rows],
             "marker": {"color": COLOURS[0]}},
        ], "layout": self.layout(self.axis("Month", money=False), self.axis("Donors", money=False),
                                 barmode="stack")}, ["Month", "New donors", "Returning donors"])
        for r in rows:
            if r.new or r.returning:
                chart.rows.append([self.month(r.month), str(r.new), str(r.returning)])
                chart.csv_rows.append([r.month.strftime("%Y-%m"), str(r.new), str(r.returning)])
        return chart

    def retention(self) -> Chart:
        title = "Donor retention: of last year's donors, the share who gave again"
        rows = self.board.retention
        chart = Chart("retention", title, {"data": [{
            "type": "bar", "name": "Retained", "x": [str(r.year) for r in rows],
            "y": [r.percent or 0 for r in rows], "marker": {"color": COLOURS[1]},
        }], "layout": self.layout(self.axis("Year", money=False) | {"type": "category"},
                                  self.axis("Retained (%)", money=False) | {"ticksuffix": "%", "range": [0, 100]})},
            ["Year", "Donors the year before", "Gave again", "Retained (%)"])
        for r in rows:
            percent = "" if r.percent is None else f"{r.percent}"
            chart.rows.append([str(r.year), str(r.donors_before), str(r.retained), f"{percent}%" if percent else "–"])
            chart.csv_rows.append([str(r.year), str(r.donors_before), str(r.retained), percent])
        return chart

    def sizes(self) -> Chart:
        title = "Gift sizes: how many gifts of each size"
        labels = []
        for band in self.board.sizes:
            low = format_money(band.low_cents, self.currency, self.locale, whole=True)
            labels.append(f"{low}+" if band.high_cents is None else
                          f"{low}–{format_money(band.high_cents - 1, self.currency, self.locale)}")
        chart = Chart("sizes", title, {"data": [{
            "type": "bar", "name": "Gifts", "x": labels, "y": [b.gifts for b in self.board.sizes],
            "marker": {"color": COLOURS[0]},
        }], "layout": self.layout(self.axis(f"Gift size ({self.currency})", money=False),
                                  self.axis("Gifts", money=False))},
            [f"Gift size ({self.currency})", "Gifts", f"Total ({self.currency})"])
        for label, band in zip(labels, self.board.sizes, strict=True):
            if band.gifts:
                chart.rows.append([label, str(band.gifts), self.money(band.total_cents)])
                chart.csv_rows.append([label, str(band.gifts), self.plain(band.total_cents)])
        return chart

    def recurring(self) -> Chart:
        title = "Income from monthly gifts"
        rows = self.board.months
        chart = Chart("recurring", title, {"data": [{
            "type": "scatter", "mode": "lines+markers", "name": "Monthly gifts", "x": [self.month(r.month) for r in rows],
            "y": [self.units(r.recurring_cents) for r in rows], "line": {"color": COLOURS[1]},
        }], "layout": self.layout(self.axis("Month", money=False), self.axis(f"Received ({self.currency})"))},
            ["Month", f"From monthly gifts ({self.currency})"])
        self._month_rows(chart, rows, lambda r, _i: [r.recurring_cents])
        return chart

    def _event_label(self, name: str, day: date) -> str:
        """A bar's label: the name wrapped, its month below. On a phone one long line took the whole
        width from the bar. Plotly reads a few tags in labels, so the name is escaped."""
        lines = [html.escape(line, quote=False) for line in textwrap.wrap(name, 22)]
        return "<br>".join([*lines, f"({format_date(day, 'MMM yyyy', locale=self.locale)})"])

    def events(self) -> Chart:
        title = "Community events, by what they raised"
        events = self.board.events
        labels = [self._event_label(e.name, e.event_date) for e in events]
        chart = Chart("events", title, {"data": [{
            "type": "bar", "orientation": "h", "name": "Raised", "y": labels[::-1],
            "x": [self.units(e.raised_cents) for e in events][::-1], "marker": {"color": COLOURS[2]},
        }], "layout": self.layout(self.axis(f"Raised ({self.currency})"), self.axis("", money=False)
                                  | {"rangemode": "normal"})},
            ["Event", "Date", "Campaign", "Gifts", f"Raised ({self.currency})"])
        for e in events:
            chart.rows.append([e.name, format_date(e.event_date, locale=self.locale), e.campaign_title, str(e.gifts),
                               self.money(e.raised_cents)])
            chart.csv_rows.append([e.name, e.event_date.isoformat(), e.campaign_title, str(e.gifts),
                                   self.plain(e.raised_cents)])
        return chart

    def refunds(self) -> Chart:
        title = "Refunds and disputes each month"
        rows = self.board.months
        x = [self.month(r.month) for r in rows]
        chart = Chart("refunds", title, {"data": [
            {"type": "bar", "name": "Refunded", "x": x, "y": [self.units(r.refund_cents) for r in rows],
             "marker": {"color": COLOURS[2]}},
            {"type": "bar", "name": "Disputed (less disputes won)", "x": x,
             "y": [self.units(r.dispute_cents) for r in rows], "marker": {"color": COLOURS[5]}},
        ], "layout": self.layout(self.axis("Month", money=False), self.axis(f"Amount ({self.currency})"),
                                 barmode="group")},
            ["Month", "Refunds", f"Refunded ({self.currency})", "Disputes", f"Disputed, less won ({self.currency})"])
        for r in rows:
            if r.refund_cents or r.dispute_cents or r.refund_count or r.dispute_count:
                chart.rows.append([self.month(r.month), str(r.refund_count), self.money(r.refund_cents),
                                   str(r.dispute_count), self.money(r.dispute_cents)])
                chart.csv_rows.append([r.month.strftime("%Y-%m"), str(r.refund_count), self.plain(r.refund_cents),
                                       str(r.dispute_count), self.plain(r.dispute_cents)])
        return chart

    def _month_rows(self, chart: Chart, rows: list[MonthRow], values) -> None:
        for i, r in enumerate(rows):
            cents = values(r, i)
            if any(cents):
                chart.rows.append([self.month(r.month), *(self.money(c) for c in cents)])
                chart.csv_rows.append([r.month.strftime("%Y-%m"), *(self.plain(c) for c in cents)])


def _moment(at: datetime) -> str:
    """A local time as Plotly's date axis reads it (no offset; the page states the time zone)."""
    return at.strftime("%Y-%m-%d %H:%M")


def build_charts(board: Dashboard, locale: str | Locale, only: tuple[str, ...] | None = None) -> list[Chart]:
    """The charts of a board page (all, or `only` these ids), in the order the page shows them."""
    b = _Builder(board, locale)
    makers = {
        "progress": b.progress,
        "channels": lambda: b.totals_by("channels", "Raised by channel", "Channel", board.by_channel, CHANNEL_LABELS),
        "methods": lambda: b.totals_by("methods", "Raised by payment method", "Method", board.by_method,
                                       METHOD_LABELS),
        "monthly": b.monthly,
        "donors": b.donors,
        "retention": b.retention,
        "sizes": b.sizes,
        "recurring": b.recurring,
        "events": b.events,
        "refunds": b.refunds,
    }
    charts = [make() for chart_id, make in makers.items() if only is None or chart_id in only]
    return [c for c in charts if c is not None]
