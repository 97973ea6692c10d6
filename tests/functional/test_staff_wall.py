"""Donor wall moderation: show-then-moderate and approve-before-showing, hiding names and comments at once."""

from sqlalchemy import select

from fundraiser.models import AuditLog, GiftChannel, GiftMethod
from tests.factories import give, make_campaign, make_donor
from tests.functional.staff_helpers import sign_in_as


def online_gift(session, campaign, name, comment):
    return give(session, campaign, 5000, donor=make_donor(session, name=name), channel=GiftChannel.ONLINE,
                method=GiftMethod.CARD, public_comment=comment)


def test_show_then_moderate_hides_a_comment_and_a_name_at_once(app, session):
    campaign = make_campaign(session)
    gift = online_gift(session, campaign, "Rude Person", "buy crypto at spam.example")
    session.commit()
    public = f"/campaigns/{campaign.slug}"
    staff = sign_in_as(app, session, "staff")
    html = app.test_client().get(public).get_data(as_text=True)
    assert "Rude Person" in html and "spam.example" in html
    staff.post(f"/staff/wall/{gift.id}", data={"action": "hide_comment"})
    staff.post(f"/staff/wall/{gift.id}", data={"action": "hide_name"})
    html = app.test_client().get(public).get_data(as_text=True)
    assert "Rude Person" not in html and "spam.example" not in html and "Anonymous" in html
    actions = session.scalars(select(AuditLog.action).where(AuditLog.object_id == str(gift.id)).order_by(AuditLog.id)).all()
    assert actions == ["wall.hide_comment", "wall.hide_name"]


def test_approve_first_holds_names_and_comments_until_approved(make_app, session):
    app = make_app(DONOR_WALL_MODERATION="approve")
    campaign = make_campaign(session)
    gift = online_gift(session, campaign, "Kind Person", "Go team!")
    session.commit()
    public = f"/campaigns/{campaign.slug}"
    html = app.test_client().get(public).get_data(as_text=True)
    assert "Kind Person" not in html and "Go team!" not in html
    staff = sign_in_as(app, session, "staff")
    queue = staff.get("/staff/wall").get_data(as_text=True)
    assert "Go team!" in queue and "waiting" in queue
    staff.post(f"/staff/wall/{gift.id}", data={"action": "approve"})
    html = app.test_client().get(public).get_data(as_text=True)
    assert "Kind Person" in html and "Go team!" in html
    assert "Nothing waiting for review" in staff.get("/staff/wall").get_data(as_text=True)


def test_gifts_staff_enter_need_no_approval(make_app, session):
    app = make_app(DONOR_WALL_MODERATION="approve")
    campaign = make_campaign(session)
    session.commit()
    staff = sign_in_as(app, session, "staff")
    staff.post("/staff/gifts/new", data={"campaign_id": campaign.id, "method": "check", "amount": "20",
                                         "received_on": "2026-01-05", "new_donor_name": "Desk Donor", "token": "w1"})
    assert "Desk Donor" in app.test_client().get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
