""""Change my details" against localstripe: the replaced PaymentIntent is cancelled at Stripe, the
new one describes the gift for the donor's statement, and a payment already made is never doubled."""

from __future__ import annotations

import pytest
import stripe
from sqlalchemy import func, select

from fundraiser import organisation
from fundraiser.db import get_session
from fundraiser.donations import ALREADY_PAYING
from fundraiser.models import AttemptStatus, DonationAttempt
from fundraiser.payments.stripe import NOT_STARTED
from tests.factories import make_campaign
from tests.payments.test_localstripe_e2e import localstripe  # noqa: F401  (fixture: the fake Stripe server)

FORM = {"amount": "5000", "frequency": "once", "name": "Dana Donor", "email": "dana@example.org",
        "show_name": "yes", "show_amount": "yes"}


def as_donor_reads(app, message: str) -> str:
    """The refusal as the donor gets it: what happened, then how to reach the organisation."""
    with app.app_context():
        reads = organisation.current_organisation().with_contact(message)
    assert "Questions? Write to us at" in reads
    return reads


@pytest.fixture
def donate(make_app, localstripe):  # noqa: F811
    app = make_app(STRIPE_SECRET_KEY="sk_test_e2e", STRIPE_PUBLISHABLE_KEY="pk_test_e2e",
                   STRIPE_WEBHOOK_SECRET="whsec_e2e", STRIPE_API_BASE=localstripe,
                   ORG_NAME="Maryland Coalition", STATEMENT_DESCRIPTOR_SUFFIX="MD COALITION")
    app.config["BACKGROUND_TASKS"] = False
    with app.app_context():
        session = get_session()
        slug = make_campaign(session, title="Giving Tuesday").slug
        session.commit()
    client = app.test_client()
    stripe_client = stripe.StripeClient("sk_test_e2e", base_addresses={"api": localstripe})

    def start(**changes):
        response = client.post(f"/api/campaigns/{slug}/donations", data={**FORM, **changes})
        body = response.get_json()
        intent = body["client_secret"].split("_secret_")[0] if response.status_code == 201 else None
        return response, body, intent

    return app, start, stripe_client


def test_changing_details_cancels_the_old_intent_and_describes_the_new_one(donate):
    app, start, stripe_client = donate
    response, first, old_intent = start()
    assert response.status_code == 201
    intent = stripe_client.v1.payment_intents.retrieve(old_intent)
    assert intent.description == "Gift to Maryland Coalition — Giving Tuesday"
    assert intent.statement_descriptor_suffix == "MD COALITION"

    response, second, new_intent = start(amount="other", custom_amount="75", replaces=first["attempt"],
                                         replace_token=first["replace_token"])
    assert response.status_code == 201 and new_intent != old_intent
    assert stripe_client.v1.payment_intents.retrieve(old_intent).status == "canceled"
    replacement = stripe_client.v1.payment_intents.retrieve(new_intent)
    assert (replacement.amount, replacement.status) == (7500, "requires_payment_method")
    assert replacement.metadata["donation_attempt"] == second["attempt"]
    with app.app_context():
        statuses = dict(get_session().execute(select(DonationAttempt.public_id, DonationAttempt.status)).all())
    assert statuses == {first["attempt"]: AttemptStatus.REPLACED, second["attempt"]: AttemptStatus.STARTED}


def test_a_replace_without_the_browsers_token_cancels_nothing(donate):
    _, start, stripe_client = donate
    _, first, intent = start()
    response, _, other = start(replaces=first["attempt"], replace_token="guessed")
    assert response.status_code == 201 and other != intent
    assert stripe_client.v1.payment_intents.retrieve(intent).status == "requires_payment_method"


def test_a_paid_intent_is_not_replaced_so_the_donor_is_not_charged_twice(donate):
    app, start, stripe_client = donate
    _, first, intent = start()
    card = stripe_client.v1.payment_methods.create(params={
        "type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    stripe_client.v1.payment_intents.update(intent, params={"payment_method": card.id})
    assert stripe_client.v1.payment_intents.confirm(intent).status == "succeeded"

    response, body, _ = start(amount="10000", replaces=first["attempt"], replace_token=first["replace_token"])
    assert response.status_code == 402 and body["error"]["message"] == as_donor_reads(app, ALREADY_PAYING)
    assert stripe_client.v1.payment_intents.retrieve(intent).status == "succeeded"
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(DonationAttempt)) == 1


def test_monthly_start_refused_by_the_processor_reads_plainly(donate, caplog):
    """localstripe refuses the monthly Subscription's parameters with raw text the donor must not see."""
    app, start, _ = donate
    response, body, _ = start(frequency="monthly", monthly_consent="yes")
    assert response.status_code == 402 and body["error"]["message"] == as_donor_reads(app, NOT_STARTED)
    assert "Unexpected" not in response.get_data(as_text=True)
    assert any("Unexpected" in record.getMessage() and "payment_settings" in record.getMessage()
               for record in caplog.records)


class RecordingStripe:
    """Stands in for StripeClient at the adapter's own path for the monthly path, which localstripe
    can't run (it knows no inline price_data); records every call as (resource.method, args)."""

    def __init__(self):
        self.calls = []
        self.subscriptions_made = 0

    def __call__(self):
        return self

    @property
    def v1(self):
        return self

    def __getattr__(self, resource):
        return _Resource(self, resource)


class _Resource:
    def __init__(self, stripe_, name):
        self.stripe, self.name = stripe_, name

    def __getattr__(self, method):
        def call(*args, **kwargs):
            self.stripe.calls.append((f"{self.name}.{method}", args))
            return self._answer(method, args)

        return call

    def _answer(self, method, args):
        s = self.stripe
        if (self.name, method) == ("subscriptions", "create"):
            s.subscriptions_made += 1
            n = s.subscriptions_made
            return _Obj(id=f"sub_{n}", plain={"latest_invoice": {"confirmation_secret": {"client_secret": f"pi_s{n}_secret_x"}}})
        if (self.name, method) == ("subscriptions", "retrieve"):
            return _Obj(id=args[0], status="incomplete")
        if (self.name, method) == ("customers", "create"):
            return _Obj(id=f"cus_{s.subscriptions_made + 1}")  # one customer per subscription
        return _Obj(id=f"{self.name}_{len(s.calls)}")


class _Obj:
    def __init__(self, plain=None, **fields):
        self.__dict__.update(fields)
        self._plain = plain or {}

    def to_dict(self):
        return self._plain


def test_changing_a_monthly_gift_cancels_the_incomplete_subscription_and_its_customer(make_app, monkeypatch):
    from fundraiser.models import PlanStatus, RecurringPlan
    from fundraiser.payments import stripe as adapter
    from tests.payments.conftest import make_stripe_app

    app = make_stripe_app(make_app)
    recorder = RecordingStripe()
    monkeypatch.setattr(adapter, "_client", recorder)
    with app.app_context():
        session = get_session()
        slug = make_campaign(session).slug
        session.commit()
    client = app.test_client()
    monthly = {**FORM, "frequency": "monthly", "monthly_consent": "yes"}
    first = client.post(f"/api/campaigns/{slug}/donations", data=monthly).get_json()
    recorder.calls.clear()
    second = client.post(f"/api/campaigns/{slug}/donations", data={
        **monthly, "amount": "2500", "replaces": first["attempt"], "replace_token": first["replace_token"]})
    assert second.status_code == 201
    assert recorder.calls[:3] == [("subscriptions.retrieve", ("sub_1",)), ("subscriptions.cancel", ("sub_1",)),
                                  ("customers.delete", ("cus_1",))]
    with app.app_context():
        plans = dict(get_session().execute(select(RecurringPlan.stripe_subscription_id, RecurringPlan.status)).all())
    assert plans == {"sub_1": PlanStatus.CANCELED, "sub_2": PlanStatus.INCOMPLETE}
