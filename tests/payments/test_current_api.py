"""Stripe's current API (2026-10-28.endive): instalments linked through InvoicePayments, payments
nobody can place, failed instalments and refunds, failed payments on the thank-you page, how a
gift was paid, and events that must not touch the ledger.

Where the app asks Stripe something (after the events are applied), a real HTTP stand-in of
Stripe's API answers at STRIPE_API_BASE (localstripe serves no /v1/invoice_payments).
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from fundraiser import ledger, receipts, statements
from fundraiser.db import new_session, utcnow
from fundraiser.ledger import verify_totals
from fundraiser.models import (
    AttemptStatus,
    CampaignTotals,
    DonationAttempt,
    DonationFrequency,
    EntryKind,
    Gift,
    GiftMethod,
    LedgerEntry,
    MonthlyRollup,
    OutboxMessage,
    PlanStatus,
    RecurringPlan,
    StripeEvent,
    User,
)
from fundraiser.payments import webhooks
from fundraiser.payments.stripe import API_VERSION
from fundraiser.rollups import verify_rollups
from tests.factories import make_campaign
from tests.functional.staff_helpers import put_in_session
from tests.netutil import PickyServer, free_port, start_smtp, wait_for
from tests.payments import stripe_shapes as s
from tests.payments.conftest import STRIPE_SETTINGS, make_stripe_app


@pytest.fixture
def app(make_app, standin):
    """Stripe configured against the stand-in; after-commit work run by the tests themselves."""
    return make_stripe_app(make_app, STRIPE_API_BASE=standin.url)


@pytest.fixture
def campaign(session):
    c = make_campaign(session)
    session.commit()
    return c


def meta(campaign, **extra) -> dict:
    return {"campaign_id": str(campaign.id), "frequency": "once", "donor_name": "Dana Donor",
            "show_name": "yes", "show_amount": "no", **extra}


def monthly(campaign) -> dict:
    return meta(campaign, frequency="monthly", donor_name="Morgan Monthly")


def follow_up(app):
    """What the background worker does after each delivery: apply, ask Stripe, fees, emails."""
    with app.app_context():
        return webhooks.apply_and_follow_up()


def fresh(session):
    session.rollback()  # a new snapshot (SQLite keeps a read transaction's view until it ends)
    return session


def raised(session, campaign) -> int:
    return fresh(session).get(CampaignTotals, campaign.id).raised_cents


def gifts(session) -> list[Gift]:
    return fresh(session).scalars(select(Gift).order_by(Gift.id)).all()


def totals_are_clean(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["verify-totals"])
    assert result.exit_code == 0 and "All campaign totals match the ledger." in result.output, result.output
    rollups = runner.invoke(args=["rebuild-rollups", "--check"])
    assert rollups.exit_code == 0, rollups.output


def instalment(standin, inv: dict, pi: dict, *, kind: str = "card", wallet: str | None = None) -> dict:
    """Stripe's side of one paid instalment: its InvoicePayment, PaymentIntent and charge."""
    payment = s.invoice_payment(inv, pi_id=pi["id"])
    standin.invoice_payments.append(payment)
    expanded = s.with_charge(pi, kind=kind, wallet=wallet)
    standin.payment_intents[pi["id"]] = expanded
    standin.charges[expanded["latest_charge"]["id"]] = expanded["latest_charge"]
    return payment


# ------------------------------------------------------------------------- instalments


def test_instalment_linked_by_invoice_payment_then_refunded_reaches_ledger_and_statement(deliver, session, campaign):
    sub_id = s.new_id("sub")
    inv = s.invoice(1500, subscription=sub_id, metadata=monthly(campaign))
    pi = s.payment_intent(1500)
    deliver(s.event("invoice.paid", inv))
    [gift] = gifts(session)
    assert gift.stripe_payment_intent_id is None  # the invoice no longer names its payment
    deliver(s.event("invoice_payment.paid", s.invoice_payment(inv, pi_id=pi["id"])))
    [gift] = gifts(session)
    assert gift.stripe_payment_intent_id == pi["id"]

    deliver(s.event("charge.refunded", s.charge(pi, amount_refunded=1500)))
    assert raised(session, campaign) == 0
    [refund] = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.REFUND)).all()
    assert refund.gift_id == gift.id and refund.amount_cents == -1500
    [line] = statements.summary(session, gift.donor).lines
    assert line.net_cents == 0
    assert statements.year_statement(session, gift.donor, gift.received_at.year, gift.received_at.tzinfo).lines == []


def test_refund_before_the_invoice_payment_waits_and_is_replayed(app, deliver, session, campaign):
    inv = s.invoice(1500, subscription=s.new_id("sub"), metadata=monthly(campaign))
    pi = s.payment_intent(1500)
    deliver(s.event("invoice.paid", inv))
    refund_evt = s.event("charge.refunded", s.charge(pi, amount_refunded=500))
    deliver(refund_evt)
    assert fresh(session).get(StripeEvent, refund_evt["id"]).waiting_for == pi["id"]
    assert raised(session, campaign) == 1500

    deliver(s.event("invoice_payment.paid", s.invoice_payment(inv, pi_id=pi["id"])))
    assert raised(session, campaign) == 1000
    assert fresh(session).get(StripeEvent, refund_evt["id"]).waiting_for is None
    totals_are_clean(app)


def post(client, evt: dict) -> None:
    """Deliver a signed event and leave applying it to the background worker's code (follow_up)."""
    payload = s.body(evt)
    response = client.post("/stripe/webhook", data=payload, content_type="application/json",
                           headers={"Stripe-Signature": s.sign(payload, STRIPE_SETTINGS["STRIPE_WEBHOOK_SECRET"])})
    assert response.status_code == 200


def test_without_invoice_payment_events_the_follow_up_asks_stripe(app, client, deliver, session, campaign, standin):
    """invoice_payment.paid not enabled: the invoice's payments are listed from Stripe after the
    commit; the waiting refund is replayed, the charge, wallet and fee are filled in."""
    inv = s.invoice(1500, subscription=s.new_id("sub"), metadata=monthly(campaign))
    pi = s.payment_intent(1500)
    instalment(standin, inv, pi, wallet="apple_pay")
    standin.fees[pi["latest_charge"]] = 74
    deliver(s.event("charge.refunded", s.charge(pi, amount_refunded=1500, wallet="apple_pay")))
    assert fresh(session).scalar(select(StripeEvent.waiting_for)) == pi["id"]
    post(client, s.event("invoice.paid", inv))
    follow_up(app)  # what the worker does right after the delivery
    [gift] = gifts(session)
    assert (gift.stripe_payment_intent_id, gift.stripe_charge_id) == (pi["id"], pi["latest_charge"])
    assert gift.payment_method_detail == "card:apple_pay" and gift.fee_cents == 74
    assert raised(session, campaign) == 0
    listing = [r for r in standin.requests if r.path == "/v1/invoice_payments"]
    assert listing and listing[0].query["invoice"] == [inv["id"]]
    # Every request pins the API version we are written for.
    assert {r.stripe_version for r in standin.requests} == {API_VERSION} == {"2026-10-28.endive"}
    totals_are_clean(app)


def placed_only_later(app, deliver, session, campaign, standin) -> dict:
    """An instalment whose payment Stripe does not list yet when the invoice is paid, and does
    afterwards (with its fee): what only a later catch-up can learn. Returns the PaymentIntent."""
    inv = s.invoice(1500, subscription=s.new_id("sub"), metadata=monthly(campaign))
    pi = s.payment_intent(1500)
    deliver(s.event("invoice.paid", inv))
    follow_up(app)  # Stripe does not list the payment yet
    assert gifts(session)[0].stripe_payment_intent_id is None
    instalment(standin, inv, pi)
    standin.fees[pi["latest_charge"]] = 74
    return pi


def test_process_webhooks_catches_up_an_instalment_stripe_could_not_place_at_first(app, deliver, session, campaign, standin):
    pi = placed_only_later(app, deliver, session, campaign, standin)
    result = app.test_cli_runner().invoke(args=["process-webhooks"])
    assert result.exit_code == 0, result.output
    assert gifts(session)[0].stripe_payment_intent_id == pi["id"]


def test_the_app_catches_up_by_itself_without_cron(app, client, deliver, session, campaign, standin):
    """The same catch-up with no cron job and no terminal: a running app's housekeeper asks
    Stripe again within minutes (here within its first round, started by a request)."""
    pi = placed_only_later(app, deliver, session, campaign, standin)
    session.close()
    app.config.update(HOUSEKEEPING=True, HOUSEKEEPING_POLL_SECONDS=0.1)
    client.get("/api/health")  # a first request starts the housekeeper, as after a restart
    wait_for(lambda: gifts(session)[0].fee_cents == 74, 10, "the housekeeper's catch-up")
    assert gifts(session)[0].stripe_payment_intent_id == pi["id"]


def test_a_payment_without_our_metadata_goes_to_the_unattributed_queue_once(app, deliver, session, campaign, standin):
    pi = s.payment_intent(4200, metadata={}, description="Payment from the dashboard")
    standin.payment_intents[pi["id"]] = s.with_charge(pi)
    evt = s.event("payment_intent.succeeded", pi)
    deliver(evt)
    assert gifts(session) == []  # not yet: it may be an instalment whose invoice comes later
    follow_up(app)
    [gift] = gifts(session)
    assert gift.campaign_id is None and gift.amount_cents == 4200 and gift.stripe_payment_intent_id == pi["id"]
    deliver(evt)  # Stripe delivers it again
    deliver(s.event("payment_intent.succeeded", pi))  # or a second event about the same payment
    follow_up(app)
    assert len(gifts(session)) == 1 and raised(session, campaign) == 0
    asked = [r for r in standin.requests if r.path == "/v1/invoice_payments"]
    assert asked[0].query["payment[payment_intent]"] == [pi["id"]]


@pytest.mark.parametrize("order", ["intent-first", "invoice-first"])
def test_an_instalment_payment_intent_is_never_a_second_gift(app, deliver, session, campaign, standin, order):
    inv = s.invoice(1500, subscription=s.new_id("sub"), metadata=monthly(campaign))
    pi = s.payment_intent(1500, metadata={}, description="Subscription update")
    instalment(standin, inv, pi)
    paid, succeeded = s.event("invoice.paid", inv), s.event("payment_intent.succeeded", pi)
    for evt in ([succeeded, paid] if order == "intent-first" else [paid, succeeded]):
        deliver(evt)
        follow_up(app)  # the background worker runs after every delivery
    [gift] = gifts(session)
    assert gift.recurring_plan_id is not None and gift.stripe_payment_intent_id == pi["id"]
    assert gift.stripe_charge_id == pi["latest_charge"]
    assert raised(session, campaign) == 1500
    assert session.get(StripeEvent, succeeded["id"]).waiting_for is None
    totals_are_clean(app)


# ------------------------------------------------------------------- monthly plans


@pytest.fixture
def smtp():
    port = free_port()
    controller, inbox = start_smtp(port)
    yield port, inbox
    controller.stop()


def test_failed_instalment_makes_the_plan_past_due_and_emails_an_expiring_link(make_app, standin, smtp, monkeypatch):
    port, mailbox = smtp
    app = make_stripe_app(make_app, STRIPE_API_BASE=standin.url, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
                          SMTP_SECURITY="none", MAIL_FROM="receipts@example.org")
    client = app.test_client()
    with app.app_context():
        db = new_session(write=True)
        campaign = make_campaign(db)
        db.commit()
        metadata = monthly(campaign)
        db.close()

    def deliver(evt):
        payload = s.body(evt)
        response = client.post("/stripe/webhook", data=payload, content_type="application/json",
                               headers={"Stripe-Signature": s.sign(payload, STRIPE_SETTINGS["STRIPE_WEBHOOK_SECRET"])})
        assert response.status_code == 200
        follow_up(app)

    sub_id = s.new_id("sub")
    deliver(s.event("invoice.paid", s.invoice(1500, subscription=sub_id, metadata=metadata)))
    failed = s.invoice(1500, subscription=sub_id, metadata=metadata, paid=False)
    deliver(s.event("invoice.payment_failed", failed))
    deliver(s.event("invoice.payment_failed", {**failed, "attempt_count": 2}))  # Stripe's retry: one email

    with app.app_context():
        db = new_session()
        plan = db.scalar(select(RecurringPlan))
        assert plan.status == PlanStatus.PAST_DUE and plan.last_payment_failed_at is not None
        assert db.scalar(select(func.count()).where(OutboxMessage.kind == "payment-failed")) == 1
        staff = User(email="staff@example.org", role="staff", password_hash="x")
        db.add(staff)
        db.commit()
        staff_id = staff.id
        donor_page = f"/staff/donors/{plan.donor_id}"
        customer = plan.stripe_customer_id
        db.close()

    notice = wait_for(lambda: [m for m in mailbox.messages if "didn't go through" in m["Subject"]], 10, "the email")[0]
    assert notice["To"] == "monthly@example.org"
    text = notice.get_content()
    assert "nothing was charged" in text and "within 5 days" in text
    path = urlsplit(re.search(r"https?://\S+/giving/manage/\S+", text).group(0)).path

    opened = client.get(path)
    assert opened.status_code == 303 and opened.location == f"https://billing.stripe.com/p/session/{customer}"
    portal = [r for r in standin.requests if r.path == "/v1/billing_portal/sessions"]
    assert portal[-1].query["customer"] == [customer]

    staff_client = app.test_client()
    with app.app_context():
        db = new_session()
        put_in_session(staff_client, db.get(User, staff_id))
        db.close()
    page = staff_client.get(donor_page).get_data(as_text=True)
    assert "past due" in page and "a payment failed" in page

    # Six days on, the failure email's link has expired: a friendly page offers a fresh one.
    later = utcnow() + timedelta(days=6)
    monkeypatch.setattr(receipts, "utcnow", lambda: later)
    expired = client.get(path)
    body = expired.get_data(as_text=True)
    assert expired.status_code == 410 and "This link has expired" in body and "Email me a new link" in body
    for _ in range(receipts.MANAGE_LINKS_PER_HOUR):
        assert client.post(path + "/new-link").status_code == 200
    assert client.post(path + "/new-link").status_code == 429  # a few an hour, no more
    with app.app_context():
        db = new_session()
        sent_to = db.scalars(select(OutboxMessage.to_email).where(OutboxMessage.kind == "manage-link")).all()
        db.close()
    assert sent_to == ["monthly@example.org"] * receipts.MANAGE_LINKS_PER_HOUR


def test_an_instalment_the_bank_wants_confirmed_sends_the_invoice_page_and_a_card_link(deliver, session, campaign):
    sub_id = s.new_id("sub")
    deliver(s.event("invoice.paid", s.invoice(1500, subscription=sub_id, metadata=monthly(campaign))))
    open_invoice = s.invoice(1500, subscription=sub_id, metadata=monthly(campaign), paid=False)
    deliver(s.event("invoice.payment_action_required", open_invoice))
    notice = fresh(session).scalar(select(OutboxMessage).where(OutboxMessage.kind == "payment-failed"))
    assert "asked you to confirm" in notice.body_text and open_invoice["hosted_invoice_url"] in notice.body_text
    assert "/giving/manage/" in notice.body_text
    assert session.scalar(select(RecurringPlan.status)) == PlanStatus.PAST_DUE


def test_a_failed_first_payment_is_said_on_the_thank_you_page_not_emailed(client, deliver, session, campaign):
    """The donor is on the page when a new monthly gift's first payment fails (or its bank debit, days on)."""
    sub_id = s.new_id("sub")
    attempt = _attempt(session, campaign)
    attempt.frequency, attempt.stripe_subscription_id = DonationFrequency.MONTHLY, sub_id
    session.commit()
    deliver(s.event("checkout.session.completed", s.checkout_session(
        1500, metadata=monthly(campaign), mode="subscription", subscription=sub_id)))
    deliver(s.event("invoice.payment_failed", s.invoice(
        1500, subscription=sub_id, metadata=monthly(campaign), paid=False, billing_reason="subscription_create")))
    assert fresh(session).scalar(select(func.count()).select_from(OutboxMessage)) == 0
    fresh(session)  # the test client shares this session
    assert client.get(f"/api/donations/{attempt.public_id}").get_json()["status"] == "failed"


def test_a_link_that_is_not_ours_offers_to_email_a_new_one(client, session, campaign):
    page = client.get("/giving/manage/not-a-real-token")
    assert page.status_code == 404 and "Email me a link" in page.get_data(as_text=True)
    answer = client.post("/giving/manage/new-link", data={"email": "nobody@example.org"})
    assert answer.status_code == 200 and "on its way" in answer.get_data(as_text=True)
    assert client.post("/giving/manage/new-link", data={"email": "not an address"}).status_code == 400
    assert fresh(session).scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_receipt_links_work_for_thirty_days(app, deliver, session, campaign, monkeypatch):
    deliver(s.event("invoice.paid", s.invoice(1500, subscription=s.new_id("sub"), metadata=monthly(campaign))))
    receipt = fresh(session).scalar(select(OutboxMessage).where(OutboxMessage.kind == "receipt"))
    token = re.search(r"/giving/manage/(\S+)", receipt.body_text).group(1)
    with app.app_context():
        settings = app.extensions["fundraiser.settings"]
        assert receipts.read_manage_token(settings, token).expired is False
        monkeypatch.setattr(receipts, "utcnow", lambda: utcnow() + timedelta(days=29))
        assert receipts.read_manage_token(settings, token).expired is False
        monkeypatch.setattr(receipts, "utcnow", lambda: utcnow() + timedelta(days=31))
        assert receipts.read_manage_token(settings, token).expired is True
        assert receipts.read_manage_token(settings, token[:-2] + "xx") is None


def test_amount_changed_in_the_billing_portal_updates_the_plan_and_later_receipts(deliver, session, campaign):
    sub_id = s.new_id("sub")
    deliver(s.event("invoice.paid", s.invoice(1500, subscription=sub_id, metadata=monthly(campaign))))
    deliver(s.event("customer.subscription.updated", s.subscription(sub_id, unit_amount=1000, quantity=3)))
    plan = fresh(session).scalar(select(RecurringPlan))
    assert plan.amount_cents == 3000 and plan.status == PlanStatus.ACTIVE
    deliver(s.event("invoice.paid", s.invoice(3000, subscription=sub_id, metadata=monthly(campaign))))
    latest = fresh(session).scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert "monthly gift of $30.00" in latest.body_text


def test_a_trialing_subscription_is_not_cancelled(deliver, session, campaign):
    sub_id = s.new_id("sub")
    deliver(s.event("invoice.paid", s.invoice(1500, subscription=sub_id, metadata=monthly(campaign))))
    deliver(s.event("customer.subscription.updated", s.subscription(sub_id, status="trialing")))
    plan = fresh(session).scalar(select(RecurringPlan))
    assert plan.status == PlanStatus.TRIALING and plan.canceled_at is None


# ---------------------------------------------------------------------------- refunds


@pytest.mark.parametrize("failure_event", ["refund.failed", "charge.refund.updated", "refund.updated"])
def test_a_failed_refund_gives_the_money_back_once(app, deliver, session, campaign, failure_event):
    pi = s.payment_intent(10000, metadata=meta(campaign))
    deliver(s.event("payment_intent.succeeded", pi))
    start = int(time.time()) - 3600
    refunded = s.charge(pi, amount_refunded=4000)
    deliver(s.event("charge.refunded", refunded, created=start))
    assert raised(session, campaign) == 6000

    re_failed = s.refund(pi, 4000, status="failed", failure_reason="lost_or_stolen_card")
    deliver(s.event(failure_event, re_failed, created=start + 60))
    assert raised(session, campaign) == 10000
    [back] = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.REFUND_REVERSED)).all()
    assert back.amount_cents == 4000 and back.reference == re_failed["id"] and "lost_or_stolen_card" in back.reason

    deliver(s.event(failure_event, re_failed, created=start + 90))  # told again: nothing more
    deliver(s.event("charge.refunded", refunded, created=start + 30))  # a late copy of the old total
    assert raised(session, campaign) == 10000

    # A new refund after the failure: Stripe's running total no longer counts the failed one.
    deliver(s.event("charge.refunded", s.charge(pi, amount_refunded=4000), created=start + 120))
    assert raised(session, campaign) == 6000
    gift = gifts(session)[0]
    assert ledger.gift_net(session, gift) == 6000
    [line] = statements.summary(session, gift.donor).lines
    assert line.net_cents == 6000
    month = session.scalars(select(MonthlyRollup).where(MonthlyRollup.campaign_id == campaign.id)).all()
    assert sum(r.refund_cents for r in month) == 4000 and sum(r.raised_cents for r in month) == 6000
    totals_are_clean(app)


def test_a_refund_failure_that_overtakes_its_refund_waits_for_it(app, deliver, session, campaign):
    pi = s.payment_intent(10000, metadata=meta(campaign))
    deliver(s.event("payment_intent.succeeded", pi))
    start = int(time.time()) - 3600
    failure = s.event("refund.failed", s.refund(pi, 4000, status="failed"), created=start + 60)
    deliver(failure)  # Stripe's charge.refunded, sent when the refund was made, is late
    assert fresh(session).get(StripeEvent, failure["id"]).waiting_for == f"refund-of:{pi['latest_charge']}"
    deliver(s.event("charge.refunded", s.charge(pi, amount_refunded=4000), created=start))
    assert raised(session, campaign) == 10000
    assert fresh(session).get(StripeEvent, failure["id"]).waiting_for is None
    totals_are_clean(app)


def test_a_refund_still_pending_changes_nothing(deliver, session, campaign):
    pi = s.payment_intent(5000, metadata=meta(campaign))
    deliver(s.event("payment_intent.succeeded", pi))
    deliver(s.event("refund.updated", s.refund(pi, 5000, status="pending")))
    assert raised(session, campaign) == 5000


# ------------------------------------------------------------- failed payments, thanks


def _attempt(session, campaign) -> DonationAttempt:
    attempt = DonationAttempt(
        public_id=str(uuid.uuid4()), campaign_id=campaign.id, frequency=DonationFrequency.ONCE, amount_cents=2500,
        currency="USD", donor_name="Dana Donor", donor_email="dana@example.org", choices={}, status=AttemptStatus.STARTED,
    )
    session.add(attempt)
    session.commit()
    return attempt


@pytest.mark.parametrize("kind", ["payment_intent.payment_failed", "checkout.session.expired"])
def test_a_payment_that_did_not_go_through_is_said_so_on_the_thank_you_page(client, deliver, session, campaign, kind):
    attempt = _attempt(session, campaign)
    metadata = meta(campaign, donation_attempt=attempt.public_id)
    thanks = f"/campaigns/{campaign.slug}/thanks?d={attempt.public_id}"
    assert client.get(f"/api/donations/{attempt.public_id}").get_json()["status"] == "started"
    if kind == "payment_intent.payment_failed":
        deliver(s.event(kind, s.failed_bank_debit(2500, metadata=metadata)))
    else:
        expired = s.checkout_session(2500, metadata=metadata, payment_status="unpaid")
        deliver(s.event(kind, {**expired, "status": "expired", "url": None}))

    fresh(session)  # the test client's requests share this app context's session
    status = client.get(f"/api/donations/{attempt.public_id}").get_json()
    assert status["status"] == "failed"
    page = client.get(thanks).get_data(as_text=True)
    assert "didn't go through" in page and "nothing was charged" in page
    assert f'href="/campaigns/{campaign.slug}?d={attempt.public_id}#give">Try again</a>' in page
    assert "We're confirming" not in page
    stored = fresh(session).get(DonationAttempt, attempt.id)
    assert stored.failure_code == ("insufficient_funds" if kind.startswith("payment_intent") else "checkout_expired")
    assert stored.failed_at is not None


def test_a_retry_that_succeeds_after_a_decline_is_recorded(client, deliver, session, campaign):
    attempt = _attempt(session, campaign)
    metadata = meta(campaign, donation_attempt=attempt.public_id)
    failed = s.failed_payment_intent(2500, metadata=metadata)
    deliver(s.event("payment_intent.payment_failed", failed))
    # A declined card may be tried again on the same payment: the thank-you page, which the donor
    # reaches only once a retry went through, keeps confirming until that payment's event lands.
    fresh(session)
    assert client.get(f"/api/donations/{attempt.public_id}").get_json()["status"] == "started"
    page = client.get(f"/campaigns/{campaign.slug}/thanks?d={attempt.public_id}").get_data(as_text=True)
    assert "We're confirming" in page and "didn't go through" not in page
    declined = fresh(session).get(DonationAttempt, attempt.id)
    assert declined.failure_code == "insufficient_funds" and declined.failed_at is not None  # the back-off counts it
    deliver(s.event("payment_intent.succeeded", {**s.payment_intent(2500, metadata=metadata, pi_id=failed["id"])}))
    fresh(session)
    assert client.get(f"/api/donations/{attempt.public_id}").get_json()["status"] == "recorded"


# ------------------------------------------------------------------ how it was paid


@pytest.mark.parametrize(("kind", "wallet", "label", "staff_label"), [
    ("card", None, "card", "Card"),
    ("card", "google_pay", "Google Pay", "Card · Google Pay"),
    ("card", "link", "Link", "Card · Link"),
    ("us_bank_account", None, "ACH debit", "Bank transfer · ACH debit"),
    ("sepa_debit", None, "SEPA Direct Debit", "Bank transfer · SEPA Direct Debit"),
])
def test_gifts_and_receipts_say_how_the_donor_paid(app, deliver, session, campaign, kind, wallet, label, staff_label):
    pi = s.with_charge(s.payment_intent(2500, metadata=meta(campaign)), kind=kind, wallet=wallet)
    pi["payment_method_types"] = ["card", "link", "us_bank_account", "sepa_debit"]
    deliver(s.event("payment_intent.succeeded", pi))
    [gift] = gifts(session)
    receipt = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "receipt"))
    assert f"Method: {label}\n" in receipt.body_text
    with app.app_context():
        db = new_session(write=True)
        staff = User(email="staff@example.org", role="staff", password_hash="x")
        db.add(staff)
        db.commit()
        staff_client = app.test_client()
        put_in_session(staff_client, staff)
        db.close()
    fresh(session)
    page = staff_client.get(f"/staff/gifts/{gift.id}").get_data(as_text=True)
    assert f"<dd>{staff_label}" in page.replace("&middot;", "·")


def test_the_label_learned_later_rewrites_a_receipt_not_yet_sent(app, deliver, session, campaign, standin):
    pi = s.payment_intent(2500, metadata=meta(campaign))
    standin.payment_intents[pi["id"]] = s.with_charge(pi, wallet="apple_pay")
    with app.app_context():
        # The receipt waits while the follow-up asks Stripe how it was paid (no mail server runs here).
        deliver(s.event("payment_intent.succeeded", pi))
        from fundraiser.payments.linking import learn_charges

        learn_charges([gifts(session)[0].id])
    receipt = fresh(session).scalar(select(OutboxMessage).where(OutboxMessage.kind == "receipt"))
    assert "Method: Apple Pay" in receipt.body_text


def test_a_bank_debit_offered_beside_cards_is_recorded_as_a_bank_transfer_once_its_charge_is_known(
        app, deliver, session, campaign, standin):
    # Dynamic payment methods: the PaymentIntent offers several, and names its charge by id only.
    pi = {**s.payment_intent(2500, metadata=meta(campaign)), "payment_method_types": ["card", "link", "us_bank_account"]}
    standin.payment_intents[pi["id"]] = s.with_charge(pi, kind="us_bank_account")
    with app.app_context():
        deliver(s.event("payment_intent.succeeded", pi))
        from fundraiser.payments.linking import learn_charges

        learn_charges([gifts(session)[0].id])
    gift = fresh(session).get(Gift, gifts(session)[0].id)
    assert (gift.method, gift.payment_method_detail) == (GiftMethod.BANK, "us_bank_account")
    methods = {row.method: row.raised_cents for row in session.scalars(select(MonthlyRollup).where(
        MonthlyRollup.campaign_id == campaign.id)) if row.raised_cents}
    assert methods == {GiftMethod.BANK: 2500}  # the board's figures by method moved with it
    assert verify_rollups(session) == [] and verify_totals(session) == []


# ------------------------------------------------------------- events not to apply


def test_a_live_event_on_test_keys_is_stored_never_applied_and_reported(app, deliver, session, campaign):
    evt = s.event("payment_intent.succeeded", s.payment_intent(2500, metadata=meta(campaign)), livemode=True)
    assert deliver(evt).status_code == 200
    row = fresh(session).get(StripeEvent, evt["id"])
    assert row.processed_at is not None and row.outcome.startswith("not applied: live-mode event")
    assert gifts(session) == [] and raised(session, campaign) == 0
    result = app.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "1 Stripe event(s) were stored but not applied" in result.output and evt["id"] in result.output


def test_an_event_of_another_account_is_not_applied(deliver, session, campaign):
    deliver(s.event("payment_intent.succeeded", s.payment_intent(2500, metadata=meta(campaign))))
    other = s.event("payment_intent.succeeded", s.payment_intent(9900, metadata=meta(campaign)), account="acct_someone_else")
    deliver(other)
    assert raised(session, campaign) == 2500
    assert "acct_someone_else" in fresh(session).get(StripeEvent, other["id"]).not_applied_reason


def test_events_in_another_api_version_are_reported_by_doctor(app, deliver, session, campaign):
    evt = s.event("payment_intent.succeeded", s.payment_intent(2500, metadata=meta(campaign)), api_version="2024-06-20")
    deliver(evt)
    assert fresh(session).get(StripeEvent, evt["id"]).api_version == "2024-06-20"
    result = app.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "another API version" in result.output and "2024-06-20 (1)" in result.output and API_VERSION in result.output


def test_process_webhooks_exits_zero_past_a_broken_event_and_a_refused_receipt(make_app, standin):
    """Issue 18: one event that can't be applied (its amount is not a number) and one receipt the
    mail server refuses: the command applies and mails the rest, says what waits, exits 0."""
    port = free_port()
    server = PickyServer(refuse={"gone@example.org": "550 5.1.1 No such user"})
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    app = make_stripe_app(make_app, STRIPE_API_BASE=standin.url, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
                          SMTP_SECURITY="none", MAIL_FROM="receipts@example.org")
    with app.app_context():
        db = new_session(write=True)
        campaign = make_campaign(db)
        db.commit()
        metadata = meta(campaign)
        db.close()
    broken = s.payment_intent(2500, metadata=metadata)
    broken["amount"] = broken["amount_received"] = "abc"
    payments = [broken, s.payment_intent(1000, metadata=metadata, email="gone@example.org"),
                s.payment_intent(1200, metadata=metadata, email="ann@example.org")]
    client = app.test_client()
    for pi in payments:
        standin.payment_intents[pi["id"]] = s.with_charge(pi)
        payload = s.body(s.event("payment_intent.succeeded", pi))
        response = client.post("/stripe/webhook", data=payload, content_type="application/json",
                               headers={"Stripe-Signature": s.sign(payload, STRIPE_SETTINGS["STRIPE_WEBHOOK_SECRET"])})
        assert response.status_code == 200
    try:
        result = app.test_cli_runner().invoke(args=["process-webhooks"])
    finally:
        controller.stop()
    assert result.exit_code == 0, result.output
    assert "Applied 2 Stripe event(s); 1 failed and will be retried." in result.output
    assert [m["To"] for m in server.messages] == ["ann@example.org"]
    with app.app_context():
        db = new_session()
        assert sorted(g.amount_cents for g in db.scalars(select(Gift))) == [1000, 1200]
        statuses = {m.to_email: m.status for m in db.scalars(select(OutboxMessage))}
        db.close()
    assert statuses == {"gone@example.org": "failed", "ann@example.org": "sent"}
