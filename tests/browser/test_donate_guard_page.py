"""The card-testing guard as a donor meets it in a real browser: the "too many" message on the page,
and the human check appearing only after busy activity (or saying plainly when it can't load).

Two third-party scripts can't be fetched here: Stripe.js and the Turnstile script. Each is served
by a small stand-in at its own URL (so the page's Content-Security-Policy is the real one); behind
them, payments are started against localstripe and the check's token is verified by a real local
HTTP server standing in for Cloudflare's siteverify endpoint.
"""

from __future__ import annotations

import re

import pytest
import stripe
from playwright.sync_api import Page, expect
from sqlalchemy import select

from fundraiser.db import new_session
from fundraiser.models import AttemptStatus, DonationAttempt
from tests.browser.test_donate_flow import (
    block_stripe_js,
    continue_to_payment,
    fill_basics,
    mode,  # noqa: F401  (fixture: on-page or checkout-fallback)
    open_form,
    serve_stand_in_stripe_js,
)
from tests.conftest import LiveServer
from tests.factories import make_campaign
from tests.payments.conftest import STRIPE_SETTINGS
from tests.payments.test_donate_guard import SiteVerify, siteverify  # noqa: F401  (fixture)
from tests.payments.test_localstripe_e2e import localstripe  # noqa: F401  (fixture)

TURNSTILE = "https://challenges.cloudflare.com/"
# What the page uses of Turnstile: turnstile.render(el, {sitekey, callback}) and reset(id).
STAND_IN_TURNSTILE = r"""
window.turnstile = {
  render: function (el, options) {
    if (!options.sitekey) throw new Error("render(): no sitekey");
    var label = document.createElement("label");
    var box = document.createElement("input");
    box.type = "checkbox";
    box.addEventListener("change", function () { if (box.checked) options.callback("good-token"); });
    label.appendChild(box);
    label.appendChild(document.createTextNode(" I am human"));
    el.appendChild(label);
    return "widget-1";
  },
  reset: function () { document.querySelectorAll("[data-challenge-widget] input").forEach(function (b) { b.checked = false; }); }
};
"""
CAPTCHA = {"CAPTCHA_PROVIDER": "turnstile", "CAPTCHA_SITE_KEY": "1x00000000000000000000AA",
           "CAPTCHA_SECRET_KEY": "captcha-secret"}


def serve(app):
    with app.app_context():
        db = new_session()
        slug = make_campaign(db, title="Giving Tuesday").slug
        db.commit()
        db.close()
    return LiveServer(app).start(), slug


def test_a_burst_from_one_connection_is_told_why_and_when_on_the_page(make_app, page: Page, mode):  # noqa: F811
    """Stripe's API is a closed port here: the refused start never gets that far."""
    app = make_app(**STRIPE_SETTINGS, DONATE_LIMIT_PER_ADDRESS="1")
    app.config["BACKGROUND_TASKS"] = False
    server, slug = serve(app)
    try:
        # An earlier start from this machine's address used up its one start (Stripe was down).
        earlier = app.test_client().post(f"/api/campaigns/{slug}/donations", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                                         data={"amount": "5000", "name": "A", "email": "a@example.org",
                                               "show_name": "no", "show_amount": "no"})
        assert earlier.status_code == 503
        open_form(page, f"{server.url}/campaigns/{slug}", mode)
        fill_basics(page)
        page.get_by_role("radio", name="$50").check()
        if mode == "checkout-fallback":
            with page.expect_response(f"{server.url}/campaigns/{slug}/donate") as answer:
                continue_to_payment(page, mode)
            assert answer.value.status == 429 and int(answer.value.headers["retry-after"]) > 0
        else:
            with page.expect_response(f"{server.url}/api/campaigns/{slug}/donations") as answer:
                continue_to_payment(page, mode)
            assert answer.value.status == 429
        alert = page.get_by_role("alert").filter(has_text="Too many gifts were started from your connection")
        expect(alert).to_be_visible()
        expect(alert).to_contain_text("Nothing was charged")
        expect(alert).to_contain_text(re.compile(r"paused giving from it for \d+ minutes"))
        # What the donor typed is still there.
        expect(page.get_by_label("Your name (for your receipt)")).to_have_value("Dana Donor")
    finally:
        server.stop()


def test_the_check_appears_only_after_busy_activity_and_lets_the_donor_through(
    make_app, page: Page, localstripe, siteverify,  # noqa: F811
):
    app = make_app(STRIPE_SECRET_KEY="sk_test_e2e", STRIPE_PUBLISHABLE_KEY="pk_test_e2e",
                   STRIPE_WEBHOOK_SECRET="whsec_e2e", STRIPE_API_BASE=localstripe,
                   **CAPTCHA, CAPTCHA_AFTER_STARTS="1", CAPTCHA_VERIFY_URL=siteverify)
    app.config["BACKGROUND_TASKS"] = False
    serve_stand_in_stripe_js(page)
    loads = []

    def turnstile(route):
        loads.append(route.request.url)
        route.fulfill(status=200, content_type="application/javascript", body=STAND_IN_TURNSTILE)

    page.route(TURNSTILE + "**", turnstile)
    server, slug = serve(app)
    try:
        open_form(page, f"{server.url}/campaigns/{slug}", "on-page")
        challenge = page.locator("[data-challenge]")
        expect(challenge).to_be_hidden()
        assert loads == []  # nothing fetched from the provider for an ordinary visit
        fill_basics(page)
        page.get_by_role("radio", name="$50").check()
        continue_to_payment(page, "on-page")
        expect(page.get_by_role("button", name="Give now")).to_be_visible()

        # The donor changes their mind about the amount: a second start from this connection.
        page.get_by_role("button", name="Change my details").click()
        page.get_by_role("radio", name="$100").check()
        continue_to_payment(page, "on-page")
        expect(page.get_by_role("alert").filter(has_text="complete the quick check")).to_be_visible()
        expect(challenge).to_be_visible()
        expect(challenge).to_contain_text("confirm you're a person")
        assert loads == ["https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit"]

        page.get_by_role("checkbox", name="I am human").check()
        continue_to_payment(page, "on-page")
        expect(page.get_by_role("button", name="Give now")).to_be_visible()
        expect(page.locator("[data-pay-summary]")).to_contain_text("$100.00")
        assert SiteVerify.seen[-1] == {"secret": "captcha-secret", "response": "good-token", "remoteip": "127.0.0.1"}

        # The first PaymentIntent, replaced by the change of details, was cancelled at Stripe.
        with app.app_context():
            db = new_session()
            attempts = db.execute(select(DonationAttempt.status, DonationAttempt.stripe_payment_intent_id)
                                  .order_by(DonationAttempt.id)).all()
            db.close()
        assert [a.status for a in attempts] == [AttemptStatus.REPLACED, AttemptStatus.STARTED]
        client = stripe.StripeClient("sk_test_e2e", base_addresses={"api": localstripe})
        assert client.v1.payment_intents.retrieve(attempts[0].stripe_payment_intent_id).status == "canceled"
    finally:
        server.stop()


@pytest.mark.parametrize("stripe_js", ["on-page", "checkout-fallback"])
def test_when_the_check_cannot_load_the_page_says_so_and_offers_another_way(make_app, page: Page, stripe_js):
    app = make_app(**STRIPE_SETTINGS, **CAPTCHA, CAPTCHA_AFTER_STARTS="1",
                   CAPTCHA_VERIFY_URL="http://127.0.0.1:9/siteverify")
    app.config["BACKGROUND_TASKS"] = False
    if stripe_js == "on-page":
        serve_stand_in_stripe_js(page)
    else:
        block_stripe_js(page)
    page.route(TURNSTILE + "**", lambda route: route.abort())
    server, slug = serve(app)
    try:
        app.test_client().post(f"/api/campaigns/{slug}/donations", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                               data={"amount": "5000", "name": "A", "email": "a@example.org",
                                     "show_name": "no", "show_amount": "no"})
        page.goto(f"{server.url}/campaigns/{slug}")
        failed = page.locator("[data-challenge-failed]")
        expect(failed).to_be_visible()
        expect(failed).to_contain_text("The security check couldn't load")
        expect(failed).to_contain_text("give by check")
        expect(page.get_by_role("button", name="Continue to payment")).to_be_disabled()
    finally:
        server.stop()
