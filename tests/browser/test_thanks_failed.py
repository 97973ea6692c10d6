"""The thank-you page in a real browser when the payment did not go through: it stops "confirming",
says nothing was charged, and leads back to the form with the donor's details. A card declined and
then accepted on the same payment keeps it confirming until the gift is recorded."""

from __future__ import annotations

import urllib.request
import uuid

from playwright.sync_api import expect

from fundraiser.db import new_session
from fundraiser.models import AttemptStatus, DonationAttempt, DonationFrequency
from tests.conftest import LiveServer
from tests.factories import make_campaign
from tests.payments import stripe_shapes as s
from tests.payments.conftest import STRIPE_SETTINGS


def _attempt(app) -> tuple[str, str, int]:
    with app.app_context():
        db = new_session(write=True)
        campaign = make_campaign(db, title="Giving Tuesday", suggested_amounts=[2500, 5000])
        attempt = DonationAttempt(
            public_id=str(uuid.uuid4()), campaign=campaign, frequency=DonationFrequency.ONCE, amount_cents=2500,
            currency="USD", donor_name="Erin Example", donor_email="erin@example.org",
            choices={"show_name": True, "show_amount": False}, status=AttemptStatus.STARTED,
        )
        db.add(attempt)
        db.commit()
        found = campaign.slug, attempt.public_id, campaign.id
        db.close()
    return found


def _deliver(server, evt) -> None:
    payload = s.body(evt)
    request = urllib.request.Request(
        f"{server.url}/stripe/webhook", data=payload, method="POST",
        headers={"Content-Type": "application/json",
                 "Stripe-Signature": s.sign(payload, STRIPE_SETTINGS["STRIPE_WEBHOOK_SECRET"])})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_a_card_declined_then_accepted_keeps_confirming_until_the_gift_is_recorded(make_app, page):
    app = make_app(**STRIPE_SETTINGS)
    slug, public_id, campaign_id = _attempt(app)
    server = LiveServer(app).start()
    try:
        metadata = {"campaign_id": str(campaign_id), "donation_attempt": public_id, "frequency": "once"}
        declined = s.failed_payment_intent(2500, metadata=metadata)
        _deliver(server, s.event("payment_intent.payment_failed", declined))
        # Stripe.js brings the donor here once the second card went through; its event is a moment behind.
        page.goto(f"{server.url}/campaigns/{slug}/thanks?d={public_id}&payment_intent={declined['id']}"
                  "&redirect_status=succeeded")
        state = page.locator("[data-thanks-state]")
        expect(state).to_contain_text("We're confirming your gift of $25.00")
        page.wait_for_timeout(1500)  # a round of polling: still confirming, never "nothing was charged"
        expect(state).to_contain_text("We're confirming your gift of $25.00")
        _deliver(server, s.event("payment_intent.succeeded", s.payment_intent(2500, metadata=metadata, pi_id=declined["id"])))
        expect(state).to_have_text("Your gift of $25.00 has been received. Your receipt is on its way.", timeout=20_000)
    finally:
        page.goto("about:blank")  # the page's live bar holds a stream: end it before the server stops
        server.stop()


def test_back_from_the_bank_with_a_failed_payment_is_told_at_once(make_app, page):
    app = make_app(**STRIPE_SETTINGS)
    slug, public_id, _ = _attempt(app)
    server = LiveServer(app).start()
    try:
        page.goto(f"{server.url}/campaigns/{slug}/thanks?d={public_id}&payment_intent=pi_x&redirect_status=failed")
        expect(page.locator("[data-failed]")).to_contain_text("Your payment didn't go through, so nothing was charged.")
    finally:
        page.goto("about:blank")  # the page's live bar holds a stream: end it before the server stops
        server.stop()


def test_a_failed_bank_debit_is_told_to_the_waiting_donor_with_a_way_to_try_again(make_app, page):
    app = make_app(**STRIPE_SETTINGS)  # background work on: it applies the delivered event
    slug, public_id, campaign_id = _attempt(app)
    server = LiveServer(app).start()
    try:
        page.goto(f"{server.url}/campaigns/{slug}/thanks?d={public_id}")
        state = page.locator("[data-thanks-state]")
        expect(state).to_contain_text("We're confirming your gift of $25.00")

        metadata = {"campaign_id": str(campaign_id), "donation_attempt": public_id, "frequency": "once"}
        _deliver(server, s.event("payment_intent.payment_failed", s.failed_bank_debit(2500, metadata=metadata)))

        expect(state).to_have_text(
            "Your payment didn't go through, so nothing was charged. Try again with the same details, "
            "or another card or bank account. Questions? Write to us at hello@example.org or call (410) 555-0134.",
            timeout=20_000)
        assert page.console_errors == []  # (the form's page then fails to load Stripe.js here: no network)
        page.get_by_role("link", name="Try again").click()
        page.wait_for_url(f"{server.url}/campaigns/{slug}?d={public_id}#give")
        expect(page.get_by_role("textbox", name="Email (your receipt goes here)")).to_have_value("erin@example.org")
    finally:
        page.goto("about:blank")  # the page's live bar holds a stream: end it before the server stops
        server.stop()
