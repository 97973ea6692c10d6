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


def test_gifts_staff_enter_stay_anonymous_unless_the_donor_agreed(app, session):
    campaign = make_campaign(session)
    session.commit()
    staff = sign_in_as(app, session, "staff")
    form = {"campaign_id": campaign.id, "method": "check", "amount": "20", "received_on": "2026-01-05",
            "dedication_kind": "memory", "dedication_name": "Grandpa Joe"}
    staff.post("/staff/gifts/new", data=form | {"new_donor_name": "Quiet Donor", "token": "w1"})
    html = app.test_client().get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "Quiet Donor" not in html and "Grandpa Joe" not in html and "Anonymous" in html
    staff.post("/staff/gifts/new", data=form | {"new_donor_name": "Named Donor", "token": "w2", "show_publicly": "yes"})
    html = app.test_client().get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "Named Donor" in html and "In memory of Grandpa Joe" in html


def test_approve_first_holds_gifts_staff_enter_too(make_app, session):
    app = make_app(DONOR_WALL_MODERATION="approve")
    campaign = make_campaign(session)
    session.commit()
    staff = sign_in_as(app, session, "staff")
    staff.post("/staff/gifts/new", data={"campaign_id": campaign.id, "method": "check", "amount": "20",
                                         "received_on": "2026-01-05", "new_donor_name": "Desk Donor", "token": "w1",
                                         "show_publicly": "yes"})
    assert "Desk Donor" not in app.test_client().get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "Desk Donor" in staff.get("/staff/wall").get_data(as_text=True)


def test_bulk_approve_and_hide_with_one_button(make_app, session):
    app = make_app(DONOR_WALL_MODERATION="approve")
    campaign = make_campaign(session)
    kind = online_gift(session, campaign, "Kind Person", "Go team!")
    also = online_gift(session, campaign, "Also Kind", "Onward!")
    rude = online_gift(session, campaign, "Rude Person", "spam.example")
    session.commit()
    staff = sign_in_as(app, session, "staff")
    reply = staff.post("/staff/wall/bulk", data={"action": "approve", "gift_ids": [kind.id, also.id]})
    assert reply.status_code == 302
    staff.post("/staff/wall/bulk", data={"action": "hide", "gift_ids": [rude.id]})
    html = app.test_client().get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "Kind Person" in html and "Onward!" in html
    assert "Rude Person" not in html and "spam.example" not in html
    assert "Nothing waiting for review" in staff.get("/staff/wall").get_data(as_text=True)
    nothing = staff.post("/staff/wall/bulk", data={"action": "approve"}, follow_redirects=True)
    assert "Please tick at least one entry first." in nothing.get_data(as_text=True)


def test_bulk_moderation_needs_the_csrf_token(make_app, session):
    app = make_app()
    campaign = make_campaign(session)
    gift = online_gift(session, campaign, "Kind Person", "Hi")
    session.commit()
    staff = sign_in_as(app, session, "staff")
    app.config["WTF_CSRF_ENABLED"] = True
    assert staff.post("/staff/wall/bulk", data={"action": "hide", "gift_ids": [gift.id]}).status_code == 400
    session.refresh(gift)
    assert not gift.name_hidden


def test_voided_and_refunded_gifts_leave_the_queue(app, session):
    from fundraiser import ledger

    campaign = make_campaign(session)
    voided = online_gift(session, campaign, "Voided Person", "x")
    refunded = online_gift(session, campaign, "Refunded Person", "y")
    online_gift(session, campaign, "Kept Person", "z")
    ledger.void_gift(session, voided, reason="entered twice")
    ledger.refund_gift(session, refunded, refunded.amount_cents, reason="asked")
    session.commit()
    staff = sign_in_as(app, session, "staff")
    queue = staff.get("/staff/wall").get_data(as_text=True)
    assert "Kept Person" in queue and "Voided Person" not in queue and "Refunded Person" not in queue


def test_staff_can_hide_a_dedication(app, session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 5000, donor=make_donor(session, name="Dee"), channel=GiftChannel.ONLINE,
                method=GiftMethod.CARD, is_anonymous=False, dedication_kind="memory", dedication_name="Aunt May")
    session.commit()
    public = f"/campaigns/{campaign.slug}"
    assert "In memory of Aunt May" in app.test_client().get(public).get_data(as_text=True)
    staff = sign_in_as(app, session, "staff")
    staff.post(f"/staff/wall/{gift.id}", data={"action": "hide_dedication"})
    html = app.test_client().get(public).get_data(as_text=True)
    assert "Aunt May" not in html and "Dee" in html
