"""End to end against localstripe, a stateful fake Stripe that signs and delivers its own webhooks.

The app runs on a real port with STRIPE_API_BASE pointing at localstripe. A donor's one-time gift
goes through the app's own on-page endpoint; the test confirms it with a test card as Stripe.js
would; localstripe then posts its signed `payment_intent.succeeded` to the app.

localstripe cannot create subscriptions with an inline `price_data` (it only knows legacy plans),
so the monthly path is covered by exact-parameter tests of the adapter and by signed invoice events
(test_webhooks.py, test_donate_form.py) instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import stripe
from sqlalchemy import select

from fundraiser import ledger
from fundraiser.db import new_session
from fundraiser.models import CampaignTotals, Gift, OutboxMessage
from tests.conftest import LiveServer
from tests.factories import make_campaign
from tests.netutil import free_port, wait_for

WEBHOOK_SECRET = "whsec_localstripe_e2e"


@pytest.fixture
def localstripe():
    # localstripe itself, through a shim that accepts the PaymentIntent description and
    # statement descriptor suffix the app sends (localstripe_shim.py).
    shim = Path(__file__).with_name("localstripe_shim.py")
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(shim), "--port", str(port), "--from-scratch"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://localhost:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(base + "/v1/customers", timeout=1)
        except urllib.error.HTTPError:
            break  # it answered (401 without a key): it is up
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("localstripe did not start")
            time.sleep(0.2)
        else:
            break
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def e2e_app(make_app, localstripe):
    return make_app(
        STRIPE_SECRET_KEY="sk_test_e2e", STRIPE_PUBLISHABLE_KEY="pk_test_e2e",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_API_BASE=localstripe,
    )


def _post(url: str, data: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_one_time_gift_through_the_app_is_recorded_once_with_receipt_and_fee(e2e_app, localstripe):
    with e2e_app.app_context():
        s = new_session()
        campaign = make_campaign(s, title="Giving Tuesday", goal_cents=1_000_000)
        s.commit()
        campaign_id, slug = campaign.id, campaign.slug
        s.close()
    server = LiveServer(e2e_app).start()
    try:
        # localstripe delivers its signed events to our running app.
        urllib.request.urlopen(urllib.request.Request(
            f"{localstripe}/_config/webhooks/fundraiser", method="POST",
            data=urllib.parse.urlencode({"url": f"{server.url}/stripe/webhook", "secret": WEBHOOK_SECRET}).encode(),
        ), timeout=10)

        status, started = _post(f"{server.url}/api/campaigns/{slug}/donations", {
            "amount": "5000", "frequency": "once", "cover_fee": "yes", "name": "Erin E2E",
            "email": "erin@example.org", "show_name": "yes", "show_amount": "yes", "comment": "Go!",
        })
        assert status == 201, started
        assert started["amount_cents"] == 5144  # $50 plus the covered 2.2% + 30c
        intent_id = started["client_secret"].split("_secret_")[0]

        # What Stripe.js does in the browser: a card payment method, attached and confirmed.
        # (localstripe accepts only secret keys, so the test stands in for Stripe.js with one.)
        client = stripe.StripeClient("sk_test_e2e", base_addresses={"api": localstripe})
        card = client.v1.payment_methods.create(params={
            "type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
        client.v1.payment_intents.update(intent_id, params={"payment_method": card.id})
        assert client.v1.payment_intents.confirm(intent_id).status == "succeeded"

        def recorded():
            with e2e_app.app_context():
                db = new_session()
                try:
                    return db.scalar(select(Gift).where(Gift.stripe_payment_intent_id == intent_id)) is not None
                finally:
                    db.close()

        wait_for(recorded, 20, "the gift to be recorded")
        status_url = f"{server.url}/api/donations/{started['attempt']}"
        with urllib.request.urlopen(status_url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "recorded" and body["progress"]["raised_cents"] == 5144

        with e2e_app.app_context():
            db = new_session()
            gifts = db.scalars(select(Gift)).all()
            assert len(gifts) == 1
            gift = gifts[0]
            assert (gift.amount_cents, gift.campaign_id, gift.donor.email) == (5144, campaign_id, "erin@example.org")
            assert gift.public_comment == "Go!" and not gift.is_anonymous and gift.show_amount
            totals = db.get(CampaignTotals, campaign_id)
            assert (totals.raised_cents, totals.gift_count, totals.donor_count) == (5144, 1, 1)
            assert db.scalar(select(OutboxMessage.to_email)) == "erin@example.org"
            assert ledger.verify_totals(db) == []
            db.close()

        # The fee is filled in after the gift, in the background, from the balance transaction.
        def fee_known():
            with e2e_app.app_context():
                db = new_session()
                try:
                    return db.scalar(select(Gift.fee_cents)) is not None
                finally:
                    db.close()

        wait_for(fee_known, 20, "the fee to be filled in")
    finally:
        server.stop()
