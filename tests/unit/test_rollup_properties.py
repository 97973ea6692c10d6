"""Property: after any sequence of ledger changes the board's rollups equal a recomputation from
the ledger, and the rebuild command finds nothing to fix; a damaged rollup is reported and repaired."""

from datetime import UTC, datetime
from threading import Barrier, Thread

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from fundraiser import ledger, rollups
from fundraiser.db import new_session
from fundraiser.models import (
    ALL_CAMPAIGNS,
    ALL_CHANNELS,
    ALL_MONTHS,
    Campaign,
    DailyRollup,
    Donor,
    GiftChannel,
    GiftMethod,
    GiftSizeRollup,
    MonthlyRollup,
)
from tests.conftest import _wipe
from tests.factories import give, make_campaign, make_donor
from tests.unit.ledger_strategies import build_ledger, operation


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_rollups_always_equal_the_ledger(app, ops):
    with app.app_context():
        session = new_session(write=True)
        try:
            build_ledger(session, ops)
            assert rollups.verify_rollups(session) == []
            session.commit()
        finally:
            session.close()
            _wipe(app)


def test_rebuild_command_reports_and_repairs_a_damaged_rollup(app, runner, session):
    campaign = make_campaign(session, slug="spring")
    give(session, campaign, 5000)
    session.commit()
    assert runner.invoke(args=["rebuild-rollups", "--check"]).output.strip() == "All board rollups match the ledger."
    row = session.scalar(select(DailyRollup))
    row.raised_cents += 100
    session.commit()
    checked = runner.invoke(args=["rebuild-rollups", "--check"])
    assert checked.exit_code == 1
    assert "raised_cents: stored=5100 ledger=5000" in checked.output
    rebuilt = runner.invoke(args=["rebuild-rollups"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "1 difference(s) fixed" in rebuilt.output
    assert runner.invoke(args=["rebuild-rollups", "--check"]).exit_code == 0


def test_changing_the_time_zone_shows_as_differences_until_rebuilt(make_app):
    app = make_app(ORG_TIMEZONE="America/New_York")
    with app.app_context():
        session = new_session(write=True)
        campaign = make_campaign(session)
        give(session, campaign, 5000, received_at=datetime(2024, 3, 1, 3, 0, tzinfo=UTC))
        session.commit()
        session.close()
    tokyo = make_app(ORG_TIMEZONE="Asia/Tokyo")
    runner = tokyo.test_cli_runner()
    assert runner.invoke(args=["rebuild-rollups", "--check"]).exit_code == 1
    assert runner.invoke(args=["rebuild-rollups"]).exit_code == 0
    assert runner.invoke(args=["rebuild-rollups", "--check"]).exit_code == 0


def test_gifts_to_different_campaigns_at_once_keep_the_shared_rollups_right(app):
    """Rows summed across campaigns are written by every campaign's transactions at once."""
    with app.app_context():
        s = new_session(write=True)
        campaign_ids = [make_campaign(s).id for _ in range(4)]
        donor_ids = [make_donor(s).id for _ in range(2)]
        s.commit()
        s.close()

    workers = len(campaign_ids)
    barrier = Barrier(workers)
    errors: list[BaseException] = []

    def record(campaign_id: int) -> None:
        with app.app_context():
            barrier.wait()
            for i in range(5):
                s = new_session(write=True)
                try:
                    campaign = s.get(Campaign, campaign_id)
                    give(s, campaign, 2500, donor=s.get(Donor, donor_ids[i % 2]), channel=GiftChannel.ONLINE,
                         method=GiftMethod.CARD, received_at=datetime(2024, 5, 1, 12, tzinfo=UTC))
                    s.commit()
                except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                    errors.append(exc)
                finally:
                    s.close()

    threads = [Thread(target=record, args=(c,)) for c in campaign_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.app_context():
        s = new_session()
        try:
            assert rollups.verify_rollups(s) == []
            everything = s.scalar(select(GiftSizeRollup.gift_count).where(
                GiftSizeRollup.campaign_id == ALL_CAMPAIGNS, GiftSizeRollup.channel == ALL_CHANNELS,
                GiftSizeRollup.month == ALL_MONTHS, GiftSizeRollup.amount_cents == 2500))
            assert everything == 20
        finally:
            s.close()
            _wipe(app)


def test_an_unattributed_gift_counts_from_the_day_staff_assign_it(session):
    campaign = make_campaign(session)
    gift = give(session, None, 5000, received_at=datetime(2024, 1, 31, 23, tzinfo=UTC), fee_cents=140,
                channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
    assert session.scalar(select(func.count()).select_from(DailyRollup)) == 0
    ledger.assign_campaign(session, gift, campaign)
    assert rollups.verify_rollups(session) == []
    fees = session.scalars(select(MonthlyRollup.fee_cents).where(MonthlyRollup.campaign_id == campaign.id)).all()
    assert fees == [140]
