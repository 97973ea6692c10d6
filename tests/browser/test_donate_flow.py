"""The donate form and the thank-you page in a real browser, as a donor meets them.

Stripe.js is a third-party script this machine cannot fetch (js.stripe.com does not resolve), and the
tests block it explicitly either way. Where a test needs Stripe.js present, it serves a small stand-in
at Stripe.js's own URL (`STAND_IN_STRIPE_JS`), so the page's Content-Security-Policy is unchanged.
That stand-in is the only one, at the one boundary the machine cannot reach: behind it, the payment
is made against localstripe (a fake Stripe server from PyPI) and recorded from localstripe's own
signed webhook, through the app's real endpoints.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import urllib.parse
import urllib.request
from datetime import date

import pytest
import stripe
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from fundraiser.db import new_session
from fundraiser.donations import fee_to_cover
from fundraiser.models import DonationAttempt, Gift
from tests.conftest import LiveServer
from tests.factories import make_campaign
from tests.payments.conftest import make_stripe_app
from tests.payments.test_localstripe_e2e import localstripe  # noqa: F401  (fixture: the fake Stripe server)

STRIPE_HOST = "https://js.stripe.com/"
STRIPE_JS = "https://js.stripe.com/v3/"
FEE_BPS, FEE_FIXED = 220, 30  # the defaults: 2.2% + 30c

# What the page uses of Stripe.js: Stripe(pk).elements({clientSecret}).create("payment").mount(el),
# and confirmPayment({elements, confirmParams}), which redirects to return_url on success. The card is
# confirmed against localstripe from the test's Python side (window.__standInConfirm): the page's CSP
# allows connections only to api.stripe.com, and localstripe accepts only secret keys.
STAND_IN_STRIPE_JS = r"""
(function () {
  "use strict";
  window.Stripe = function (publishableKey) {
    if (!/^pk_(test|live)_/.test(publishableKey)) throw new Error("Stripe(): expected a publishable key");
    var card = null;
    return {
      elements: function (options) {
        if (!options || !/_secret_/.test(options.clientSecret || "")) throw new Error("elements(): no clientSecret");
        return {
          clientSecret: options.clientSecret,
          create: function (type) {
            if (type !== "payment") throw new Error("create(): only the Payment Element is stood in");
            return {
              mount: function (el) {
                var label = document.createElement("label");
                label.className = "field";
                label.appendChild(document.createTextNode("Card number"));
                card = document.createElement("input");
                card.setAttribute("inputmode", "numeric");
                card.setAttribute("autocomplete", "cc-number");
                label.appendChild(card);
                el.appendChild(label);
              }
            };
          }
        };
      },
      confirmPayment: function (params) {
        return window.__standInConfirm(params.elements.clientSecret, card ? card.value : "").then(function (result) {
          if (result.error) return { error: result.error };
          window.location.href = params.confirmParams.return_url;
          return new Promise(function () {});
        });
      }
    };
  };
})();
"""


# ----------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture
def app(make_app):
    """Stripe is configured, but its API is a closed port: any call to Stripe fails as in an outage."""
    return make_stripe_app(make_app)


@pytest.fixture
def slug(session) -> str:
    campaign = make_campaign(session, title="Giving Tuesday", goal_cents=1_000_000)
    session.commit()
    return campaign.slug


@pytest.fixture
def problems(page: Page) -> list[tuple[str, str]]:
    """Console errors and uncaught exceptions, each with the URL it came from."""
    found: list[tuple[str, str]] = []
    page.on("console", lambda m: found.append((m.text, m.location.get("url", ""))) if m.type == "error" else None)
    page.on("pageerror", lambda exc: found.append((f"uncaught: {exc}", "")))
    return found


def unexpected(problems, *, expected_status: int | None = None) -> list[tuple[str, str]]:
    """Console problems other than the blocked Stripe host, and other than Chrome's own note of the
    one HTTP error status the test provokes on purpose (a 400 for a bad form, a 502 for an outage)."""
    note = f"the server responded with a status of {expected_status} "
    return [(text, url) for text, url in problems
            if not url.startswith(STRIPE_HOST) and not (expected_status and note in text)]


def block_stripe_js(page: Page) -> None:
    page.route(STRIPE_HOST + "**", lambda route: route.abort())


def serve_stand_in_stripe_js(page: Page, confirm=None) -> None:
    def handle(route):
        if route.request.url == STRIPE_JS:
            route.fulfill(status=200, content_type="application/javascript", body=STAND_IN_STRIPE_JS)
        else:
            route.abort()

    page.route(STRIPE_HOST + "**", handle)
    if confirm is not None:
        page.expose_function("__standInConfirm", confirm)


@pytest.fixture(params=["on-page", "checkout-fallback"])
def mode(request, page: Page) -> str:
    """on-page: Stripe.js (the stand-in) loads and the form talks to the JSON API.
    checkout-fallback: Stripe.js cannot load and the browser posts the form to the server."""
    if request.param == "on-page":
        serve_stand_in_stripe_js(page)
    else:
        block_stripe_js(page)
    return request.param


def open_form(page: Page, url: str, mode: str) -> None:
    page.goto(url)
    if mode == "on-page":
        page.wait_for_function("typeof window.Stripe === 'function'")
    else:
        assert page.evaluate("typeof window.Stripe") == "undefined"


def continue_to_payment(page: Page, mode: str) -> None:
    button = page.get_by_role("button", name="Continue to payment")
    if mode == "checkout-fallback":
        with page.expect_navigation():
            button.click()
    else:
        button.click()


def fill_basics(page: Page, *, name="Dana Donor", email="dana@example.org") -> None:
    page.get_by_label("Your name (for your receipt)").fill(name)
    page.get_by_label("Email (your receipt goes here)").fill(email)
    page.get_by_role("radio", name="Yes, show my name").check()
    page.get_by_role("radio", name="Yes", exact=True).check()


def cover_fee_box(page: Page):
    return page.get_by_role("checkbox", name=re.compile("cover the card processing fee"))


def dollars(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def describes(page: Page, locator, message: str) -> None:
    """The control is marked invalid and described by `message`, which sits next to it."""
    expect(locator).to_have_attribute("aria-invalid", "true")
    error_id = locator.get_attribute("aria-describedby")
    assert error_id, "the field is not described by its error"
    error = page.locator(f"[id='{error_id}']")
    expect(error).to_have_text(message)
    expect(error).to_be_visible()
    assert locator.evaluate(
        "(el, id) => (el.closest('fieldset') || el.closest('.field, .monthly-consent')).contains(document.getElementById(id))",
        error_id,
    ), "the error is not next to its field"


def nothing_recorded(session) -> None:
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Gift)) == 0
    assert session.scalar(select(func.count()).select_from(DonationAttempt)) == 0
    session.rollback()  # end the read, so the database can be wiped afterwards


# ----------------------------------------------------------------------------------------------
# 1. Without Stripe.js


def test_without_stripe_js_the_form_posts_for_checkout_and_an_outage_keeps_every_value(
    live_server, page, problems, session, slug,
):
    block_stripe_js(page)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    open_form(page, f"{live_server.url}/campaigns/{slug}", "checkout-fallback")

    page.get_by_role("radio", name="Monthly").check()
    page.get_by_role("radio", name="Other").check()
    page.get_by_label("Other amount (USD)").fill("42.50")
    cover_fee_box(page).check()
    page.get_by_label("Your name (for your receipt)").fill("Dana Donor")
    page.get_by_label("Email (your receipt goes here)").fill("dana@example.org")
    page.get_by_role("radio", name="No, list me as Anonymous").check()
    page.get_by_role("radio", name="Yes", exact=True).check()
    page.get_by_text("Dedicate this gift (optional)").click()
    page.get_by_label("Dedication", exact=True).select_option("memory")
    page.get_by_label("Name of the person").fill("Grandma Rose")
    page.get_by_label("Email someone to let them know").fill("aunt@example.org")
    page.get_by_label("A public comment (optional)").fill("For Rose, with love")
    page.get_by_role("checkbox", name="I understand and authorize this monthly charge.").check()

    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Continue to payment").click()

    # The browser posted the form to the server's Checkout path (not the JSON API), which could not
    # reach Stripe: the donor is told so in plain words.
    assert posts == [f"{live_server.url}/campaigns/{slug}/donate"]
    assert navigation.value.status == 502
    expect(page.get_by_role("alert")).to_have_text(
        "We couldn't reach our payment processor, so nothing was charged. Please try again in a minute. "
        "Questions? Write to us at hello@example.org or call (410) 555-0134."
    )
    expect(page.get_by_role("alert")).to_be_focused()

    # Every value is as the donor typed it.
    expect(page.get_by_role("radio", name="Monthly")).to_be_checked()
    expect(page.get_by_role("radio", name="Other")).to_be_checked()
    expect(page.get_by_label("Other amount (USD)")).to_have_value("42.50")
    expect(cover_fee_box(page)).to_be_checked()
    expect(page.get_by_label("Your name (for your receipt)")).to_have_value("Dana Donor")
    expect(page.get_by_label("Email (your receipt goes here)")).to_have_value("dana@example.org")
    expect(page.get_by_role("radio", name="No, list me as Anonymous")).to_be_checked()
    expect(page.get_by_role("radio", name="Yes", exact=True)).to_be_checked()
    expect(page.get_by_label("Dedication", exact=True)).to_be_visible()
    expect(page.get_by_label("Dedication", exact=True)).to_have_value("memory")
    expect(page.get_by_label("Name of the person")).to_have_value("Grandma Rose")
    expect(page.get_by_label("Email someone to let them know")).to_have_value("aunt@example.org")
    expect(page.get_by_label("A public comment (optional)")).to_have_value("For Rose, with love")
    consent = page.get_by_role("checkbox", name="I understand and authorize this monthly charge.")
    expect(consent).to_be_visible()
    expect(consent).to_be_checked()

    nothing_recorded(session)
    # Only the blocked Stripe host, and the 502 the donor was shown, show up in the console.
    assert unexpected(problems, expected_status=502) == []


def test_with_stripe_js_but_stripe_unreachable_the_donor_is_told_and_nothing_is_recorded(
    live_server, page, problems, session, slug,
):
    serve_stand_in_stripe_js(page)
    open_form(page, f"{live_server.url}/campaigns/{slug}", "on-page")
    page.get_by_role("radio", name="$50").check()
    fill_basics(page)
    page.get_by_role("button", name="Continue to payment").click()

    expect(page.get_by_role("alert")).to_have_text(
        "We couldn't reach our payment processor, so nothing was charged. Please try again in a minute. "
        "Questions? Write to us at hello@example.org or call (410) 555-0134."
    )
    # The other way to give, as the server's own page offers it after the same failure.
    expect(page.get_by_text("You can give by check: make it payable to")).to_be_visible()
    # No half-started payment step: no "Give now" button that cannot give.
    expect(page.get_by_role("button", name="Give now")).to_be_hidden()
    expect(page.get_by_role("button", name="Continue to payment")).to_be_enabled()
    expect(page.get_by_label("Your name (for your receipt)")).to_have_value("Dana Donor")
    assert page.url == f"{live_server.url}/campaigns/{slug}"
    nothing_recorded(session)
    assert unexpected(problems, expected_status=503) == []


# ----------------------------------------------------------------------------------------------
# 2. Monthly consent and the fee-cover preview


def test_monthly_reveals_consent_with_amount_date_and_cancelling_and_requires_it(
    live_server, page, problems, session, slug, mode,
):
    open_form(page, f"{live_server.url}/campaigns/{slug}", mode)
    consent_box = page.get_by_role("checkbox", name="I understand and authorize this monthly charge.")
    terms = page.locator(".monthly-consent p").first
    expect(consent_box).to_be_hidden()

    # The fee preview is the server's integer formula, not 2.2% + 30c of the gift.
    preview = page.locator("[data-fee-preview]")
    page.get_by_role("radio", name="$50").check()
    expect(preview).to_have_text(f"(+{dollars(fee_to_cover(5000, FEE_BPS, FEE_FIXED))})")
    assert fee_to_cover(5000, FEE_BPS, FEE_FIXED) == 144  # not 140
    page.get_by_role("radio", name="Other").check()
    page.get_by_label("Other amount (USD)").fill("37.15")
    expect(preview).to_have_text(f"(+{dollars(fee_to_cover(3715, FEE_BPS, FEE_FIXED))})")
    cover_fee_box(page).check()

    page.get_by_role("radio", name="Monthly").check()
    expect(consent_box).to_be_visible()
    today = date.today()
    total = 3715 + fee_to_cover(3715, FEE_BPS, FEE_FIXED)
    expect(terms).to_contain_text(f"{dollars(total)} is charged today, {today:%B} {today.day}, {today.year}")
    expect(terms).to_contain_text("then on the same day each month until you cancel")
    expect(terms).to_contain_text("Every receipt has a link to update your card or cancel")
    page.get_by_role("radio", name="One time").check()
    expect(consent_box).to_be_hidden()
    page.get_by_role("radio", name="Monthly").check()

    fill_basics(page)
    continue_to_payment(page, mode)
    consent_box = page.get_by_role("checkbox", name="I understand and authorize this monthly charge.")
    describes(page, consent_box, "Please confirm the monthly schedule before giving monthly.")
    expect(consent_box).to_be_focused()
    expect(page.get_by_role("radio", name="Monthly")).to_be_checked()
    expect(page.get_by_role("button", name="Give now")).to_be_hidden()
    nothing_recorded(session)
    assert unexpected(problems, expected_status=400) == []


# ----------------------------------------------------------------------------------------------
# 3. Field errors


def test_field_errors_sit_by_their_fields_are_announced_and_take_focus(
    live_server, page, problems, session, slug, mode,
):
    open_form(page, f"{live_server.url}/campaigns/{slug}", mode)
    page.get_by_role("radio", name="Other").check()
    page.get_by_label("Other amount (USD)").fill("2")
    fill_basics(page, email="dana@example")
    continue_to_payment(page, mode)

    amount = page.get_by_label("Other amount (USD)")
    email = page.get_by_label("Email (your receipt goes here)")
    describes(page, amount, "Amount must be between $5.00 and $25,000.00.")
    describes(page, email, "Please enter a valid email address; your receipt goes there.")
    expect(amount).to_be_focused()
    expect(amount).to_have_value("2")
    expect(email).to_have_value("dana@example")

    # Fixed the amount, emptied the name: the old error goes, and focus goes to the first problem on
    # the page (the name), whatever order the server lists them in.
    amount.fill("20")
    page.get_by_label("Your name (for your receipt)").fill("")
    continue_to_payment(page, mode)
    name = page.get_by_label("Your name (for your receipt)")
    describes(page, name, "Please enter your name; it goes on your tax receipt.")
    describes(page, page.get_by_label("Email (your receipt goes here)"),
              "Please enter a valid email address; your receipt goes there.")
    expect(name).to_be_focused()
    expect(page.get_by_label("Other amount (USD)")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Amount must be between")).to_have_count(0)
    nothing_recorded(session)
    assert unexpected(problems, expected_status=400) == []


# ----------------------------------------------------------------------------------------------
# 4. The whole gift, paid on the page, recorded from localstripe's signed webhook

WEBHOOK_SECRET = "whsec_browser_flow"


def test_gift_paid_on_the_page_is_recorded_from_the_signed_webhook_and_thanked(
    make_app, localstripe, page, problems,  # noqa: F811
):
    app = make_app(
        STRIPE_SECRET_KEY="sk_test_x", STRIPE_PUBLISHABLE_KEY="pk_test_x",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_API_BASE=localstripe,
    )
    # Background work stays on: it is what applies the stored webhook to the ledger.
    with app.app_context():
        db = new_session()
        campaign = make_campaign(db, title="Giving Tuesday", goal_cents=1_000_000)
        db.commit()
        slug = campaign.slug
        db.close()

    # Stripe's webhooks arrive a moment after the payment; hold them until the donor has seen the
    # thank-you page waiting, so that state is checked every time rather than by luck.
    webhooks_may_land = threading.Event()
    inner = app.wsgi_app

    def gated(environ, start_response):
        if environ.get("PATH_INFO") == "/stripe/webhook":
            webhooks_may_land.wait(timeout=60)
        return inner(environ, start_response)

    app.wsgi_app = gated
    server = LiveServer(app).start()
    # The return URL Stripe sends the donor back to is built from BASE_URL: this server.
    app.extensions["fundraiser.settings"] = dataclasses.replace(
        app.extensions["fundraiser.settings"], base_url=server.url)
    try:
        urllib.request.urlopen(urllib.request.Request(
            f"{localstripe}/_config/webhooks/fundraiser", method="POST",
            data=urllib.parse.urlencode({"url": f"{server.url}/stripe/webhook", "secret": WEBHOOK_SECRET}).encode(),
        ), timeout=10)

        confirmed: list[str] = []

        def confirm_with_localstripe(client_secret: str, card_number: str) -> dict:
            """What Stripe.js does with the donor's card: a PaymentMethod, attached, confirmed."""
            intent_id = client_secret.split("_secret_")[0]
            client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe})
            try:
                card = client.v1.payment_methods.create(params={"type": "card", "card": {
                    "number": card_number.replace(" ", ""), "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
                client.v1.payment_intents.update(intent_id, params={"payment_method": card.id})
                intent = client.v1.payment_intents.confirm(intent_id)
            except stripe.StripeError as exc:
                return {"error": {"type": "card_error", "message": exc.user_message or "Your card was declined."}}
            confirmed.append(intent.id)
            return {"status": intent.status}

        serve_stand_in_stripe_js(page, confirm=confirm_with_localstripe)
        open_form(page, f"{server.url}/campaigns/{slug}", "on-page")

        page.get_by_role("radio", name="$50").check()
        cover_fee_box(page).check()
        fill_basics(page, name="Erin Example", email="erin@example.org")
        page.get_by_label("A public comment (optional)").fill("Go team!")
        page.get_by_role("button", name="Continue to payment").click()

        total = 5000 + fee_to_cover(5000, FEE_BPS, FEE_FIXED)
        assert total == 5144
        expect(page.locator("[data-pay-summary]")).to_have_text("You're giving $51.44 once, today.")
        expect(page.get_by_role("button", name="Continue to payment")).to_be_hidden()
        page.get_by_label("Card number").fill("4242 4242 4242 4242")
        with page.expect_navigation(url=re.compile(rf"/campaigns/{slug}/thanks\?d=")):
            page.get_by_role("button", name="Give now").click()
        assert len(confirmed) == 1

        # Paid, but Stripe's webhook has not landed: the page says it is confirming.
        state = page.locator("[data-thanks-state]")
        expect(page.get_by_role("heading", name="Thank you, Erin Example!")).to_be_visible()
        expect(state).to_contain_text("We're confirming your gift of $51.44")
        bar = page.get_by_role("progressbar", name="Giving Tuesday: amount raised")
        expect(bar).to_have_attribute("aria-valuetext", re.compile(r"^\$0 of \$10,000 raised "))

        webhooks_may_land.set()
        expect(state).to_have_text("Your gift of $51.44 has been received. Your receipt is on its way.",
                                   timeout=20_000)
        # The gift is exact (cents); the bar is a headline (whole dollars, rounded down).
        expect(bar).to_have_attribute("aria-valuetext", "$51 of $10,000 raised (0.5%)")
        expect(page.locator("[data-thanks] [data-field=raised]")).to_have_text("$51")
        expect(page.locator("[data-thanks] .progress__meta")).to_contain_text("1 donor")
        assert unexpected(problems) == []

        # The ledger: exactly one gift, of the amount the donor chose plus the fee they covered.
        with app.app_context():
            db = new_session()
            try:
                gifts = db.scalars(select(Gift)).all()
                assert [(g.amount_cents, g.stripe_payment_intent_id, g.donor.email) for g in gifts] == [
                    (5144, confirmed[0], "erin@example.org")]
                assert gifts[0].public_comment == "Go team!"
            finally:
                db.close()
    finally:
        webhooks_may_land.set()
        server.stop()
