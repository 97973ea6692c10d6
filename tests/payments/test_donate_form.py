"""The donate form: rules in the domain, then the Checkout path through the real endpoint."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fundraiser import donations
from fundraiser.config import load_settings
from fundraiser.donations import FormErrors, fee_to_cover
from fundraiser.models import DonationAttempt, Gift
from fundraiser.payments import stripe as adapter
from tests.factories import make_campaign

GOOD = {"amount": "5000", "frequency": "once", "name": "Dana Donor", "email": "Dana@Example.org",
        "show_name": "no", "show_amount": "yes"}


@pytest.fixture
def settings(tmp_path):
    return load_settings({}, tmp_path)


@pytest.mark.parametrize(("amount", "fee"), [(2500, 87), (10000, 256), (500, 42), (2_500_000, 56_268)])
def test_fee_cover_leaves_exactly_the_gift_after_the_processor_takes_its_share(amount, fee):
    assert fee_to_cover(amount, 220, 30) == fee
    total = amount + fee
    # Stripe's 2.2% + 30c of the total, rounded to the nearest cent, never eats into the gift.
    assert total - round(total * 0.022) - 30 >= amount


def test_valid_form_becomes_a_request(session, settings):
    campaign = make_campaign(session)
    request = donations.parse_donation({**GOOD, "cover_fee": "yes"}, campaign, settings)
    assert not isinstance(request, FormErrors)
    assert (request.amount_cents, request.fee_covered_cents, request.total_cents) == (5000, 144, 5144)
    assert request.donor_email == "dana@example.org" and request.show_name is False and request.show_amount is True


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"amount": "other", "custom_amount": "2"}, "amount", "Amount must be between $5.00 and $25,000.00"),
        ({"amount": "other", "custom_amount": "30000"}, "amount", "Amount must be between $5.00 and $25,000.00"),
        ({"amount": "other", "custom_amount": "ten dollars"}, "amount", "isn't an amount of money"),
        ({"amount": "1234"}, "amount", "choose one of the amounts shown"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"name": "  "}, "name", "your name"),
        ({"show_name": ""}, "show_name", "whether your name may appear"),
        ({"show_amount": "maybe"}, "show_amount", "whether the amount may appear"),
        ({"frequency": "monthly"}, "monthly_consent", "confirm the monthly schedule"),
        ({"frequency": "weekly"}, "frequency", "one time, monthly, quarterly or yearly"),
        ({"dedication_kind": "honour", "dedication_name": ""}, "dedication_name", "who the gift honours"),
        ({"comment": "x" * 501}, "comment", "500 characters"),
    ],
)
def test_bad_input_gets_a_message_on_its_field(session, settings, changes, field, message):
    campaign = make_campaign(session)
    result = donations.parse_donation({**GOOD, **changes}, campaign, settings)
    assert isinstance(result, FormErrors)
    assert message in result.errors[field]


def test_never_assumes_the_donor_wants_to_be_public(session, settings):
    campaign = make_campaign(session)
    form = {k: v for k, v in GOOD.items() if k not in ("show_name", "show_amount")}
    result = donations.parse_donation(form, campaign, settings)
    assert set(result.errors) == {"show_name", "show_amount"}


class RecordingCheckout:
    """Stands in for StripeClient at the adapter's own path, recording exactly what is sent."""

    def __init__(self):
        self.calls = []

    def __call__(self):
        return self

    @property
    def v1(self):
        return self

    @property
    def checkout(self):
        return self

    @property
    def sessions(self):
        return self

    def create(self, params, options):
        self.calls.append((params, options))

        class Session:
            id = "cs_test_recorded"
            url = "https://checkout.stripe.com/c/pay/cs_test_recorded"

        return Session()


def test_checkout_path_sends_exactly_these_parameters(client, session, monkeypatch):
    campaign = make_campaign(session, title="Giving Tuesday")
    session.commit()
    recorder = RecordingCheckout()
    monkeypatch.setattr(adapter, "_client", recorder)
    response = client.post(f"/campaigns/{campaign.slug}/donate", data={**GOOD, "comment": "Go team"})
    assert response.status_code == 303
    assert response.headers["Location"] == "https://checkout.stripe.com/c/pay/cs_test_recorded"
    attempt = session.scalar(select(DonationAttempt))
    [(params, options)] = recorder.calls
    metadata = {
        "campaign_id": str(campaign.id), "donation_attempt": attempt.public_id, "frequency": "once",
        "donor_name": "Dana Donor", "donor_email": "dana@example.org", "show_name": "no", "show_amount": "yes", "fee_covered_cents": "0",
        "comment": "Go team",
    }
    assert params == {
        "line_items": [{"price_data": {"currency": "usd", "unit_amount": 5000,
                                       "product_data": {"name": "Gift to Giving Tuesday"}}, "quantity": 1}],
        "metadata": metadata,
        "customer_email": "dana@example.org",
        "client_reference_id": attempt.public_id,
        "success_url": f"http://127.0.0.1:5000/campaigns/{campaign.slug}/thanks?d={attempt.public_id}",
        "cancel_url": f"http://127.0.0.1:5000/campaigns/{campaign.slug}?d={attempt.public_id}#give",
        "mode": "payment",
        "submit_type": "donate",
        "payment_intent_data": {
            "metadata": metadata,
            "description": "Gift to Together, We Can End Restraint and Seclusion — Giving Tuesday",
            "statement_descriptor_suffix": "TOGETHER",
        },
    }
    assert options == {"idempotency_key": f"donation:{attempt.public_id}:checkout"}
    assert attempt.stripe_checkout_session_id == "cs_test_recorded"


def test_monthly_checkout_is_a_subscription_with_metadata_on_it(client, session, monkeypatch):
    campaign = make_campaign(session)
    session.commit()
    recorder = RecordingCheckout()
    monkeypatch.setattr(adapter, "_client", recorder)
    form = {**GOOD, "frequency": "monthly", "monthly_consent": "yes", "amount": "2500"}
    assert client.post(f"/campaigns/{campaign.slug}/donate", data=form).status_code == 303
    [(params, _)] = recorder.calls
    assert params["mode"] == "subscription" and "submit_type" not in params
    assert params["line_items"][0]["price_data"]["recurring"] == {"interval": "month"}
    assert params["subscription_data"]["metadata"]["campaign_id"] == str(campaign.id)
    assert params["subscription_data"]["metadata"]["frequency"] == "monthly"
    # Checkout's subscription mode takes no statement descriptor; the description names the cause.
    assert params["subscription_data"]["description"].startswith("Monthly gift to Together, We Can End")


def test_bad_form_comes_back_with_messages_and_what_was_typed(client, session):
    campaign = make_campaign(session)
    session.commit()
    response = client.post(f"/campaigns/{campaign.slug}/donate",
                           data={**GOOD, "amount": "other", "custom_amount": "1", "name": "Kim <b>Lee</b>"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Amount must be between $5.00 and $25,000.00" in html
    assert 'value="Kim &lt;b&gt;Lee&lt;/b&gt;"' in html
    assert session.scalar(select(DonationAttempt)) is None


def test_stripe_unreachable_keeps_the_form_and_records_nothing(client, session):
    """STRIPE_API_BASE points at a closed port in these tests: a real connection failure."""
    campaign = make_campaign(session)
    session.commit()
    response = client.post(f"/campaigns/{campaign.slug}/donate", data=GOOD)
    assert response.status_code == 502
    html = response.get_data(as_text=True)
    assert "couldn&#39;t reach our payment processor, so nothing was charged" in html
    assert 'value="Dana Donor"' in html
    session.expire_all()
    assert session.scalar(select(DonationAttempt)) is None and session.scalar(select(Gift)) is None
    api = client.post(f"/api/campaigns/{campaign.slug}/donations", data=GOOD)
    assert api.status_code == 503 and "nothing was charged" in api.get_json()["error"]["message"]


def test_cancelled_checkout_returns_to_the_form_as_it_was(client, session, monkeypatch):
    campaign = make_campaign(session)
    session.commit()
    monkeypatch.setattr(adapter, "_client", RecordingCheckout())
    client.post(f"/campaigns/{campaign.slug}/donate", data={**GOOD, "amount": "other", "custom_amount": "42.50",
                                                           "dedication_kind": "honour", "dedication_name": "Ms. Rivera"})
    attempt = session.scalar(select(DonationAttempt))
    html = client.get(f"/campaigns/{campaign.slug}?d={attempt.public_id}").get_data(as_text=True)
    assert "Your payment was cancelled, so nothing was charged" in html
    assert 'value="42.50"' in html and 'value="Ms. Rivera"' in html and 'value="Dana Donor"' in html


def test_api_field_errors_are_json(client, session):
    campaign = make_campaign(session)
    session.commit()
    response = client.post(f"/api/campaigns/{campaign.slug}/donations", json={**GOOD, "email": "nope"})
    assert response.status_code == 400
    assert "valid email" in response.get_json()["error"]["fields"]["email"]


def test_campaign_page_csp_allows_exactly_stripe(client, session):
    campaign = make_campaign(session)
    session.commit()
    csp = client.get(f"/campaigns/{campaign.slug}").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self' https://js.stripe.com https://*.js.stripe.com"
    assert directives["frame-src"] == "https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com"
    assert directives["connect-src"] == "'self' https://api.stripe.com"
    assert directives["form-action"] == "'self' https://checkout.stripe.com"
    assert directives["frame-ancestors"] == "'none'" and directives["style-src"] == "'self'"
    home = client.get("/").headers["Content-Security-Policy"]
    assert "stripe" not in home


def test_without_stripe_keys_the_page_says_so_and_nothing_breaks(make_app, session):
    from fundraiser.auth.users import create_user

    app = make_app()  # no Stripe settings
    campaign = make_campaign(session)
    create_user(session, "staff@example.org", "staff", "a very good password")
    session.commit()
    client = app.test_client()
    html = client.get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "Online giving is not set up yet" in html and "STRIPE_SECRET_KEY" not in html
    assert "stripe" not in client.get(f"/campaigns/{campaign.slug}").headers["Content-Security-Policy"]
    assert client.post(f"/campaigns/{campaign.slug}/donate", data=GOOD).status_code == 503
    assert client.post(f"/api/campaigns/{campaign.slug}/donations", data=GOOD).status_code == 503
    assert client.post("/stripe/webhook", data=b"{}").status_code == 503
    client.post("/login", data={"email": "staff@example.org", "password": "a very good password"})
    assert "STRIPE_SECRET_KEY" in client.get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
