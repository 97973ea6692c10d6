"""Reading the board's filters from the query string, with messages a person can act on."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from ..analytics import Selection
from ..models import Campaign, GiftChannel

MONTH = re.compile(r"(\d{4})-(\d{2})")


def _month(raw: str | None, label: str, errors: list[str]) -> date | None:
    if not raw:
        return None
    match = MONTH.fullmatch(raw.strip())
    if match and 1 <= int(match.group(2)) <= 12 and int(match.group(1)) >= 1900:
        return date(int(match.group(1)), int(match.group(2)), 1)
    errors.append(f"“{raw[:20]}” isn't a month; use the form 2026-01 for the {label} month.")
    return None


def parse_selection(
    args: Mapping[str, str], campaigns: list[Campaign], *, slugs: list[str] | None = None
) -> tuple[Selection, list[str]]:
    """The selection asked for: campaigns (by slug, else all of one currency), channel, months."""
    errors: list[str] = []
    currencies = sorted({c.currency for c in campaigns}) or ["USD"]
    currency = (args.get("currency") or "").upper()
    if currency not in currencies:
        if currency:
            errors.append(f"No campaign is in {currency[:3]}; showing {_main_currency(campaigns)}.")
        currency = _main_currency(campaigns)
    chosen = [c for c in campaigns if c.currency == currency]
    if slugs:
        picked = [c for c in chosen if c.slug in slugs]
        if picked:
            chosen = picked
        else:
            errors.append("None of the chosen campaigns were found; showing all of them.")
    channel = None
    if args.get("channel"):
        try:
            channel = GiftChannel(args["channel"])
        except ValueError:
            errors.append("Channel must be online, offline or event.")
    first = _month(args.get("from"), "first", errors)
    last = _month(args.get("to"), "last", errors)
    if first and last and first > last:
        errors.append("The first month is after the last; showing them the other way round.")
        first, last = last, first
    return Selection(tuple(chosen), currency, channel, first, last), errors


def _main_currency(campaigns: list[Campaign]) -> str:
    """The currency most campaigns raise in (USD when there are none)."""
    counts: dict[str, int] = {}
    for c in campaigns:
        counts[c.currency] = counts.get(c.currency, 0) + 1
    return max(sorted(counts), key=lambda k: counts[k]) if counts else "USD"
