"""CSV exports, fetched from a running server: current filters apply, and nothing a donor typed
runs as a spreadsheet formula."""

import csv
import io
from datetime import timedelta

import pytest

from fundraiser.db import utcnow
from fundraiser.exports import safe_cell
from fundraiser.models import GiftChannel, GiftMethod
from tests.factories import give, make_campaign, make_donor, make_event


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=HYPERLINK(\"http://evil\",\"x\")", "'=HYPERLINK(\"http://evil\",\"x\")"),
        ("+1-555-0100", "'+1-555-0100"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"), ("  =1", "'  =1"), ("Ann Archer", "Ann Archer"), (None, ""), (True, "yes"),
    ],
)
def test_formula_like_text_is_neutralised(value, expected):
    assert safe_cell(value) == expected


def read_csv(reply) -> list[dict]:
    assert reply.status == 200, reply.text[:300]
    text = reply.text
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_gift_export_follows_filters_and_keeps_amounts_as_numbers(arrange, staff_http):
    with arrange() as session:
        campaign = make_campaign(session, title="Spring")
        other = make_campaign(session, title="Autumn")
        evil = make_donor(session, name="=cmd|' /C calc'!A0", email="evil@example.org")
        gift = give(session, campaign, 12550, donor=evil, method=GiftMethod.CASH, private_note="-1+1")
        give(session, campaign, 999, channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
        give(session, other, 5000, received_at=utcnow() - timedelta(days=400))
    client = staff_http()
    rows = read_csv(client.get(f"/staff/gifts.csv?campaign={campaign.id}&channel=offline"))
    assert len(rows) == 1
    row = rows[0]
    assert row["gift_id"] == str(gift.id) and row["amount"] == "125.50" and row["counts_toward_totals"] == "125.50"
    assert row["donor_name"] == "'=cmd|' /C calc'!A0" and row["note"] == "'-1+1"
    assert client.get(f"/staff/gifts?channel=offline&campaign={campaign.id}").text.count("gift_detail") == 0
    recent = read_csv(client.get(f"/staff/gifts.csv?from={(utcnow() - timedelta(days=30)).date().isoformat()}"))
    assert len(recent) == 2


def test_donor_and_event_exports(arrange, staff_http):
    with arrange() as session:
        campaign = make_campaign(session)
        make_donor(session, name="@Org", email="org@example.org")
        make_donor(session, name="Bea")
        event = make_event(session, campaign, name="Fun Run")
        give(session, campaign, 4000, event_id=event.id, channel=GiftChannel.EVENT)
    client = staff_http()
    donors = read_csv(client.get("/staff/donors.csv?q=org%40example"))
    assert [d["name"] for d in donors] == ["'@Org"]
    events = read_csv(client.get("/staff/events.csv"))
    assert (events[0]["name"], events[0]["raised"]) == ("Fun Run", "40.00")
