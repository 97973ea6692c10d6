"""POST /stripe/webhook: every gift recorded once, whatever order or how often Stripe delivers."""

from __future__ import annotations

import time
from threading import Barrier, Thread

import pytest
from sqlalchemy import func, select

from fundraiser import ledger
from fundraiser.db import new_session, utcnow
from fundraiser.models import (
    CampaignTotals,
    EntryKind,
    Gift,
    LedgerEntry,
    OutboxMessage,
    PlanStatus,
    RecurringPlan,
    StripeEvent,
)
from fundraiser.payments import webhooks
from tests.factories import make_campaign
from tests.payments import stripe_shapes as s
from tests.payments.conftest import WEBHOOK_SECRET, stripe_events_unavailable


def meta(campaign, **extra) -> dict:
    return {"campaign_id": str(campaign.id), "frequency": "once", "donor_name": "Dana Donor",
            "show_name": "yes", "show_amount": "no", **extra}


def raised(session, campaign) -> int:
    session.rollback()  # a fresh snapshot: SQLite keeps a read transaction's view until it ends
    return session.get(CampaignTotals, campaign.id).raised_cents


def count(session, model) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def campaign(session):
    c = make_campaign(session)
    session.commit()
    return c


def test_payment_is_recorded_with_donor_choices_and_a_receipt(deliver, session, campaign):
    pi = s.payment_intent(2500, metadata=meta(campaign, comment="For Sam", dedication_kind="memory",
                                             dedication_name="Grandpa Joe"))
    assert deliver(s.event("payment_intent.succeeded", pi)).status_code == 200
    gift = session.scalar(select(Gift))
    assert (gift.amount_cents, gift.campaign_id, gift.channel, gift.method) == (2500, campaign.id, "online", "card")
    assert gift.donor.email == "donor@example.org" and gift.donor.name == "Dana Donor"
    assert not gift.is_anonymous and not gift.show_amount
    assert gift.public_comment == "For Sam" and gift.dedication_name == "Grandpa Joe"
    assert gift.stripe_payment_intent_id == pi["id"] and gift.stripe_charge_id == pi["latest_charge"]
    assert raised(session, campaign) == 2500
    [receipt] = session.scalars(select(OutboxMessage)).all()
    assert receipt.to_email == "donor@example.org" and "$25.00" in receipt.subject


@pytest.mark.parametrize(
    "signature",
    ["", "t=123,v1=deadbeef", "garbage", None],
    ids=["empty", "wrong", "malformed", "other-secret"],
)
def test_unsigned_or_badly_signed_events_are_refused_and_store_nothing(deliver, session, campaign, signature):
    evt = s.event("payment_intent.succeeded", s.payment_intent(2500, metadata=meta(campaign)))
    if signature is None:
        response = deliver(evt, secret="whsec_someone_else")
    else:
        response = deliver(evt, signature=signature)
    assert response.status_code == 400
    assert count(session, StripeEvent) == 0 and count(session, Gift) == 0


def test_stale_signature_is_refused(deliver, session, campaign):
    evt = s.event("payment_intent.succeeded", s.payment_intent(2500, metadata=meta(campaign)))
    old = int(time.time()) - 600  # beyond Stripe's default five-minute tolerance
    response = deliver(evt, signature=s.sign(s.body(evt), WEBHOOK_SECRET, timestamp=old))
    assert response.status_code == 400 and count(session, Gift) == 0


def test_missing_signature_header_is_refused(client, session, campaign):
    evt = s.event("payment_intent.succeeded", s.payment_intent(2500, metadata=meta(campaign)))
    assert client.post("/stripe/webhook", data=s.body(evt), content_type="application/json").status_code == 400
    assert count(session, Gift) == 0


def test_huge_bodies_are_refused(client):
    response = client.post("/stripe/webhook", data=b"x" * (300 * 1024), headers={"Stripe-Signature": "t=1,v1=x"})
    assert response.status_code == 413


def test_repeated_delivery_changes_nothing(deliver, session, campaign):
    evt = s.event("payment_intent.succeeded", s.payment_intent(2500, metadata=meta(campaign)))
    assert deliver(evt).status_code == 200
    again = deliver(evt)
    assert again.status_code == 200 and again.get_json()["status"] == "already received"
    assert count(session, Gift) == 1 and count(session, OutboxMessage) == 1
    assert raised(session, campaign) == 2500


def test_checkout_and_payment_intent_events_for_one_payment_make_one_gift(deliver, session, campaign):
    pi = s.payment_intent(5000, metadata=meta(campaign))
    deliver(s.event("payment_intent.succeeded", pi))
    deliver(s.event("checkout.session.completed", s.checkout_session(5000, metadata=meta(campaign), pi_id=pi["id"])))
    assert count(session, Gift) == 1 and raised(session, campaign) == 5000


def test_unknown_event_types_are_acknowledged_and_ignored(deliver, session):
    response = deliver(s.event("customer.created", {"id": s.new_id("cus"), "object": "customer"}))
    assert response.status_code == 200 and count(session, Gift) == 0
    assert session.scalar(select(StripeEvent.outcome)).startswith("ignored")


# A payment with no metadata at all is placed after asking Stripe (test_current_api.py).
@pytest.mark.parametrize("metadata", [{"campaign_id": "999999"}, {"campaign_id": "not-a-number"}])
def test_payment_without_a_known_campaign_is_kept_unattributed(deliver, session, campaign, metadata):
    deliver(s.event("payment_intent.succeeded", s.payment_intent(4200, metadata=metadata)))
    gift = session.scalar(select(Gift))
    assert gift is not None and gift.campaign_id is None and gift.amount_cents == 4200
    assert raised(session, campaign) == 0
    assert ledger.current_campaign_id(session, gift) is None


def test_donor_is_matched_by_normalised_email_and_renamed(deliver, session, campaign):
    deliver(s.event("payment_intent.succeeded", s.payment_intent(1000, metadata=meta(campaign), email="Pat@Example.org")))
    deliver(s.event("payment_intent.succeeded", s.payment_intent(
        1000, metadata=meta(campaign, donor_name="Pat Q. Public"), email=" pat@example.org ")))
    gifts = session.scalars(select(Gift)).all()
    assert len({g.donor_id for g in gifts}) == 1
    assert gifts[0].donor.name == "Pat Q. Public"
    session.expire_all()
    assert session.get(CampaignTotals, campaign.id).donor_count == 1


def test_full_and_partial_refunds(deliver, session, campaign):
    pi = s.payment_intent(10000, metadata=meta(campaign))
    deliver(s.event("payment_intent.succeeded", pi))
    deliver(s.event("charge.refunded", s.charge(pi, amount_refunded=2500)))
    assert raised(session, campaign) == 7500
    deliver(s.event("charge.refunded", s.charge(pi, amount_refunded=2500)))  # same total again
    assert raised(session, campaign) == 7500
    deliver(s.event("charge.refunded", s.charge(pi, amount_refunded=10000)))
    assert raised(session, campaign) == 0
    refunds = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.REFUND)).all()
    assert [r.amount_cents for r in refunds] == [-2500, -7500]
    assert ledger.verify_totals(session) == []


def test_refund_that_arrives_before_its_payment_ends_with_the_right_total(deliver, session, campaign):
    pi = s.payment_intent(6000, metadata=meta(campaign))
    refund = s.event("charge.refunded", s.charge(pi, amount_refunded=6000))
    assert deliver(refund).status_code == 200
    assert count(session, Gift) == 0
    assert session.get(StripeEvent, refund["id"]).waiting_for == pi["id"]
    deliver(s.event("payment_intent.succeeded", pi))
    assert count(session, Gift) == 1 and raised(session, campaign) == 0
    session.expire_all()
    assert session.get(CampaignTotals, campaign.id).gift_count == 0
    assert session.scalar(select(func.count()).where(StripeEvent.waiting_for.is_not(None))) == 0


def test_lost_dispute_reverses_and_won_dispute_restores(deliver, session, campaign):
    lost_pi, won_pi = s.payment_intent(3000, metadata=meta(campaign)), s.payment_intent(4000, metadata=meta(campaign))
    for pi in (lost_pi, won_pi):
        deliver(s.event("payment_intent.succeeded", pi))
    lost, won = s.dispute(lost_pi), s.dispute(won_pi)
    deliver(s.event("charge.dispute.created", lost))
    deliver(s.event("charge.dispute.created", won))
    assert raised(session, campaign) == 0
    deliver(s.event("charge.dispute.closed", {**lost, "status": "lost"}))
    deliver(s.event("charge.dispute.closed", {**won, "status": "won"}))
    assert raised(session, campaign) == 4000
    assert ledger.verify_totals(session) == []


def test_dispute_closed_before_created_still_ends_right(deliver, session, campaign):
    pi = s.payment_intent(4000, metadata=meta(campaign))
    deliver(s.event("payment_intent.succeeded", pi))
    dp = s.dispute(pi)
    deliver(s.event("charge.dispute.closed", {**dp, "status": "won"}))
    deliver(s.event("charge.dispute.created", dp))
    assert raised(session, campaign) == 4000


def test_dispute_before_payment_waits_for_it(deliver, session, campaign):
    pi = s.payment_intent(4000, metadata=meta(campaign))
    deliver(s.event("charge.dispute.created", s.dispute(pi)))
    deliver(s.event("payment_intent.succeeded", pi))
    assert raised(session, campaign) == 0


def test_each_instalment_is_one_gift_although_stripe_sends_two_events(deliver, session, campaign):
    sub_id = s.new_id("sub")
    metadata = meta(campaign, frequency="monthly", donor_name="Morgan Monthly")
    for month in range(2):
        inv = s.invoice(1500, subscription=sub_id, metadata=metadata)
        deliver(s.event("invoice.paid", inv))
        deliver(s.event("invoice.payment_succeeded", inv))
    # The instalment's PaymentIntent carries no campaign: it must not be counted a second time.
    deliver(s.event("payment_intent.succeeded", s.payment_intent(1500, description="Subscription creation")))
    gifts = session.scalars(select(Gift)).all()
    assert len(gifts) == 2 and raised(session, campaign) == 3000
    plan = session.scalar(select(RecurringPlan))
    assert plan.status == PlanStatus.ACTIVE and plan.campaign_id == campaign.id
    assert {g.recurring_plan_id for g in gifts} == {plan.id}
    receipt = session.scalar(select(OutboxMessage).order_by(OutboxMessage.id))
    assert "monthly gift of $15.00" in receipt.body_text and "/giving/manage/" in receipt.body_text


def test_subscription_status_follows_events_but_never_goes_back_in_time(deliver, session, campaign):
    sub_id = s.new_id("sub")
    deliver(s.event("invoice.paid", s.invoice(1500, subscription=sub_id, metadata=meta(campaign, frequency="monthly"))))
    now = int(time.time())
    deliver(s.event("customer.subscription.deleted", s.subscription(sub_id, status="canceled"), created=now))
    deliver(s.event("customer.subscription.updated", s.subscription(sub_id, status="active"), created=now - 60))
    plan = session.scalar(select(RecurringPlan))
    session.refresh(plan)
    assert plan.status == PlanStatus.CANCELED and plan.canceled_at is not None


def test_checkout_bank_debit_is_recorded_only_when_it_succeeds(deliver, session, campaign):
    pi_id = s.new_id("pi")
    pending = s.checkout_session(8000, metadata=meta(campaign), pi_id=pi_id, payment_status="unpaid")
    deliver(s.event("checkout.session.completed", pending))
    assert count(session, Gift) == 0
    deliver(s.event("checkout.session.async_payment_succeeded", {**pending, "payment_status": "paid"}))
    assert count(session, Gift) == 1 and raised(session, campaign) == 8000


def test_checkout_bank_debit_failure_records_nothing(deliver, session, campaign):
    pending = s.checkout_session(8000, metadata=meta(campaign), pi_id=s.new_id("pi"), payment_status="unpaid")
    deliver(s.event("checkout.session.completed", pending))
    deliver(s.event("checkout.session.async_payment_failed", pending))
    assert count(session, Gift) == 0 and raised(session, campaign) == 0


def test_database_outage_while_storing_answers_503_and_the_retry_records_once(app, deliver, session, campaign):
    evt = s.event("payment_intent.succeeded", s.payment_intent(2500, metadata=meta(campaign)))
    with stripe_events_unavailable(app):
        assert deliver(evt).status_code == 503
    assert count(session, StripeEvent) == 0 and count(session, Gift) == 0
    assert deliver(evt).status_code == 200  # Stripe's retry
    assert deliver(evt).status_code == 200
    assert count(session, Gift) == 1 and raised(session, campaign) == 2500


def test_database_outage_while_applying_keeps_the_event_and_retries_it_once(app, deliver, session, campaign, monkeypatch):
    from sqlalchemy.exc import OperationalError

    evt = s.event("payment_intent.succeeded", s.payment_intent(2500, metadata=meta(campaign)))

    def database_gone(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(webhooks.ledger, "record_gift_batch", database_gone)
    monkeypatch.setattr(webhooks.ledger, "record_gift", database_gone)  # the one-by-one retry
    assert deliver(evt).status_code == 200  # stored: Stripe need not retry
    session.expire_all()
    row = session.get(StripeEvent, evt["id"])
    assert row.processed_at is None and row.attempts == 1 and row.last_error == "database error"
    assert count(session, Gift) == 0
    monkeypatch.undo()
    with app.app_context():
        assert webhooks.process_pending().processed == 0  # backing off: not due yet
        db = new_session(write=True)
        db.get(StripeEvent, evt["id"]).next_attempt_at = utcnow()
        db.commit()
        db.close()
        assert webhooks.process_pending().processed == 1
        assert webhooks.process_pending().processed == 0
    assert count(session, Gift) == 1 and raised(session, campaign) == 2500


def test_an_event_that_cannot_be_applied_is_kept_and_the_rest_go_on(app, deliver, session, campaign, monkeypatch):
    broken = s.event("payment_intent.succeeded", {**s.payment_intent(900, metadata=meta(campaign)), "currency": None})
    fine = s.event("payment_intent.succeeded", s.payment_intent(1200, metadata=meta(campaign)))
    assert deliver(broken).status_code == 200 and deliver(fine).status_code == 200
    session.expire_all()
    row = session.get(StripeEvent, broken["id"])
    assert row.processed_at is None and row.attempts == 1 and row.last_error
    assert raised(session, campaign) == 1200
    with app.app_context():
        for _ in range(3):
            db = new_session(write=True)
            db.get(StripeEvent, broken["id"]).next_attempt_at = utcnow()
            db.commit()
            db.close()
            webhooks.process_pending()
        db = new_session()
        assert [e.id for e in webhooks.stuck_events(db)] == [broken["id"]]
        db.close()


def test_same_event_from_several_workers_at_once_records_one_gift(app, campaign):
    """Threads deliver one event simultaneously through the real endpoint, on SQLite and PostgreSQL."""
    evt = s.event("payment_intent.succeeded", s.payment_intent(3300, metadata=meta(campaign)))
    payload = s.body(evt)
    workers = 6
    barrier = Barrier(workers)
    statuses: list[int] = []

    def send():
        client = app.test_client()
        barrier.wait()
        response = client.post("/stripe/webhook", data=payload, content_type="application/json",
                               headers={"Stripe-Signature": s.sign(payload, WEBHOOK_SECRET)})
        statuses.append(response.status_code)

    threads = [Thread(target=send) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * workers

    def apply():
        with app.app_context():
            webhooks.process_pending()

    processors = [Thread(target=apply) for _ in range(3)]
    for t in processors:
        t.start()
    for t in processors:
        t.join()
    with app.app_context():
        db = new_session()
        assert db.scalar(select(func.count()).select_from(Gift)) == 1
        assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        assert db.get(CampaignTotals, campaign.id).raised_cents == 3300
        db.close()


@pytest.mark.parametrize("bad_amount", ["abc", 10**30], ids=["not-a-number", "overflows-the-column"])
def test_an_event_that_fails_on_its_own_data_holds_back_none_after_it(app, client, session, campaign, bad_amount):
    """Issue 18: the broken event is kept with its error for a later try (and a person), and the
    payments that arrived after it are recorded in the same round."""
    from tests.payments.stripe_shapes import body, sign

    broken = s.payment_intent(2500, metadata=meta(campaign))
    broken["amount"] = broken["amount_received"] = bad_amount
    events = [s.event("payment_intent.succeeded", broken, created=int(time.time()) - 60)]
    events += [s.event("payment_intent.succeeded", s.payment_intent(1000 + n, metadata=meta(campaign))) for n in range(2)]
    for evt in events:
        payload = body(evt)
        response = client.post("/stripe/webhook", data=payload, content_type="application/json",
                               headers={"Stripe-Signature": sign(payload, WEBHOOK_SECRET)})
        assert response.status_code == 200
    with app.app_context():
        webhooks.process_pending()
    session.expire_all()
    assert raised(session, campaign) == 1000 + 1001
    kept = session.get(StripeEvent, events[0]["id"])
    assert kept.processed_at is None and kept.attempts == 1 and kept.last_error
