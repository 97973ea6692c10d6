"""Monthly, quarterly and yearly gifts: what is sent to Stripe (exact parameters, at the adapter's
own path, since localstripe knows no inline recurring prices) and what the signed webhooks record."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fundraiser.models import DonationAttempt, OutboxMessage, RecurringPlan
from fundraiser.payments import stripe as adapter
from tests.factories import make_campaign
from tests.payments import stripe_shapes as s

FORM = {"amount": "5000", "name": "Quinn Quarterly", "email": "quinn@example.org", "show_name": "yes",
        "show_amount": "no", "monthly_consent": "yes"}
SCHEDULES = [
    ("monthly", {"interval": "month"}, "month"),
    ("quarterly", {"interval": "month", "interval_count": 3}, "quarter"),
    ("yearly", {"interval": "year"}, "year"),
]
# What each plan's receipt says of its schedule.
RECEIPT_WORDS = {
    "month": "payment 1 of your monthly gift of $50.00",
    "quarter": "This is a quarterly gift of $50.00, charged every three months on the same day until you cancel.",
    "year": "This is a yearly gift of $50.00, charged each year on the same day until you cancel.",
}


class RecordingStripe:
    """StripeClient at the adapter's path: keeps every create call's params, answers as Stripe does."""

    def __init__(self):
        self.created: dict[str, dict] = {}

    def __call__(self):
        return self

    @property
    def v1(self):
        return self

    def __getattr__(self, resource):
        return _Resource(self, resource)


class _Resource:
    """`client.v1.<resource>` (or `checkout.sessions`): records create's params under the last name."""

    def __init__(self, recorder: RecordingStripe, name: str):
        self.recorder, self.name = recorder, name

    def __getattr__(self, name):
        return _Resource(self.recorder, name)

    def create(self, *, params, options):
        self.recorder.created[self.name] = params
        return _Obj(id=f"{self.name}_1", url="https://checkout.stripe.com/c/pay/cs_1", client_secret="pi_1_secret",
                    plain={"latest_invoice": {"confirmation_secret": {"client_secret": "pi_1_secret_x"}}})


class _Obj:
    def __init__(self, plain, **fields):
        self.__dict__.update(fields)
        self._plain = plain

    def to_dict(self):
        return self._plain


@pytest.fixture
def stripe_calls(monkeypatch) -> RecordingStripe:
    recorder = RecordingStripe()
    monkeypatch.setattr(adapter, "_client", recorder)
    return recorder


@pytest.mark.parametrize(("frequency", "recurring", "interval"), SCHEDULES)
def test_on_page_recurring_gift_subscribes_on_its_schedule(client, session, stripe_calls, frequency, recurring, interval):
    campaign = make_campaign(session, title="Giving Tuesday")
    session.commit()
    response = client.post(f"/api/campaigns/{campaign.slug}/donations", data={**FORM, "frequency": frequency})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["frequency"] == frequency
    price = stripe_calls.created["subscriptions"]["items"][0]["price_data"]
    assert price == {"currency": "usd", "product": "products_1", "unit_amount": 5000, "recurring": recurring}
    word = frequency.capitalize()
    assert stripe_calls.created["subscriptions"]["description"].startswith(f"{word} gift to Together")
    plan = session.scalar(select(RecurringPlan))
    assert (plan.interval, plan.amount_cents, plan.stripe_subscription_id) == (interval, 5000, "subscriptions_1")


def test_checkout_path_sends_the_yearly_schedule(client, session, stripe_calls):
    campaign = make_campaign(session, title="Giving Tuesday")
    session.commit()
    response = client.post(f"/campaigns/{campaign.slug}/donate", data={**FORM, "frequency": "yearly"})
    assert response.status_code == 303
    params = stripe_calls.created["sessions"]
    assert params["mode"] == "subscription"
    assert params["line_items"][0]["price_data"]["recurring"] == {"interval": "year"}
    assert params["line_items"][0]["price_data"]["product_data"] == {"name": "Yearly gift to Giving Tuesday"}
    assert session.scalar(select(DonationAttempt.frequency)) == "yearly"


def test_recurring_consent_names_the_schedule_chosen(client, session):
    campaign = make_campaign(session)
    session.commit()
    form = {**FORM, "frequency": "quarterly", "monthly_consent": ""}
    response = client.post(f"/api/campaigns/{campaign.slug}/donations", data=form)
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {
        "monthly_consent": "Please confirm the quarterly schedule before giving quarterly."}
    assert session.scalar(select(DonationAttempt)) is None


@pytest.mark.parametrize(("frequency", "recurring", "interval"), SCHEDULES)
def test_checkout_started_plan_and_its_renewals_keep_their_schedule(deliver, session, frequency, recurring, interval):
    """A Checkout subscription's plan is made from our metadata; its price then confirms it."""
    campaign = make_campaign(session)
    session.commit()
    metadata = {"campaign_id": str(campaign.id), "frequency": frequency, "donor_name": "Quinn Quarterly",
                "show_name": "yes", "show_amount": "no"}
    sub_id = s.new_id("sub")
    checkout = s.checkout_session(5000, metadata=metadata, mode="subscription", subscription=sub_id)
    assert deliver(s.event("checkout.session.completed", checkout)).status_code == 200
    assert session.scalar(select(RecurringPlan.interval)) == interval
    subscription = s.subscription(sub_id, metadata=metadata, unit_amount=5000)
    subscription["items"]["data"][0]["price"]["recurring"] = {"interval_count": 1, **recurring}
    assert deliver(s.event("customer.subscription.updated", subscription)).status_code == 200
    assert deliver(s.event("invoice.paid", s.invoice(5000, subscription=sub_id, metadata=metadata))).status_code == 200
    session.rollback()
    plan = session.scalar(select(RecurringPlan))
    assert (plan.interval, plan.status, len(session.scalars(select(RecurringPlan)).all())) == (interval, "active", 1)
    receipt = session.scalar(select(OutboxMessage).order_by(OutboxMessage.id))
    assert RECEIPT_WORDS[interval] in receipt.body_text


def test_a_schedule_changed_in_stripes_dashboard_is_recorded_as_stripe_says(deliver, session):
    campaign = make_campaign(session)
    session.commit()
    metadata = {"campaign_id": str(campaign.id), "frequency": "monthly", "donor_name": "Quinn"}
    sub_id = s.new_id("sub")
    deliver(s.event("invoice.paid", s.invoice(5000, subscription=sub_id, metadata=metadata)))
    subscription = s.subscription(sub_id, metadata=metadata, unit_amount=5000)
    subscription["items"]["data"][0]["price"]["recurring"] = {"interval": "week", "interval_count": 2}
    deliver(s.event("customer.subscription.updated", subscription))
    session.rollback()
    assert session.scalar(select(RecurringPlan.interval)) == "2 week"
