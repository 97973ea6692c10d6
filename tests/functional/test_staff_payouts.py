"""The Payouts pages and their CSVs, fetched from a running server by a real HTTP client with no
application context around it (as a browser gets them)."""

from __future__ import annotations

import csv
import http.cookiejar
import io
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, date, datetime

import pytest

from fundraiser import ledger
from fundraiser.auth.users import create_user
from fundraiser.db import get_session
from fundraiser.models import GiftChannel, GiftMethod, Payout
from fundraiser.payments.payouts import CSV_HEADER, store_lines
from fundraiser.payments.stripe import balance_line
from tests.factories import make_campaign, make_donor
from tests.functional.staff_helpers import PASSWORD
from tests.payments import stripe_shapes as s


def payout_row(amount: int, arrival: date) -> Payout:
    return Payout(
        stripe_payout_id=s.new_id("po"), amount_cents=amount, currency="USD", status="paid", arrival_date=arrival,
        reconciliation_status="completed", stripe_updated_at=datetime.now(UTC),
    )


@pytest.fixture
def books(app):
    """A gift from a donor whose name looks like a formula, paid out with Stripe's own fee; and a
    second payout whose lines are a cent short of the deposit. Built, committed, context closed."""
    with app.app_context():
        session = get_session()
        campaign = make_campaign(session, title="Spring Appeal")
        donor = make_donor(session, name='=HYPERLINK("http://evil","x")', email="evil@example.org")
        gift = ledger.record_gift(
            session, campaign=campaign, amount_cents=10000, currency="USD", received_at=datetime(2026, 11, 2, 15, tzinfo=UTC),
            channel=GiftChannel.ONLINE, method=GiftMethod.CARD, donor_id=donor.id, source_key="stripe:pi_books",
        )
        gift.stripe_charge_id = "ch_books"
        good, short = payout_row(9480, date(2026, 11, 4)), payout_row(999, date(2026, 11, 5))
        session.add_all([good, short])
        session.flush()
        store_lines(session, good, [
            balance_line(s.balance_transaction(10000, fee=320, source="ch_books")),
            balance_line(s.balance_transaction(-200, type_="stripe_fee", description="Billing - Usage Fee")),
        ])
        store_lines(session, short, [balance_line(s.balance_transaction(1000))])
        create_user(session, "staff@example.org", "staff", PASSWORD)
        session.commit()
        return {"good": good.id, "short": short.id, "gift": gift.id, "good_stripe": good.stripe_payout_id}


def signed_in(live_server):
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = urllib.parse.urlencode({"email": "staff@example.org", "password": PASSWORD}).encode()
    with opener.open(f"{live_server.url}/login", data=form) as response:
        assert response.status == 200

    def get(path: str):
        try:
            with opener.open(f"{live_server.url}{path}") as response:
                return response, response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            error.close()
            raise

    return get


def rows_of(text: str) -> list[dict]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_payouts_list_and_page_show_the_check(live_server, books):
    get = signed_in(live_server)
    _, listing = get("/staff/payouts")
    assert "Payouts</a>" in listing  # in the staff menu
    assert "2026-11-04" in listing and "$94.80" in listing and "adds up" in listing
    assert "lines add up to $10.00, not $9.99" in listing
    _, page = get(f"/staff/payouts/{books['good']}")
    assert "The lines add up to the deposit." in page and 'data-figure="lines">$94.80' in page
    assert f"#{books['gift']}" in page and "Spring Appeal" in page and "not a gift of ours" in page
    _, gift_page = get(f"/staff/gifts/{books['gift']}")
    assert f"2026-11-04 · {books['good_stripe']}" in gift_page and "Processing fee" in gift_page
    _, short = get(f"/staff/payouts/{books['short']}")
    assert "The lines do not add up to the deposit: $0.01 too much." in short


def test_payout_csv_for_the_books_through_a_real_server(live_server, books):
    get = signed_in(live_server)
    response, text = get(f"/staff/payouts/{books['good']}.csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = rows_of(text)
    assert list(rows[0]) == CSV_HEADER
    gift, fee = rows
    assert (gift["type"], gift["gross"], gift["fee"], gift["net"], gift["currency"]) == ("Gift", "100.00", "3.20", "96.80", "USD")
    assert gift["gift_id"] == str(books["gift"]) and gift["campaign"] == "Spring Appeal"
    assert gift["donor"] == "'=HYPERLINK(\"http://evil\",\"x\")"  # the formula guard
    assert (gift["payout_id"], gift["arrival_date"]) == (books["good_stripe"], "2026-11-04")
    assert (fee["type"], fee["net"], fee["gift_id"]) == ("Stripe fee", "-2.00", "")
    _, both = get("/staff/payouts.csv?from=2026-11-01&to=2026-11-30")
    assert len(rows_of(both)) == 3
    _, later = get("/staff/payouts.csv?from=2026-11-05")
    assert [r["net"] for r in rows_of(later)] == ["10.00"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        get("/staff/payouts.csv?from=2026-11-30&to=2026-11-01")
    assert refused.value.code == 400


def test_gift_export_has_fee_and_net_through_a_real_server(live_server, books):
    get = signed_in(live_server)
    _, text = get("/staff/gifts.csv")
    (row,) = rows_of(text)
    assert (row["fee"], row["net"], row["fee_currency"], row["counts_toward_totals"]) == ("3.20", "96.80", "USD", "100.00")
    _, donors = get("/staff/donors.csv")
    assert rows_of(donors)[0]["name"].startswith("'=")


def test_doctor_names_a_payout_whose_lines_do_not_add_up(books, runner):
    result = runner.invoke(args=["doctor"])
    assert "FIX  payouts: 1 payout(s) whose lines don't add up to the deposit" in result.output

