"""In-kind value is kept apart from cash: the public progress leaves it out unless the campaign's
setting counts it, the live snapshot and its ETag change with the setting, and staff see both."""

from zoneinfo import ZoneInfo

from fundraiser import campaign_admin, campaigns, ledger
from fundraiser.models import GiftMethod
from tests.factories import give, make_campaign, make_donor
from tests.functional.staff_helpers import signed_in_client

TZ = ZoneInfo("America/New_York")


def test_public_progress_leaves_in_kind_out_until_staff_count_it(app, session):
    campaign = make_campaign(session, slug="winter-coats", goal_cents=100000)
    donor = make_donor(session)
    give(session, campaign, 30000, donor=donor)
    give(session, campaign, 20000, donor=donor, method=GiftMethod.IN_KIND, description="40 winter coats")
    session.commit()
    assert campaigns.cash_and_in_kind(session, campaign) == campaigns.CashAndInKind(cash_cents=30000, in_kind_cents=20000)
    api = app.test_client()
    first = api.get("/api/campaigns/winter-coats/progress")
    assert (first.get_json()["raised_cents"], first.get_json()["percent"]) == (30000, 30.0)

    staff = signed_in_client(app, session, "staff", "not-a-real-hash")
    listing = staff.get("/staff/campaigns").get_data(as_text=True)
    assert "$300.00" in listing and "$200.00" in listing and "(not in the public goal)" in listing
    form = {**campaign_admin.form_values(campaign, TZ), "counts_in_kind": "yes"}
    assert staff.post(f"/staff/campaigns/{campaign.id}/edit", data=form).status_code == 302

    second = api.get("/api/campaigns/winter-coats/progress", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]
    assert second.get_json()["raised_cents"] == 50000
    page = staff.get(f"/staff/campaigns/{campaign.id}/edit").get_data(as_text=True)
    assert "Cash raised $300.00 · in-kind $200.00</p>" in page and 'id="counts_in_kind" name="counts_in_kind" type="checkbox" value="yes" checked' in page


def test_an_in_kind_gift_restated_as_a_check_moves_from_in_kind_to_cash(app, session):
    campaign = make_campaign(session)
    donor = make_donor(session)
    gift = give(session, campaign, 12000, donor=donor, method=GiftMethod.IN_KIND, description="Printer")
    session.commit()
    assert campaigns.progress(campaign, campaign.totals).raised_cents == 0
    ledger.restate_gift(session, gift, donor_id=donor.id, method=GiftMethod.CHECK, received_at=gift.received_at,
                        reason="It was a check", by_user_id=None)
    session.commit()
    assert campaigns.cash_and_in_kind(session, campaign) == campaigns.CashAndInKind(cash_cents=12000, in_kind_cents=0)
    assert campaigns.progress(campaign, campaign.totals).raised_cents == 12000
