"""Removing the demo, from the terminal or the admin's button: sample rows go, real ones stay, totals add up."""

from datetime import date

from sqlalchemy import func, select

from fundraiser import ledger
from fundraiser.demo import giving_tuesday, seed_demo
from fundraiser.models import (
    AuditLog,
    Campaign,
    CampaignTotals,
    CommunityEvent,
    Donor,
    Gift,
    GiftMethod,
    LedgerEntry,
    OutboxMessage,
)
from tests.factories import give, make_campaign, make_donor


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def seed_with_real_data(arrange):
    """The demo, plus what a real organisation added meanwhile: a campaign, and a real gift to a demo campaign."""
    with arrange() as session:
        seed_demo(session)
        real_campaign = make_campaign(session, title="Real Spring Appeal")
        real_donor = make_donor(session, name="Real Donor")
        give(session, real_campaign, 12_500, donor=real_donor, method=GiftMethod.CHECK)
        demo_campaign = session.scalar(select(Campaign).where(Campaign.slug == "support-our-mission"))
        sample_donor = session.scalar(select(Donor).where(Donor.is_sample.is_(True)).order_by(Donor.id))
        real_gift = give(session, demo_campaign, 4_000, donor=sample_donor, method=GiftMethod.CASH)
        session.add(OutboxMessage(gift_id=real_gift.id, kind="receipt", dedupe_key=f"receipt:{real_gift.id}",
                                  to_email="x@example.org", subject="Thanks", body_text="Thanks"))
        sample = session.scalar(select(Gift).where(Gift.is_sample.is_(True)).order_by(Gift.id))
        session.add(OutboxMessage(gift_id=sample.id, kind="receipt", dedupe_key=f"receipt:{sample.id}",
                                  to_email="y@example.org", subject="Thanks", body_text="Thanks"))
        return {"real_campaign": real_campaign.id, "demo_campaign": demo_campaign.id, "real_gift": real_gift.id,
                "sample_donor": sample_donor.id, "real_donor": real_donor.id}


def assert_only_sample_rows_went(app, ids):
    with app.app_context():
        from fundraiser.db import get_session

        session = get_session()
        assert count(session, Gift, Gift.is_sample.is_(True)) == 0
        assert count(session, Gift) == 2
        assert count(session, CommunityEvent) == 0
        # The demo campaign holding a real gift stays, and so does the sample donor who gave it.
        assert set(session.scalars(select(Campaign.id))) == {ids["real_campaign"], ids["demo_campaign"]}
        assert set(session.scalars(select(Donor.id))) == {ids["real_donor"], ids["sample_donor"]}
        assert count(session, LedgerEntry) == 2
        assert [m.gift_id for m in session.scalars(select(OutboxMessage))] == [ids["real_gift"]]
        totals = session.get(CampaignTotals, ids["demo_campaign"])
        assert (totals.raised_cents, totals.gift_count, totals.donor_count) == (4_000, 1, 1)
        assert ledger.verify_totals(session) == []
        from fundraiser.rollups import compute_rollups, differences

        assert differences(session, compute_rollups(session)) == []
        assert session.scalar(select(AuditLog.action).where(AuditLog.action == "demo.remove")) == "demo.remove"


def test_remove_demo_from_the_terminal(app, arrange, runner):
    ids = seed_with_real_data(arrange)
    result = runner.invoke(args=["remove-demo", "--yes"])
    assert result.exit_code == 0, result.output
    assert "sample gift(s)" in result.output
    assert_only_sample_rows_went(app, ids)
    assert runner.invoke(args=["verify-totals"]).exit_code == 0
    assert runner.invoke(args=["rebuild-rollups", "--check"]).exit_code == 0


def test_remove_demo_asks_in_the_terminal(app, arrange, runner):
    seed_with_real_data(arrange)
    result = runner.invoke(args=["remove-demo"], input="n\n")
    assert result.exit_code == 1
    with arrange() as session:
        assert count(session, Gift, Gift.is_sample.is_(True)) > 300


def test_admin_removes_the_demo_with_a_button_after_confirming(app, arrange, staff_http):
    ids = seed_with_real_data(arrange)
    admin = staff_http("admin")
    home = admin.get("/staff/").text
    assert "Remove the demo data" in home and "sample-banner" in home
    asked = admin.post("/staff/demo/remove", {})
    assert asked.status == 200 and "Yes, remove the demo data" in asked.text
    with arrange() as session:
        assert count(session, Gift, Gift.is_sample.is_(True)) > 300
    done = admin.post("/staff/demo/remove", {"confirm": "yes"})
    assert done.status == 302
    home = admin.get("/staff/").text
    assert "Removed the demo" in home and "sample-banner" not in home and "Remove the demo data" not in home
    assert_only_sample_rows_went(app, ids)


def test_staff_cannot_remove_the_demo(app, arrange, staff_http):
    seed_with_real_data(arrange)
    assert staff_http("staff").post("/staff/demo/remove", {"confirm": "yes"}).status == 403


def test_giving_tuesday_is_this_years_in_the_season_around_it(app, arrange):
    assert giving_tuesday(2026) == date(2026, 12, 1)
    with arrange() as session:
        seed_demo(session, today=date(2026, 12, 5))
        campaign = session.scalar(select(Campaign).where(Campaign.slug == "giving-tuesday"))
        assert campaign.title == "Giving Tuesday 2026"
        last_gift = session.scalar(select(func.max(Gift.received_at)).where(Gift.campaign_id == campaign.id))
        assert last_gift <= campaign.ends_at
        assert campaign.starts_at < campaign.ends_at
