"""Payouts reconcile to the cent: the lines Stripe lists for a deposit (gifts, a refund, a dispute,
Stripe's own fees) are linked to our gifts and ledger entries and add up to what reached the bank.

Stripe's API is a small stand-in over real HTTP (tests/payments/stripe_standin.py): localstripe
does not list balance transactions by payout.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fundraiser import ledger
from fundraiser.models import EntryKind, Gift, LedgerEntry, Payout, PayoutLine
from fundraiser.payments import payouts
from fundraiser.payments.fees import fill_fees
from fundraiser.rollups import compute_rollups, differences
from tests.factories import make_campaign
from tests.payments import stripe_shapes as s
from tests.payments.conftest import make_stripe_app
from tests.payments.test_webhooks import meta, raised


@pytest.fixture
def app(make_app, standin):
    standin.page_size = 4  # a payout's lines come over several pages
    return make_stripe_app(make_app, STRIPE_API_BASE=standin.url)


@pytest.fixture
def campaign(session):
    c = make_campaign(session)
    session.commit()
    return c


def charged(standin, pi: dict, fee: int, **txn) -> dict:
    """The charge behind a PaymentIntent, known to the stand-in with its balance transaction."""
    charge = s.charge(pi)
    bt = s.balance_transaction(pi["amount"], fee=fee, source=charge["id"], **txn)
    charge["balance_transaction"] = bt["id"]
    standin.add(charge, bt)
    return bt


def test_payout_with_gifts_refund_dispute_and_fees_reconciles_to_the_cent(app, deliver, session, campaign, standin, runner):
    pis = [s.payment_intent(amount, metadata=meta(campaign)) for amount in (10000, 5000, 2500)]
    gift_bts = [charged(standin, pi, fee) for pi, fee in zip(pis, (320, 175, 103), strict=True)]
    for pi in pis:
        deliver(s.event("payment_intent.succeeded", pi))
    # The second gift is refunded in full, the third disputed (and its $15 dispute fee charged).
    refund = s.refund(pis[1], 5000)
    refund_bt = s.balance_transaction(-5000, type_="refund", source=refund["id"], txn_id=refund["balance_transaction"])
    standin.add(refund, refund_bt)
    deliver(s.event("charge.refunded", s.charge(pis[1], amount_refunded=5000)))
    dp = s.dispute(pis[2])
    taken = s.dispute_withdrawal(dp, fee=1500)
    standin.add(dp)
    deliver(s.event("charge.dispute.funds_withdrawn", {**dp, "balance_transactions": [taken]}))
    # Stripe's own charge for something else, which is no gift of ours.
    billing = s.balance_transaction(-200, type_="stripe_fee", description="Billing - Usage Fee (2026-11)")
    lines = [*gift_bts, refund_bt, taken, billing]
    amount = sum(t["net"] for t in lines)
    assert amount == 9680 + 4825 + 2397 - 5000 - 4000 - 200 == 7702
    po = s.payout(amount, reconciliation_status="in_progress")
    standin.add_payout(po, lines)

    deliver(s.event("payout.paid", po))
    with app.app_context():
        assert payouts.fetch_due_lines() == payouts.FetchReport(0, 0)  # not reconciled yet: not asked
    deliver(s.event("payout.reconciliation_completed", {**po, "reconciliation_status": "completed"}))
    with app.app_context():
        assert payouts.fetch_due_lines() == payouts.FetchReport(1, 0)
    lists = [r.query for r in standin.requests if r.path == "/v1/balance_transactions"]
    assert len(lists) == 2 and lists[1]["starting_after"] and lists[0]["payout"] == [po["id"]]  # 7 lines, 4 a page

    session.rollback()
    payout = session.scalar(select(Payout))
    got = session.scalars(select(PayoutLine).order_by(PayoutLine.id)).all()
    assert [line.stripe_balance_transaction_id for line in got] == [t["id"] for t in lines]  # not the payout's own
    assert sum(line.net_cents for line in got) == payout.amount_cents == 7702
    summary = payouts.summary(session, payout)
    assert summary.balanced and summary.line_count == 6
    gifts = session.scalars(select(Gift).order_by(Gift.id)).all()
    entry = {e.kind: e for e in session.scalars(select(LedgerEntry).where(LedgerEntry.kind != EntryKind.GIFT))}
    assert [(line.gift_id, line.ledger_entry_id) for line in got[3:]] == [
        (gifts[1].id, entry[EntryKind.REFUND].id), (gifts[2].id, entry[EntryKind.DISPUTE].id), (None, None),
    ]
    assert [line.gift_id for line in got[:3]] == [g.id for g in gifts]
    # Charge lines filled in each gift's fee, net and settlement currency.
    assert [(g.fee_cents, g.fee_currency, g.settled_net_cents) for g in gifts] == [
        (320, "USD", 9680), (175, "USD", 4825), (103, "USD", 2397),
    ]
    assert gifts[0].stripe_balance_transaction_id == gift_bts[0]["id"]

    # Asked again (a retry, the CLI), nothing is added twice.
    result = runner.invoke(args=["fetch-payouts"])
    assert result.exit_code == 0 and "0 payout(s)" in result.output
    with app.app_context():
        from fundraiser.db import get_session
        assert payouts.store_lines(get_session(), get_session().get(Payout, payout.id), []) == 0
    assert raised(session, campaign) == 10000
    # The books name the campaign a gift counts toward now, also after staff moved it.
    autumn = make_campaign(session, title="Autumn")
    ledger.assign_campaign(session, session.get(Gift, gifts[0].id), autumn)
    session.commit()
    views = payouts.line_views(session, [session.get(Payout, payout.id)])
    assert [v.campaign_title for v in views] == ["Autumn", campaign.title, campaign.title, campaign.title, campaign.title, ""]
    assert [v.kind for v in views] == ["Gift", "Gift", "Gift", "Refund", "Dispute withdrawal", "Stripe fee"]
    assert ledger.verify_totals(session) == [] and differences(session, compute_rollups(session)) == []
    verify = runner.invoke(args=["verify-totals"])
    assert verify.exit_code == 0 and "All campaign totals match the ledger." in verify.output


def test_payout_stripe_cannot_list_is_retried_later_and_nothing_is_stored(app, deliver, session, standin):
    po = s.payout(1000)  # the stand-in does not know it: Stripe answers 404
    deliver(s.event("payout.paid", po))
    with app.app_context():
        assert payouts.fetch_due_lines() == payouts.FetchReport(0, 1)
        assert payouts.fetch_due_lines() == payouts.FetchReport(0, 0)  # backing off
    session.rollback()
    payout = session.scalar(select(Payout))
    assert payout.lines_fetched_at is None and payout.fetch_attempts == 1 and "No such object" in payout.last_error
    assert session.scalar(select(PayoutLine)) is None
    standin.add_payout(po, [s.balance_transaction(1000)])
    with app.app_context():  # a person asks now (the staff button and the CLI skip the back-off)
        assert payouts.fetch_due_lines(now=True) == payouts.FetchReport(1, 0)
    session.rollback()
    assert payouts.summary(session, session.get(Payout, payout.id)).balanced


def test_payout_events_in_any_order_keep_the_latest_status(deliver, session):
    po = s.payout(5000, status="in_transit")
    deliver(s.event("payout.paid", {**po, "status": "paid", "reconciliation_status": "in_progress"}, created=2000))
    deliver(s.event("payout.updated", po, created=1000))
    session.rollback()
    assert session.scalar(select(Payout)).status == "paid"
    deliver(s.event("payout.failed", {**po, "status": "failed"}, created=3000))
    session.rollback()
    assert session.scalar(select(Payout)).status == "failed"


def test_fee_settled_in_another_currency_keeps_its_currency_and_stays_out_of_the_gift_sums(
    app, deliver, session, standin
):
    campaign = make_campaign(session, currency="EUR")
    session.commit()
    pi = s.payment_intent(5000, metadata=meta(campaign), currency="eur")
    # A EUR 50.00 gift settled in USD at 1.08: USD 54.00 gross, USD 1.87 fee.
    bt = s.balance_transaction(5400, fee=187, currency="usd", source=pi["latest_charge"], exchange_rate=1.08)
    charge = {**s.charge(pi), "balance_transaction": bt["id"]}
    standin.add(charge, bt)
    deliver(s.event("payment_intent.succeeded", pi))
    with app.app_context():
        assert fill_fees() == (1, 0)
    session.rollback()
    gift = session.scalar(select(Gift))
    assert (gift.fee_cents, gift.fee_currency, gift.settled_net_cents, gift.exchange_rate) == (187, "USD", 5213, "1.08")
    assert gift.net_cents is None  # a USD fee is not taken from a EUR amount
    assert differences(session, compute_rollups(session)) == []
    from fundraiser.models import MonthlyRollup
    assert sum(r.fee_cents for r in session.scalars(select(MonthlyRollup))) == 0


def test_staff_button_fetches_a_payouts_lines_while_signed_in(app, deliver, session, standin):
    from tests.functional.staff_helpers import sign_in_as

    po = s.payout(2000)
    deliver(s.event("payout.paid", po))  # Stripe not ready yet: the automatic fetch is not run here
    session.rollback()
    payout = session.scalar(select(Payout))
    staff = sign_in_as(app, session, "staff")
    page = staff.get(f"/staff/payouts/{payout.id}").get_data(as_text=True)
    assert "Fetch the lines now" in page
    standin.add_payout(po, [s.balance_transaction(2500, fee=500)])
    response = staff.post(f"/staff/payouts/{payout.id}/fetch", follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "Fetched the payout&#39;s lines from Stripe." in text and "The lines add up to the deposit." in text
    assert staff.post("/staff/payouts/999/fetch").status_code == 404
