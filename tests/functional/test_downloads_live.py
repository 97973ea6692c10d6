"""Every CSV download, fetched from a running server by a real HTTP client, as staff and the board
get it: no outer application context keeps the request's database session alive for the body."""

import csv
import io

import pytest

from fundraiser.models import GiftChannel, GiftMethod
from tests.factories import give, make_campaign, make_donor, make_event


def rows_of(reply) -> list[dict]:
    assert reply.status == 200, reply.text[:500]
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in reply.headers["Content-Disposition"]
    assert reply.body.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 byte-order mark"
    return list(csv.DictReader(io.StringIO(reply.body.decode("utf-8-sig"))))


@pytest.fixture
def season(arrange):
    with arrange() as session:
        campaign = make_campaign(session, title="Spring Appeal", slug="spring")
        donor = make_donor(session, name="Zoë Ångström", email="zoe@example.org")
        other = make_donor(session, name="=HYPERLINK(\"http://evil\")", email="evil@example.org")
        event = make_event(session, campaign, name="Bake Sale")
        give(session, campaign, 2500, donor=donor, method=GiftMethod.CHECK)
        give(session, campaign, 7500, donor=donor, method=GiftMethod.CASH)
        give(session, campaign, 1000, donor=other, method=GiftMethod.CASH)
        give(session, campaign, 4000, event_id=event.id, channel=GiftChannel.EVENT)
        return {"campaign": campaign.id, "donor": donor.id}


def test_gift_csv_downloads_from_a_running_server(staff_http, season):
    rows = rows_of(staff_http().get("/staff/gifts.csv"))
    assert len(rows) == 4
    names = {r["donor_name"] for r in rows}
    assert "Zoë Ångström" in names and "'=HYPERLINK(\"http://evil\")" in names


def test_gift_list_and_csv_say_why_a_gift_counts_less(staff_http, arrange):
    from fundraiser import ledger

    with arrange() as session:
        campaign = make_campaign(session, title="Spring Appeal", slug="spring")
        whole = give(session, campaign, 1000, method=GiftMethod.CASH)
        voided = give(session, campaign, 2000, method=GiftMethod.CHECK)
        ledger.refund_gift(session, voided, 500, reason="Asked for part back")
        ledger.void_gift(session, voided, reason="Entered twice")
        refunded = give(session, campaign, 3000, channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
        ledger.refund_gift(session, refunded, 3000, reason="Donor asked")
        partly = give(session, campaign, 4000, channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
        ledger.refund_gift(session, partly, 1000, reason="Donor asked")
        disputed = give(session, campaign, 5000, channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
        ledger.record_dispute(session, disputed, 5000, reference="dp_1")
        won = give(session, campaign, 6000, channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
        ledger.record_dispute(session, won, 6000, reference="dp_2")
        ledger.record_dispute_won(session, won, 6000, reference="dp_2")
        corrected = give(session, campaign, 7000, method=GiftMethod.CHECK)
        ledger.correct_amount(session, corrected, 700, reason="Typed a zero too many")
        ids = {"corrected": corrected.id, "whole": whole.id, "voided": voided.id, "refunded": refunded.id, "partly": partly.id,
               "disputed": disputed.id, "won": won.id}
    client = staff_http()
    by_id = {int(r["gift_id"]): r for r in rows_of(client.get("/staff/gifts.csv"))}
    assert {name: (by_id[i]["status"], by_id[i]["counts_toward_totals"]) for name, i in ids.items()} == {
        "corrected": ("Corrected", "7.00"), "whole": ("", "10.00"), "voided": ("Voided", "0.00"), "refunded": ("Refunded", "0.00"),
        "partly": ("Partly refunded", "30.00"), "disputed": ("Disputed", "0.00"), "won": ("", "60.00"),
    }
    page = client.get("/staff/gifts").text
    assert page.count('<span class="badge badge--void">Voided</span>') == 1
    for word in ("Corrected", "Refunded", "Partly refunded", "Disputed"):
        assert page.count(f'<span class="badge">{word}</span>') == 1


def test_event_csv_downloads_from_a_running_server(staff_http, season):
    rows = rows_of(staff_http().get("/staff/events.csv"))
    assert [(r["name"], r["raised"]) for r in rows] == [("Bake Sale", "40.00")]


def test_donor_csv_carries_lifetime_giving(staff_http, season):
    rows = rows_of(staff_http().get("/staff/donors.csv"))
    zoe = next(r for r in rows if r["name"] == "Zoë Ångström")
    assert (zoe["gift_count"], zoe["lifetime_total_USD"]) == ("2", "100.00")
    assert zoe["first_gift_on"] and zoe["last_gift_on"] >= zoe["first_gift_on"]


@pytest.mark.parametrize("path", ["/board/charts/{chart}.csv", "/board/campaigns/spring/charts/{chart}.csv"])
def test_board_chart_csvs_download_from_a_running_server(staff_http, season, path):
    client = staff_http("board")
    reply = client.get(path.format(chart="methods"))
    if reply.status == 404:
        pytest.fail(f"no 'methods' chart: {reply.text[:200]}")
    assert rows_of(reply)
