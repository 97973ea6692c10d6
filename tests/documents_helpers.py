"""Shared arrangements for the document tests: a donor with one gift of every kind, and PDF text."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

from fundraiser import ledger
from fundraiser.models import GiftChannel, GiftMethod
from tests.factories import give, make_campaign, make_donor, make_event

TZ = ZoneInfo("America/New_York")


def pdf_text(data: bytes) -> str:
    """The text a person reads in a PDF, all pages, with line breaks and spacing made single spaces."""
    return " ".join(pdf_pages(data))


def pdf_pages(data: bytes) -> list[str]:
    """Each page's text as pypdf extracts it, wrapped lines joined."""
    from pypdf import PdfReader

    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages]


def every_kind_of_gift(session, year: int, *, email: str | None = "zoe@example.org"):
    """A donor ("Zoë Ñúñez") with a gift of each kind in `year`, plus a corrected, a voided and a
    refunded gift, and one in the year after. Returns (donor, gifts by kind)."""
    campaign = make_campaign(session, title="Five Year Anniversary Fundraiser")
    donor = make_donor(
        session, name="Zoë Ñúñez", email=email, address_line1="12 Rue Saint-Denis", address_line2="Apt 3",
        city="Baltimore", region="MD", postal_code="21201", country="US",
    )
    event = make_event(session, campaign, name="Cookie Walk", host_name="Zoë Ñúñez", host_donor_id=donor.id)

    def at(month, day, hour=12):
        return datetime(year, month, day, hour, tzinfo=TZ)

    gifts = {
        "cash": give(session, campaign, 2500, donor=donor, received_at=at(1, 15), method=GiftMethod.CASH),
        "check": give(session, campaign, 30000, donor=donor, received_at=at(2, 3), method=GiftMethod.CHECK, reference="1042"),
        "card": give(session, campaign, 5000, donor=donor, received_at=at(3, 9), channel=GiftChannel.ONLINE, method=GiftMethod.CARD),
        "stock": give(session, campaign, 150000, donor=donor, received_at=at(4, 1), method=GiftMethod.STOCK,
                      description="10 shares of ACME Corp"),
        "in_kind": give(session, campaign, 80000, donor=donor, received_at=at(5, 20), method=GiftMethod.IN_KIND,
                        description="40 copies of 'The Explosive Child'"),
        "daf": give(session, campaign, 100000, donor=donor, received_at=at(6, 30), method=GiftMethod.DAF),
        "quid_pro_quo": give(session, campaign, 20000, donor=donor, received_at=at(9, 12), method=GiftMethod.CHECK,
                             goods_value_cents=7500, description="Gala dinner for two"),
        "event": give(session, campaign, 64000, donor=donor, received_at=at(10, 4), channel=GiftChannel.EVENT,
                      method=GiftMethod.CASH, event_id=event.id, description="Proceeds: Cookie Walk"),
        "corrected": give(session, campaign, 1500, donor=donor, received_at=at(11, 2), method=GiftMethod.CHECK, reference="1077"),
        "voided": give(session, campaign, 77700, donor=donor, received_at=at(11, 5), method=GiftMethod.CHECK),
        "refunded": give(session, campaign, 33300, donor=donor, received_at=at(11, 6), channel=GiftChannel.ONLINE,
                         method=GiftMethod.CARD),
        # 00:30 on New Year's Day in Baltimore is still the old year in UTC: it belongs to the next year.
        "next_year": give(session, campaign, 99900, donor=donor, received_at=datetime(year + 1, 1, 1, 0, 30, tzinfo=TZ)),
    }
    ledger.correct_amount(session, gifts["corrected"], 15000, reason="check was for $150, typed $15")
    ledger.void_gift(session, gifts["voided"], reason="duplicate entry")
    ledger.refund_gift(session, gifts["refunded"], 33300, source_key="re_test_documents")
    session.flush()
    return donor, gifts
