"""Disputes follow the money: a withdrawal takes the gift back, a reinstatement returns it, an
inquiry moves nothing, and the dispute fee is a cost of the gift, not less raised."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fundraiser import ledger
from fundraiser.models import EntryKind, Gift, GiftCost, LedgerEntry, StripeDispute
from fundraiser.rollups import compute_rollups, differences
from tests.factories import make_campaign
from tests.functional.staff_helpers import sign_in_as
from tests.payments import stripe_shapes as s
from tests.payments.test_webhooks import meta, raised


@pytest.fixture
def campaign(session):
    c = make_campaign(session)
    session.commit()
    return c


@pytest.fixture
def paid(deliver, session, campaign):
    """A $40.00 online gift, recorded; returns its PaymentIntent."""
    pi = s.payment_intent(4000, metadata=meta(campaign))
    deliver(s.event("payment_intent.succeeded", pi))
    return pi


def entries(session) -> list[tuple[str, int]]:
    session.rollback()
    return [(e.kind.value, e.amount_cents) for e in session.scalars(select(LedgerEntry).order_by(LedgerEntry.id))]


def costs(session) -> list[tuple[str, int, str]]:
    return [(c.kind.value, c.amount_cents, c.currency) for c in session.scalars(select(GiftCost).order_by(GiftCost.id))]


def all_in_order(session) -> None:
    assert ledger.verify_totals(session) == []
    assert differences(session, compute_rollups(session)) == []


def test_dispute_withdrawn_then_reinstated_when_won(deliver, session, campaign, paid):
    dp = s.dispute(paid)
    taken = s.dispute_withdrawal(dp, fee=1500)
    deliver(s.event("charge.dispute.created", {**dp, "balance_transactions": [taken]}))
    deliver(s.event("charge.dispute.funds_withdrawn", {**dp, "balance_transactions": [taken]}))
    assert raised(session, campaign) == 0
    returned = s.dispute_reinstatement(dp)
    both = [taken, returned]
    deliver(s.event("charge.dispute.funds_reinstated", {**dp, "status": "won", "balance_transactions": both}))
    deliver(s.event("charge.dispute.closed", {**dp, "status": "won", "balance_transactions": both}))
    assert raised(session, campaign) == 4000
    assert entries(session) == [("gift", 4000), ("dispute", -4000), ("dispute_won", 4000)]
    keys = [e.source_key for e in session.scalars(select(LedgerEntry).where(LedgerEntry.kind != EntryKind.GIFT))]
    assert keys == [f"stripe:{taken['id']}", f"stripe:{returned['id']}"]
    # The US dispute fee stays charged when the dispute is won: a cost, not less raised.
    assert costs(session) == [("dispute_fee", 1500, "USD")]
    assert session.scalar(select(StripeDispute)).status == "won"
    all_in_order(session)


def test_dispute_withdrawn_and_lost(deliver, session, campaign, paid):
    dp = s.dispute(paid)
    taken = s.dispute_withdrawal(dp)
    deliver(s.event("charge.dispute.funds_withdrawn", {**dp, "balance_transactions": [taken]}))
    deliver(s.event("charge.dispute.updated", {**dp, "status": "under_review", "balance_transactions": [taken]}))
    deliver(s.event("charge.dispute.closed", {**dp, "status": "lost", "balance_transactions": [taken]}))
    assert raised(session, campaign) == 0
    assert entries(session) == [("gift", 4000), ("dispute", -4000)]
    assert costs(session) == [("dispute_fee", 1500, "USD")]
    all_in_order(session)


def test_inquiry_opened_and_closed_changes_nothing_but_staff_see_it(app, deliver, session, campaign, paid):
    dp = s.dispute(paid, status="warning_needs_response")
    deliver(s.event("charge.dispute.created", dp))
    gift = session.scalar(select(Gift))
    staff = sign_in_as(app, session, "staff")
    page = staff.get(f"/staff/gifts/{gift.id}").get_data(as_text=True)
    assert "Inquiry open" in page and 'data-dispute="warning_needs_response"' in page
    deliver(s.event("charge.dispute.updated", {**dp, "status": "warning_under_review"}))
    deliver(s.event("charge.dispute.closed", {**dp, "status": "warning_closed"}))
    assert raised(session, campaign) == 4000
    assert entries(session) == [("gift", 4000)] and costs(session) == []
    assert "Inquiry closed (no money was taken)" in staff.get(f"/staff/gifts/{gift.id}").get_data(as_text=True)
    all_in_order(session)


def test_inquiry_that_escalates_takes_the_money_then(deliver, session, campaign, paid):
    dp = s.dispute(paid, status="warning_under_review")
    deliver(s.event("charge.dispute.created", dp))
    assert raised(session, campaign) == 4000
    taken = s.dispute_withdrawal(dp)
    deliver(s.event("charge.dispute.updated", {**dp, "status": "needs_response", "balance_transactions": [taken]}))
    assert raised(session, campaign) == 0
    assert session.scalar(select(StripeDispute)).is_inquiry is False


def test_dispute_fee_is_a_cost_on_the_gift_page_and_in_the_export(app, deliver, session, campaign, paid):
    dp = s.dispute(paid)
    deliver(s.event("charge.dispute.funds_withdrawn", {**dp, "balance_transactions": [s.dispute_withdrawal(dp)]}))
    gift = session.scalar(select(Gift))
    staff = sign_in_as(app, session, "staff")
    page = staff.get(f"/staff/gifts/{gift.id}").get_data(as_text=True)
    assert "Dispute fee" in page and "$15.00" in page and "Dispute open" in page
    text = staff.get("/staff/gifts.csv").get_data(as_text=True)
    header, row = (line.split(",") for line in text.lstrip("\ufeff").strip().splitlines())
    values = dict(zip(header, row, strict=True))
    assert values["amount"] == "40.00" and values["counts_toward_totals"] == "0.00"
    assert (values["dispute_fees"], values["dispute_fees_currency"]) == ("15.00", "USD")


def test_reinstatement_before_withdrawal_and_repeats_end_the_same(deliver, session, campaign, paid):
    dp = s.dispute(paid)
    taken, returned = s.dispute_withdrawal(dp), s.dispute_reinstatement(dp, fee=-1500)
    won = s.event("charge.dispute.funds_reinstated", {**dp, "status": "won", "balance_transactions": [taken, returned]})
    deliver(won)
    deliver(won)
    deliver(s.event("charge.dispute.created", {**dp, "balance_transactions": [taken]}))
    assert raised(session, campaign) == 4000
    assert entries(session) == [("gift", 4000), ("dispute", -4000), ("dispute_won", 4000)]
    # Where Stripe gives the dispute fee back, the returned fee is a negative cost: net nothing.
    assert costs(session) == [("dispute_fee", 1500, "USD"), ("dispute_fee", -1500, "USD")]
    assert session.scalar(select(StripeDispute)).status == "won"  # the late "created" did not reopen it
    all_in_order(session)


def test_dispute_on_a_payment_not_yet_recorded_waits_for_it(deliver, session, campaign):
    pi = s.payment_intent(4000, metadata=meta(campaign))
    dp = s.dispute(pi)
    deliver(s.event("charge.dispute.funds_withdrawn", {**dp, "balance_transactions": [s.dispute_withdrawal(dp)]}))
    assert entries(session) == []
    deliver(s.event("payment_intent.succeeded", pi))
    assert raised(session, campaign) == 0
    assert costs(session) == [("dispute_fee", 1500, "USD")]
    all_in_order(session)


def test_dispute_without_balance_transactions_goes_by_its_status(deliver, session, campaign, paid):
    """Older API versions send no balance_transactions on the event: the status still tells."""
    dp = s.dispute(paid)
    deliver(s.event("charge.dispute.created", dp))
    assert raised(session, campaign) == 0
    deliver(s.event("charge.dispute.funds_withdrawn", {**dp, "balance_transactions": [s.dispute_withdrawal(dp)]}))
    assert entries(session) == [("gift", 4000), ("dispute", -4000)]  # one withdrawal per dispute
    assert [c[1] for c in costs(session)] == [1500]
