"""Property: any sequence of gifts, corrections, voids, refunds, disputes and moves leaves every
campaign's stored totals equal to a recomputation from the ledger."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from fundraiser import ledger
from fundraiser.db import new_session
from fundraiser.ledger import LedgerError
from fundraiser.models import CampaignTotals, LedgerEntry
from tests.conftest import _wipe
from tests.factories import give, make_campaign, make_donor

operation = st.one_of(
    st.tuples(st.just("gift"), st.integers(0, 2), st.integers(0, 3), st.integers(1, 50_000)),
    st.tuples(st.just("refund"), st.integers(0, 30), st.integers(1, 50_000)),
    st.tuples(st.just("void"), st.integers(0, 30)),
    st.tuples(st.just("correct"), st.integers(0, 30), st.integers(1, 80_000)),
    st.tuples(st.just("dispute"), st.integers(0, 30)),
    st.tuples(st.just("win"), st.integers(0, 30)),
    st.tuples(st.just("move"), st.integers(0, 30), st.integers(0, 2)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_totals_always_equal_the_ledger(app, ops):
    with app.app_context():
        session = new_session(write=True)
        try:
            campaigns = [make_campaign(session) for _ in range(3)]
            donors = [make_donor(session) for _ in range(3)] + [None]
            gifts = []
            disputed: list = []
            for op in ops:
                try:
                    if op[0] == "gift":
                        gifts.append(give(session, campaigns[op[1]], op[3], donor=donors[op[2]]))
                    elif not gifts:
                        continue
                    elif op[0] == "refund":
                        ledger.refund_gift(session, gifts[op[1] % len(gifts)], op[2])
                    elif op[0] == "void":
                        ledger.void_gift(session, gifts[op[1] % len(gifts)], reason="test")
                    elif op[0] == "correct":
                        ledger.correct_amount(session, gifts[op[1] % len(gifts)], op[2], reason="test")
                    elif op[0] == "dispute":
                        gift = gifts[op[1] % len(gifts)]
                        amount = ledger.gift_net(session, gift)
                        ledger.record_dispute(session, gift, amount)
                        disputed.append((gift, amount))
                    elif op[0] == "win" and disputed:
                        gift, amount = disputed.pop(op[1] % len(disputed))
                        ledger.record_dispute_won(session, gift, amount)
                    elif op[0] == "move":
                        ledger.assign_campaign(session, gifts[op[1] % len(gifts)], campaigns[op[2]])
                except LedgerError:
                    pass  # refused operations must leave totals untouched, which the check below proves
            session.flush()
            assert ledger.verify_totals(session) == []
            ledger_sum = session.scalar(
                select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(LedgerEntry.campaign_id.is_not(None))
            )
            assert sum(t.raised_cents for t in session.scalars(select(CampaignTotals))) == ledger_sum
            session.commit()
        finally:
            session.close()
            _wipe(app)
