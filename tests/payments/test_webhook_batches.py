"""A backlog of Stripe events applied in batches: every gift once, in order, as one by one would."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from fundraiser import ledger
from fundraiser.models import (
    CampaignDonorTotal,
    CampaignTotals,
    Donor,
    Gift,
    IssuedReceipt,
    OutboxMessage,
    StripeEvent,
)
from fundraiser.payments import webhooks
from tests.factories import make_campaign
from tests.payments import stripe_shapes as s
from tests.payments.conftest import WEBHOOK_SECRET


def meta(campaign, **extra) -> dict:
    return {"campaign_id": str(campaign.id), "frequency": "once", "donor_name": "Dana Donor",
            "show_name": "yes", "show_amount": "no", **extra}


def store(client, events: list[dict]) -> None:
    """Deliver events through the endpoint without applying them: a backlog."""
    for evt in events:
        payload = s.body(evt)
        response = client.post("/stripe/webhook", data=payload, content_type="application/json",
                               headers={"Stripe-Signature": s.sign(payload, WEBHOOK_SECRET)})
        assert response.status_code == 200


def test_a_backlog_in_batches_records_every_gift_once_with_its_donor_receipt_and_totals(app, client, session):
    campaign = make_campaign(session)
    session.commit()
    now = int(time.time())
    intents = [s.payment_intent(1000 + n, metadata=meta(campaign, donor_name=f"Donor {n % 7}"), email=f"d{n % 7}@example.org")
               for n in range(30)]
    events = [s.event("payment_intent.succeeded", pi, created=now - 100 + n) for n in range(30) for pi in [intents[n]]]
    # Refunded in full before its payment arrives; the payment comes later in the same backlog.
    events.insert(3, s.event("charge.refunded", s.charge(intents[10], amount_refunded=1010), created=now - 99))
    # The same payment as the first intent, told again by its checkout session.
    checkout = s.checkout_session(1000, metadata=meta(campaign))
    checkout["payment_intent"] = intents[0]["id"]
    events.append(s.event("checkout.session.completed", checkout, created=now - 40))
    # A renamed donor and a dedication notice.
    late = s.payment_intent(5000, metadata=meta(campaign, donor_name="Dana New Name", dedication_kind="honour",
                                                 dedication_name="Ms Lee", dedication_notify_email="lee@example.org"),
                            email="d1@example.org")
    events.append(s.event("payment_intent.succeeded", late, created=now - 30))
    store(client, events)
    store(client, events[:5])  # Stripe's repeats
    with app.app_context():
        report = webhooks.process_pending()
    assert report.processed == len(events) and report.postponed == 0
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Gift)) == 31
    assert session.scalar(select(func.count()).where(StripeEvent.processed_at.is_(None))) == 0
    totals = session.get(CampaignTotals, campaign.id)
    expected = sum(1000 + n for n in range(30)) - 1010 + 5000
    assert totals.raised_cents == expected and totals.gift_count == 30 and totals.donor_count == 7
    assert session.scalar(select(func.count()).select_from(CampaignDonorTotal)) == 7
    assert ledger.verify_totals(session) == []
    # One donor per email, and the latest payment's name wins.
    assert session.scalar(select(func.count()).select_from(Donor)) == 7
    assert session.scalar(select(Donor.name).where(Donor.email == "d1@example.org")) == "Dana New Name"
    gift = session.scalar(select(Gift).where(Gift.stripe_payment_intent_id == late["id"]))
    assert (gift.amount_cents, gift.donor.email, gift.dedication_name, gift.is_anonymous, gift.wall_reviewed) == (
        5000, "d1@example.org", "Ms Lee", False, False)
    assert gift.stripe_charge_id == late["latest_charge"]
    # Every gift with something left gets its first receipt once (the refunded one gets none here).
    receipts = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "receipt")).all()
    assert len(receipts) == 31 and len({r.dedupe_key for r in receipts}) == 31
    mine = next(r for r in receipts if r.gift_id == gift.id)
    assert "$50.00" in mine.subject and "Dana New Name" in mine.body_text and "Ms Lee" in mine.body_text
    assert session.scalar(select(func.count()).select_from(IssuedReceipt)) == 31
    assert session.scalar(select(func.count()).where(OutboxMessage.kind == "dedication")) == 1
    outcomes = set(session.scalars(select(StripeEvent.outcome)))
    assert f"recorded gift {gift.id} to campaign {campaign.slug}" in outcomes


def test_a_bad_event_in_a_batch_is_postponed_and_the_rest_are_applied(app, client, session):
    campaign = make_campaign(session)
    session.commit()
    now = int(time.time())
    events = [s.event("payment_intent.succeeded", s.payment_intent(2000 + n, metadata=meta(campaign)), created=now - 50 + n)
              for n in range(12)]
    broken = s.payment_intent(900, metadata=meta(campaign))
    broken["amount_received"] = "abc"
    events.insert(6, s.event("payment_intent.succeeded", broken, created=now - 45))
    store(client, events)
    with app.app_context():
        report = webhooks.process_pending()
    assert (report.processed, report.postponed) == (12, 1)
    session.expire_all()
    assert session.get(CampaignTotals, campaign.id).raised_cents == sum(2000 + n for n in range(12))
    kept = session.get(StripeEvent, events[6]["id"])
    assert kept.processed_at is None and kept.attempts == 1 and "ValueError" in kept.last_error
    assert ledger.verify_totals(session) == []


def test_keep_me_informed_in_a_backlog_is_recorded_with_the_first_gifts_date(app, client, session):
    campaign = make_campaign(session)
    session.commit()
    now = int(time.time())
    told = [s.payment_intent(2000 + n, metadata=meta(campaign, donor_name="Kim Keen", keep_informed="yes"),
                             email="keen@example.org") for n in range(2)]
    quiet = s.payment_intent(3000, metadata=meta(campaign, donor_name="Quinn Quiet"), email="quiet@example.org")
    store(client, [s.event("payment_intent.succeeded", {**told[0], "created": now - 50}, created=now - 50),
                   s.event("payment_intent.succeeded", quiet, created=now - 40),
                   s.event("payment_intent.succeeded", {**told[1], "created": now - 30}, created=now - 30)])
    with app.app_context():
        assert webhooks.process_pending().processed == 3
    session.expire_all()
    consent = dict(session.execute(select(Donor.email, Donor.newsletter_consent_at)).all())
    assert consent["quiet@example.org"] is None
    assert consent["keen@example.org"] is not None and int(consent["keen@example.org"].timestamp()) == now - 50
