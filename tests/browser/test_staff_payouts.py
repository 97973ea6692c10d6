"""A volunteer reconciles a bank deposit in a real browser: Payouts in the menu, the deposit's lines
fetched from Stripe with the button, the check that they add up, and the CSV downloaded."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect

from fundraiser import ledger
from fundraiser.auth.users import create_user
from fundraiser.db import get_session
from fundraiser.models import GiftChannel, GiftMethod, Payout
from tests.browser.conftest import sign_in
from tests.factories import make_campaign, make_donor
from tests.payments import stripe_shapes as s
from tests.payments.conftest import make_stripe_app
from tests.payments.stripe_standin import StripeStandIn

PASSWORD = "a very good password"


@pytest.fixture
def standin():
    server = StripeStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def app(make_app, standin):
    app = make_stripe_app(make_app, STRIPE_API_BASE=standin.url)
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    return app


def test_volunteer_fetches_a_deposits_lines_checks_them_and_downloads_the_csv(app, live_server, page, standin):
    po = s.payout(9480, arrival_date=int(datetime(2026, 11, 4, tzinfo=UTC).timestamp()))
    with app.app_context():
        session = get_session()
        campaign = make_campaign(session, title="Spring Appeal")
        donor = make_donor(session, name="Ann Archer", email="ann@example.org")
        gift = ledger.record_gift(
            session, campaign=campaign, amount_cents=10000, currency="USD", received_at=datetime(2026, 11, 2, tzinfo=UTC),
            channel=GiftChannel.ONLINE, method=GiftMethod.CARD, donor_id=donor.id, source_key="stripe:pi_browser",
        )
        gift.stripe_charge_id = "ch_browser"
        session.add(Payout(stripe_payout_id=po["id"], amount_cents=9480, currency="USD", status="paid",
                           arrival_date=date(2026, 11, 4), reconciliation_status="completed",
                           stripe_updated_at=datetime.now(UTC)))
        create_user(session, "volunteer@example.org", "staff", PASSWORD)
        session.commit()
    standin.add_payout(po, [
        s.balance_transaction(10000, fee=320, source="ch_browser"),
        s.balance_transaction(-200, type_="stripe_fee", description="Billing - Usage Fee"),
    ])

    sign_in(page, live_server.url, "volunteer@example.org", PASSWORD)
    page.get_by_role("link", name="Payouts", exact=True).click()
    expect(page.get_by_role("heading", name="Payouts")).to_be_visible()
    expect(page.get_by_text("lines not fetched yet")).to_be_visible()
    page.get_by_role("link", name=po["id"]).click()
    page.get_by_role("button", name="Fetch the lines now").click()
    expect(page.get_by_text("Fetched the payout's lines from Stripe.")).to_be_visible()
    expect(page.get_by_text("The lines add up to the deposit.")).to_be_visible()
    expect(page.get_by_role("row", name="Ann Archer")).to_contain_text("$96.80")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download these lines as CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert [(r["type"], r["net"], r["donor"]) for r in rows] == [("Gift", "96.80", "Ann Archer"), ("Stripe fee", "-2.00", "")]
    assert sum(int(r["net"].replace(".", "")) for r in rows) == 9480
    assert page.console_errors == []
