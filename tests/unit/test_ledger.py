"""The ledger's rules: every change is an entry, and totals follow in the same transaction."""

from datetime import UTC, datetime, timedelta
from threading import Barrier, Thread

import pytest
from sqlalchemy import func, select

from fundraiser import ledger
from fundraiser.db import new_session, utcnow
from fundraiser.ledger import LedgerError
from fundraiser.models import CampaignTotals, EntryKind, Gift, LedgerEntry
from tests.factories import give, make_campaign, make_donor


def totals(session, campaign) -> CampaignTotals:
    session.flush()
    return session.get(CampaignTotals, campaign.id)


def test_a_gift_adds_to_raised_gifts_and_donors(session):
    campaign = make_campaign(session)
    donor = make_donor(session)
    give(session, campaign, 5000, donor=donor)
    give(session, campaign, 2500, donor=donor)
    t = totals(session, campaign)
    assert (t.raised_cents, t.gift_count, t.donor_count) == (7500, 2, 1)
    assert ledger.verify_totals(session) == []


def test_gifts_without_a_donor_each_count_as_a_supporter(session):
    campaign = make_campaign(session)
    give(session, campaign, 1000)
    give(session, campaign, 1000)
    assert totals(session, campaign).donor_count == 2


def test_partial_refund_keeps_the_gift_and_full_refund_removes_it(session):
    campaign = make_campaign(session)
    donor = make_donor(session)
    gift = give(session, campaign, 10000, donor=donor)
    ledger.refund_gift(session, gift, 4000, source_key="re_1")
    t = totals(session, campaign)
    assert (t.raised_cents, t.gift_count, t.donor_count) == (6000, 1, 1)
    ledger.refund_gift(session, gift, 6000, source_key="re_2")
    t = totals(session, campaign)
    assert (t.raised_cents, t.gift_count, t.donor_count) == (0, 0, 0)
    kinds = [e.kind for e in session.scalars(select(LedgerEntry).where(LedgerEntry.gift_id == gift.id))]
    assert kinds == [EntryKind.GIFT, EntryKind.REFUND, EntryKind.REFUND]
    assert gift.amount_cents == 10000  # the original is never rewritten


def test_the_same_refund_twice_is_recorded_once(session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 10000)
    first = ledger.refund_gift(session, gift, 3000, source_key="stripe:re_9")
    again = ledger.refund_gift(session, gift, 3000, source_key="stripe:re_9")
    assert first.id == again.id
    assert totals(session, campaign).raised_cents == 7000


def test_refund_larger_than_what_is_left_is_refused(session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 5000)
    with pytest.raises(LedgerError, match=r"Only \$50.00 of this gift is left"):
        ledger.refund_gift(session, gift, 5001)
    assert totals(session, campaign).raised_cents == 5000


def test_void_needs_a_reason_and_happens_once(session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 5000)
    with pytest.raises(LedgerError, match="reason"):
        ledger.void_gift(session, gift, reason="  ")
    ledger.void_gift(session, gift, reason="Entered twice")
    with pytest.raises(LedgerError, match="already void"):
        ledger.void_gift(session, gift, reason="again")
    t = totals(session, campaign)
    assert (t.raised_cents, t.gift_count, t.donor_count) == (0, 0, 0)


def test_correction_records_the_difference(session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 5000)
    entry = ledger.correct_amount(session, gift, 50000, reason="Typed $50 for a $500 check")
    assert entry.amount_cents == 45000 and entry.kind == EntryKind.CORRECTION
    assert totals(session, campaign).raised_cents == 50000
    assert ledger.corrected_amount(session, gift) == 50000
    ledger.correct_amount(session, gift, 40000, reason="Bank cleared $400")
    assert totals(session, campaign).raised_cents == 40000


def test_a_donor_counts_once_until_all_their_gifts_are_gone(session):
    campaign = make_campaign(session)
    donor = make_donor(session)
    first = give(session, campaign, 5000, donor=donor)
    give(session, campaign, 5000, donor=donor)
    ledger.void_gift(session, first, reason="duplicate")
    assert totals(session, campaign).donor_count == 1


def test_unattributed_gift_touches_no_campaign_until_assigned(session):
    campaign = make_campaign(session)
    gift = give(session, None, 7000, channel="online", method="card", source_key="stripe:pi_x")
    assert totals(session, campaign).raised_cents == 0
    ledger.assign_campaign(session, gift, campaign, reason="From a payment link")
    t = totals(session, campaign)
    assert (t.raised_cents, t.gift_count, t.donor_count) == (7000, 1, 1)
    assert ledger.current_campaign_id(session, gift) == campaign.id
    ledger.refund_gift(session, gift, 7000)
    assert totals(session, campaign).raised_cents == 0
    assert ledger.verify_totals(session) == []


def test_moving_a_gift_between_campaigns_moves_its_remaining_amount(session):
    a, b = make_campaign(session), make_campaign(session)
    gift = give(session, a, 10000)
    ledger.refund_gift(session, gift, 2500)
    ledger.assign_campaign(session, gift, b)
    assert totals(session, a).raised_cents == 0
    assert totals(session, b).raised_cents == 7500
    with pytest.raises(LedgerError, match="already credited"):
        ledger.assign_campaign(session, gift, b)


def test_dispute_withdraws_and_a_won_dispute_restores(session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 8000)
    ledger.record_dispute(session, gift, 8000, source_key="stripe:dp_1:created")
    assert totals(session, campaign).raised_cents == 0
    ledger.record_dispute_won(session, gift, 8000, source_key="stripe:dp_1:won")
    ledger.record_dispute_won(session, gift, 8000, source_key="stripe:dp_1:won")
    assert totals(session, campaign).raised_cents == 8000
    assert totals(session, campaign).gift_count == 1


def test_gift_in_another_currency_is_refused(session):
    campaign = make_campaign(session)
    with pytest.raises(LedgerError, match="takes USD"):
        give(session, campaign, 5000, currency="EUR")


def test_zero_decimal_campaign(session):
    campaign = make_campaign(session, currency="JPY", goal_cents=100000)
    give(session, campaign, 3000, currency="JPY")
    assert totals(session, campaign).raised_cents == 3000


def test_same_source_key_returns_the_first_gift(session):
    campaign = make_campaign(session)
    one = give(session, campaign, 5000, source_key="stripe:pi_1")
    two = give(session, campaign, 5000, source_key="stripe:pi_1")
    assert one.id == two.id
    assert totals(session, campaign).gift_count == 1


def test_naive_dates_are_refused(session):
    campaign = make_campaign(session)
    with pytest.raises(LedgerError, match="time zone"):
        give(session, campaign, 5000, received_at=datetime(2026, 1, 1))


def test_last_gift_time_is_the_latest_arrival(session):
    campaign = make_campaign(session)
    later = datetime(2026, 5, 1, 12, tzinfo=UTC)
    give(session, campaign, 100, received_at=later)
    give(session, campaign, 100, received_at=later - timedelta(days=3))
    assert totals(session, campaign).last_gift_at == later


def test_verify_totals_finds_a_tampered_total_and_rebuild_fixes_it(session):
    campaign = make_campaign(session)
    give(session, campaign, 5000, donor=make_donor(session))
    t = totals(session, campaign)
    t.raised_cents += 1
    session.flush()
    differences = ledger.verify_totals(session)
    assert [(d.slug, d.field, d.stored, d.computed) for d in differences] == [
        (campaign.slug, "raised_cents", 5001, 5000)
    ]
    ledger.rebuild_totals(session)
    assert ledger.verify_totals(session) == []


def test_two_workers_recording_the_same_payment_make_one_gift(app):
    """The unique source_key decides the race on SQLite and PostgreSQL alike."""
    with app.app_context():
        s = new_session(write=True)
        campaign = make_campaign(s)
        s.commit()
        campaign_id = campaign.id
        s.close()

    workers = 4
    barrier = Barrier(workers)
    errors: list[BaseException] = []

    def record():
        with app.app_context():
            barrier.wait()
            s = new_session(write=True)
            try:
                c = s.get(type(campaign), campaign_id)
                give(s, c, 4200, source_key="stripe:pi_race", channel="online", method="card")
                s.commit()
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
            finally:
                s.close()

    threads = [Thread(target=record) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.app_context():
        s = new_session()
        assert s.scalar(select(func.count()).select_from(Gift)) == 1
        assert s.get(CampaignTotals, campaign_id).raised_cents == 4200
        assert ledger.verify_totals(s) == []
        s.close()


def test_recent_gift_count_counts_arrivals_only(session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 5000)
    give(session, campaign, 5000, received_at=utcnow() - timedelta(hours=2))
    ledger.refund_gift(session, gift, 1000)
    assert ledger.recent_gift_count(session, campaign.id, utcnow() - timedelta(hours=1)) == 1


def test_a_fee_keeps_the_currency_it_was_charged_in(session):
    """A JPY gift settled in USD: the USD fee is kept as such, never taken from the yen."""
    from fundraiser.models import MonthlyRollup

    campaign = make_campaign(session, currency="JPY")
    gift = give(session, campaign, 500)  # ¥500
    assert ledger.set_fee(session, gift, 64, currency="usd", net_cents=268, exchange_rate="0.00664",
                          balance_transaction_id="txn_jpy")
    assert (gift.fee_currency, gift.settled_net_cents, gift.net_cents) == ("USD", 268, None)
    assert session.scalar(select(func.sum(MonthlyRollup.fee_cents))) in (0, None)
    assert not ledger.set_fee(session, gift, 1, currency="USD")  # a known fee never changes
    same = give(session, campaign, 500)
    with pytest.raises(LedgerError):
        ledger.set_fee(session, same, 501)  # in the gift's own currency it can't exceed the gift
    ledger.set_fee(session, same, 30)
    assert same.net_cents == 470 and session.scalar(select(func.sum(MonthlyRollup.fee_cents))) == 30


def test_a_dispute_fee_is_a_cost_not_less_raised(session):
    from fundraiser.models import CostKind

    campaign = make_campaign(session)
    gift = give(session, campaign, 4000)
    first = ledger.record_cost(session, gift, CostKind.DISPUTE_FEE, 1500, currency="usd", occurred_at=utcnow(),
                               balance_transaction_id="txn_dp")
    again = ledger.record_cost(session, gift, CostKind.DISPUTE_FEE, 1500, currency="usd", occurred_at=utcnow(),
                               balance_transaction_id="txn_dp")
    assert again.id == first.id and first.currency == "USD"
    assert totals(session, campaign).raised_cents == 4000
    assert ledger.verify_totals(session) == []
