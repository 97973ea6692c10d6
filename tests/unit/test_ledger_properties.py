"""Property: any sequence of gifts, corrections, voids, refunds, disputes, moves and late fees
(the same generated ledgers as the rollup tests) leaves every campaign's stored totals equal to a
recomputation from the ledger."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from fundraiser import ledger
from fundraiser.db import new_session
from fundraiser.models import CampaignTotals, LedgerEntry
from tests.conftest import _wipe
from tests.unit.ledger_strategies import build_ledger, operation


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_totals_always_equal_the_ledger(app, ops):
    with app.app_context():
        session = new_session(write=True)
        try:
            # Refused operations must leave totals untouched, which the check below proves.
            build_ledger(session, ops)
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
