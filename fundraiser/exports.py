"""CSV exports of gifts, donors and events, safe to open in a spreadsheet.

A cell a spreadsheet would read as a formula (text starting with =, +, -, @, a tab or a carriage
return) is prefixed with an apostrophe, so a donor named "=HYPERLINK(...)" stays text. Amounts are
written as plain decimal numbers, not text, and are never altered.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal

from sqlalchemy.orm import Session

from .models import CommunityEvent, Donor
from .money import from_cents
from .statements import GiftLine

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; numbers pass."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value.lstrip(" ").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(header: list[str], rows: Iterable[list[object]]) -> Iterator[str]:
    """The CSV text, a chunk per row (with a byte-order mark so Excel reads UTF-8)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _amount(cents: int, currency: str) -> Decimal:
    return from_cents(cents, currency)


GIFT_HEADER = [
    "gift_id", "received_on", "donor_id", "donor_name", "donor_email", "campaign", "channel", "method", "reference",
    "currency", "amount", "counts_toward_totals", "goods_value", "event", "description", "anonymous", "note",
    "fee", "net", "fee_currency", "exchange_rate", "dispute_fees", "dispute_fees_currency", "status",
]


def gift_rows(lines: Iterable[GiftLine], tz, costs: dict[int, dict[str, int]] | None = None) -> Iterator[list[object]]:
    """One row per gift. The processing fee and the net are in the currency Stripe settled the gift
    in (fee_currency); dispute fees are costs of the gift, apart from what counts toward totals."""
    costs = costs or {}
    for line in lines:
        g = line.gift
        fee_currency = g.fee_currency or g.currency
        settled_net = g.settled_net_cents if g.settled_net_cents is not None else g.net_cents
        gift_costs = costs.get(g.id, {})
        cost_currency = next(iter(gift_costs)) if len(gift_costs) == 1 else ""
        yield [
            g.id, g.received_at.astimezone(tz).date().isoformat(), g.donor_id, g.donor.name if g.donor else "",
            g.donor.email if g.donor else "", line.campaign_title, g.channel.value, g.method.value, g.reference,
            g.currency, _amount(g.amount_cents, g.currency), _amount(line.net_cents, g.currency),
            _amount(g.goods_value_cents, g.currency) if g.goods_value_cents else "", g.event.name if g.event else "",
            g.description, g.is_anonymous, g.private_note,
            _amount(g.fee_cents, fee_currency) if g.fee_cents is not None else "",
            _amount(settled_net, fee_currency) if settled_net is not None else "",
            fee_currency if g.fee_cents is not None else "", g.exchange_rate,
            _amount(gift_costs[cost_currency], cost_currency) if cost_currency
            else "; ".join(f"{_amount(v, c)} {c}" for c, v in sorted(gift_costs.items())),
            cost_currency, line.status,
        ]


DONOR_HEADER = [
    "donor_id", "kind", "name", "email", "phone", "address_line1", "address_line2", "city", "region", "postal_code",
    "country", "do_not_contact", "notes",
]


def donor_rows(donors: Iterable[Donor]) -> Iterator[list[object]]:
    for d in donors:
        yield [
            d.id, d.kind.value, d.name, d.email, d.phone, d.address_line1, d.address_line2, d.city, d.region,
            d.postal_code, d.country, d.do_not_contact, d.notes,
        ]


def donor_export(session: Session, donors: Iterable[Donor], tz) -> tuple[list[str], Iterator[list[object]]]:
    """The donors CSV: each donor's details, then their lifetime giving (a total column per
    currency ever given in, so amounts in different currencies are never added together), then
    their soft credits apart (gifts others gave that credit them; never part of their giving)."""
    from .soft_credits import totals_by_donor
    from .statements import lifetime_giving

    giving = lifetime_giving(session)
    credited = totals_by_donor(session)
    currencies = sorted({c for g in giving.values() for c in g.totals_by_currency} | {c for t in credited.values() for c in t})
    header = (DONOR_HEADER + ["gift_count", "first_gift_on", "last_gift_on"] + [f"lifetime_total_{c}" for c in currencies]
              + [f"soft_credit_total_{c}" for c in currencies])

    def rows() -> Iterator[list[object]]:
        for row, donor in zip(donor_rows(donors), donors, strict=True):
            g = giving.get(donor.id)
            soft = [_amount(credited.get(donor.id, {}).get(c, 0), c) for c in currencies]
            if g is None:
                yield row + [0, "", ""] + [_amount(0, c) for c in currencies] + soft
                continue
            yield row + [
                g.gift_count, g.first_gift_at.astimezone(tz).date().isoformat(),
                g.last_gift_at.astimezone(tz).date().isoformat(),
            ] + [_amount(g.totals_by_currency.get(c, 0), c) for c in currencies] + soft

    return header, rows()


NEWSLETTER_HEADER = ["donor_id", "name", "email", "consented_at"]


def newsletter_rows(donors: Iterable[Donor], tz) -> Iterator[list[object]]:
    """Who asked to be kept informed, and when (in the organisation's time zone, to the second)."""
    for d in donors:
        yield [d.id, d.name, d.email, d.newsletter_consent_at.astimezone(tz).replace(microsecond=0).isoformat()]


EVENT_HEADER = ["event_id", "name", "host", "host_donor_id", "date", "place", "campaign", "currency", "raised"]


def event_rows(session: Session, events: Iterable[CommunityEvent]) -> Iterator[list[object]]:
    from .events import event_total

    for e in events:
        yield [
            e.id, e.name, e.host_name, e.host_donor_id, e.event_date.isoformat(), e.place, e.campaign.title,
            e.campaign.currency, _amount(event_total(session, e), e.campaign.currency),
        ]
