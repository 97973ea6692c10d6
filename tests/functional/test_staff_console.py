"""The staff console as a volunteer uses it: forms keep values and explain errors, saves say what was saved."""

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from fundraiser.db import utcnow
from fundraiser.models import (
    AuditLog,
    Campaign,
    CampaignStatus,
    CampaignTotals,
    CommunityEvent,
    Donor,
    Gift,
    GiftCredit,
    OutboxMessage,
)
from tests.factories import give, local_today, make_campaign, make_donor, make_event
from tests.functional.staff_helpers import sign_in_as


def today():
    return local_today().isoformat()


def test_entering_a_gift_confirms_it_and_keeps_campaign_date_and_method_for_the_next(app, session):
    campaign = make_campaign(session, title="Spring Appeal")
    donor = make_donor(session, name="Ada Lovelace")
    session.commit()
    client = sign_in_as(app, session, "staff")
    page = client.get("/staff/gifts/new").get_data(as_text=True)
    assert 'name="token"' in page
    form = {"campaign_id": campaign.id, "received_on": today(), "method": "check", "amount": "150",
            "reference": "1042", "donor_id": donor.id, "donor_query": "Ada Lovelace", "token": "form-1"}
    response = client.post("/staff/gifts/new", data=form, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Saved gift" in html and "$150.00 check #1042 from Ada Lovelace to Spring Appeal" in html
    assert f'<option value="{campaign.id}" selected' in html  # ready for the next check
    again = client.post("/staff/gifts/new", data=form, follow_redirects=True)  # a double-click
    assert "already saved" in again.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Gift)) == 1
    assert session.get(CampaignTotals, campaign.id).raised_cents == 15000


def test_a_gift_form_with_errors_saves_nothing_and_keeps_what_was_typed(app, session):
    campaign = make_campaign(session)
    session.commit()
    client = sign_in_as(app, session, "staff")
    response = client.post("/staff/gifts/new", data={
        "campaign_id": campaign.id, "received_on": today(), "method": "check", "amount": "fifty",
        "reference": "77", "note": "left at the desk", "token": "form-2",
    })
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Nothing was saved" in html
    assert 'id="amount-error"' in html and "isn&#39;t an amount of money" in html
    assert 'value="fifty"' in html and 'value="77"' in html and "left at the desk" in html
    assert session.scalar(select(func.count()).select_from(Gift)) == 0


def test_donor_search_answers_json_for_the_words_typed(app, session):
    make_donor(session, name="Keystone RV Customer Service", email="cs@keystone.example")
    make_donor(session, name="Kim Stone")
    make_donor(session, name="Merged Away", merged_into_id=None)
    session.commit()
    client = sign_in_as(app, session, "staff")
    found = client.get("/staff/donors/search.json?q=keystone").get_json()
    assert [d["name"] for d in found] == ["Keystone RV Customer Service"]
    assert [d["name"] for d in client.get("/staff/donors/search.json?q=STONE").get_json()] == [
        "Keystone RV Customer Service", "Kim Stone"]
    assert client.get("/staff/donors/search.json?q=%25").get_json() == []  # a typed % is not a wildcard


def test_a_deposit_that_does_not_match_the_slip_is_refused_with_the_difference(app, session):
    campaign = make_campaign(session)
    session.commit()
    client = sign_in_as(app, session, "staff")
    form = {"received_on": today(), "slip_total": "300.00", "campaign_id": campaign.id, "method": "check",
            "row_count": "12", "token": "dep-a",
            "rows-0-new_donor_name": "Ann Archer", "rows-0-amount": "100", "rows-0-reference": "501",
            "rows-1-new_donor_name": "Ben Baker", "rows-1-amount": "150", "rows-1-reference": "502"}
    refused = client.post("/staff/gifts/deposit", data=form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "short by $50.00" in html and 'value="Ben Baker"' in html
    assert session.scalar(select(func.count()).select_from(Gift)) == 0
    saved = client.post("/staff/gifts/deposit", data={**form, "slip_total": "250"}, follow_redirects=True)
    html = saved.get_data(as_text=True)
    assert "Saved 2 gifts totalling $250.00" in html and "Ann Archer" in html
    assert session.get(CampaignTotals, campaign.id).raised_cents == 25000


def test_correct_then_void_from_the_gift_page(app, session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 1500)
    session.commit()
    client = sign_in_as(app, session, "staff")
    missing = client.post(f"/staff/gifts/{gift.id}/correct", data={"amount": "150", "reason": ""})
    assert missing.status_code == 400 and "give a reason" in missing.get_data(as_text=True)
    client.post(f"/staff/gifts/{gift.id}/correct", data={"amount": "150", "reason": "typo"})
    page = client.post(f"/staff/gifts/{gift.id}/void", data={"reason": "bounced", "confirm": "yes"}, follow_redirects=True).get_data(as_text=True)
    assert "void" in page and "gift.void" in page and "bounced" in page
    assert session.get(CampaignTotals, campaign.id).raised_cents == 0


def test_unattributed_queue_assigns_to_a_campaign(app, session):
    campaign = make_campaign(session, title="Where it goes")
    gift = give(session, None, 4200, currency="USD")
    session.commit()
    client = sign_in_as(app, session, "staff")
    assert f"#{gift.id}" in client.get("/staff/gifts/unattributed").get_data(as_text=True)
    page = client.post(f"/staff/gifts/{gift.id}/assign", data={"campaign_id": campaign.id, "back": "queue"}, follow_redirects=True)
    assert "now counts toward Where it goes" in page.get_data(as_text=True)
    assert session.get(CampaignTotals, campaign.id).raised_cents == 4200


def test_resend_queues_another_receipt(app, session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 5000, donor=make_donor(session, email="r@example.org"))
    session.commit()
    client = sign_in_as(app, session, "staff")
    client.post(f"/staff/gifts/{gift.id}/resend")
    client.post(f"/staff/gifts/{gift.id}/resend")
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.to_email == "r@example.org")) == 2


def test_create_preview_publish_and_upload_a_cover(app, session):
    client = sign_in_as(app, session, "staff")
    fields = {"title": "Giving Tuesday 2026", "summary": "One day.", "story_md": "We **care**.<script>x()</script>",
              "goal": "25,000", "stretch_goal": "20000", "currency": "USD", "suggested_amounts": "25, 50, 100"}
    refused = client.post("/staff/campaigns/new", data=fields)
    assert refused.status_code == 400 and "more than the goal" in refused.get_data(as_text=True)
    preview = client.post("/staff/campaigns/new", data={**fields, "preview": "1"}).get_data(as_text=True)
    assert "<strong>care</strong>" in preview and "<script>x()" not in preview
    assert session.scalar(select(func.count()).select_from(Campaign)) == 0
    client.post("/staff/campaigns/new", data={**fields, "stretch_goal": "30000"})
    campaign = session.scalar(select(Campaign))
    assert (campaign.slug, campaign.goal_cents, campaign.suggested_amounts, campaign.status) == (
        "giving-tuesday-2026", 2_500_000, [2500, 5000, 10000], CampaignStatus.DRAFT)
    assert client.get("/campaigns/giving-tuesday-2026").status_code == 404
    client.post(f"/staff/campaigns/{campaign.id}/status", data={"action": "publish"})
    assert client.get("/campaigns/giving-tuesday-2026").status_code == 200
    png = io.BytesIO()
    Image.new("RGB", (640, 320), "orange").save(png, format="PNG")
    bad = client.post(f"/staff/campaigns/{campaign.id}/cover", data={"cover": (io.BytesIO(b"GIF89a"), "x.png"),
                      "cover_alt": "A day out"}, content_type="multipart/form-data")
    assert bad.status_code == 400 and "PNG, JPEG, WebP or GIF" in bad.get_data(as_text=True)
    client.post(f"/staff/campaigns/{campaign.id}/cover", data={"cover": (io.BytesIO(png.getvalue()), "c.png"),
                "cover_alt": "A day out"}, content_type="multipart/form-data")
    session.refresh(campaign)
    with client.get(f"/media/covers/{campaign.cover_image}-640.webp") as served:
        assert served.status_code == 200 and served.data[8:12] == b"WEBP"
    actions = session.scalars(select(AuditLog.action).where(AuditLog.object_type == "campaign").order_by(AuditLog.id)).all()
    assert actions == ["campaign.create", "campaign.publish", "campaign.cover"]


def test_event_proceeds_are_credited_to_the_host_with_itemised_people(app, session):
    campaign = make_campaign(session, title="Anniversary")
    session.commit()
    client = sign_in_as(app, session, "staff")
    client.post("/staff/events/new", data={
        "name": "Holiday Cookie Walk", "host_name": "Keystone RV customer service team", "campaign_id": campaign.id,
        "event_date": today(), "place": "Break room",
    })
    event = session.scalar(select(CommunityEvent))
    host = session.get(Donor, event.host_donor_id)
    assert host.name == "Keystone RV customer service team" and host.kind == "organisation"
    over = client.post(f"/staff/events/{event.id}/proceeds", data={
        "amount": "50", "method": "cash", "received_on": today(), "itemised": "Dana Fox, 40\nLee Ray, 20", "token": "p0"})
    assert over.status_code == 400 and "more than this entry" in over.get_data(as_text=True)
    client.post(f"/staff/events/{event.id}/proceeds", data={
        "amount": "412.50", "method": "cash", "received_on": today(), "goods_value": "72", "itemised": "Dana Fox, 40\nLee Ray",
        "token": "p1"})
    page = client.post(f"/staff/events/{event.id}/proceeds", data={
        "amount": "650", "method": "check", "reference": "1187", "received_on": today(), "token": "p2"},
        follow_redirects=True).get_data(as_text=True)
    assert "The event has now raised $1,062.50" in page and "Dana Fox ($40.00), Lee Ray" in page
    assert session.get(CampaignTotals, campaign.id).raised_cents == 106250
    assert session.scalar(select(func.count()).select_from(GiftCredit)) == 2
    public = client.get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "Holiday Cookie Walk" in public and "$1,062.50" in public


def test_donor_edit_do_not_contact_and_merge(app, session):
    keep = make_donor(session, name="Pat Doe", email=None)
    dupe = make_donor(session, name="Patricia Doe", email="pat@example.org")
    campaign = make_campaign(session)
    give(session, campaign, 2500, donor=dupe)
    session.commit()
    client = sign_in_as(app, session, "staff")
    bad = client.post(f"/staff/donors/{keep.id}/edit", data={"name": "Pat Doe", "kind": "person", "email": "not-an-email", "city": "Goshen"})
    assert bad.status_code == 400 and "valid email" in bad.get_data(as_text=True) and 'value="Goshen"' in bad.get_data(as_text=True)
    client.post(f"/staff/donors/{keep.id}/edit", data={"name": "Pat Doe", "kind": "person", "do_not_contact": "yes"})
    session.refresh(keep)
    assert keep.do_not_contact
    picked = "Patricia Doe <pat@example.org>"
    unconfirmed = client.post(f"/staff/donors/{keep.id}/merge", data={"donor_id": dupe.id, "donor_query": picked})
    html = unconfirmed.get_data(as_text=True)
    assert unconfirmed.status_code == 400 and "tick the box" in html
    # Namesakes told apart, and the pick kept for the second try.
    assert f"Patricia Doe (donor {dupe.id}, pat@example.org) is the same donor as Pat Doe (donor {keep.id}" in html
    assert 'value="Patricia Doe &lt;pat@example.org&gt;"' in html and f'name="donor_id" value="{dupe.id}"' in html
    page = client.post(f"/staff/donors/{keep.id}/merge", data={"donor_id": dupe.id, "confirm": "yes"}, follow_redirects=True)
    html = page.get_data(as_text=True)
    assert "1 gift moved" in html and "$25.00" in html
    assert "merged into" in client.get(f"/staff/donors/{dupe.id}").get_data(as_text=True)


def test_statement_page_and_pdf(app, session):
    campaign = make_campaign(session, title="Books")
    donor = make_donor(session, name="Ruth Reader")
    give(session, campaign, 12345, donor=donor)
    session.commit()
    client = sign_in_as(app, session, "staff")
    year = utcnow().year
    html = client.get(f"/staff/donors/{donor.id}/statement/{year}").get_data(as_text=True)
    assert "Ruth Reader" in html and "$123.45" in html
    pdf = client.get(f"/staff/donors/{donor.id}/statement/{year}.pdf")
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert client.get(f"/staff/donors/{donor.id}/statement/{year + 1}").status_code == 404


def test_staff_pages_set_the_strict_content_security_policy(app, session):
    client = sign_in_as(app, session, "staff")
    response = client.get("/staff/gifts/deposit")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "<script>" not in response.get_data(as_text=True)  # no inline scripts
    assert "style=" not in response.get_data(as_text=True)  # no inline styles


def test_event_page_lists_on_the_campaign_and_events_list(app, session):
    campaign = make_campaign(session)
    event = make_event(session, campaign, name="Bake Sale")
    session.commit()
    client = sign_in_as(app, session, "staff")
    assert "Bake Sale" in client.get("/staff/events").get_data(as_text=True)
    assert client.get(f"/staff/events/{event.id}").status_code == 200


def test_an_entered_gift_queues_its_receipt_worded_for_its_kind(app, session):
    campaign = make_campaign(session)
    session.commit()
    client = sign_in_as(app, session, "staff")
    base = {"campaign_id": campaign.id, "received_on": today(), "new_donor_email": "", "amount": "500"}
    client.post("/staff/gifts/new", data={**base, "method": "daf", "new_donor_name": "Fund Giver",
                                          "new_donor_email": "fund@example.org", "token": "r1"})
    client.post("/staff/gifts/new", data={**base, "method": "in_kind", "description": "40 art kits",
                                          "new_donor_name": "Kit Giver", "new_donor_email": "kits@example.org", "token": "r2"})
    client.post("/staff/gifts/new", data={**base, "method": "cash", "new_donor_name": "No Email", "token": "r3"})
    daf = session.scalar(select(OutboxMessage).where(OutboxMessage.to_email == "fund@example.org"))
    kits = session.scalar(select(OutboxMessage).where(OutboxMessage.to_email == "kits@example.org"))
    assert "do not claim this gift as a charitable deduction" in daf.body_text
    assert "40 art kits" in kits.body_text and "We do not state a value" in kits.body_text and "$500" not in kits.body_text
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 2


def test_a_gift_form_without_its_token_saves_nothing_and_gets_a_fresh_one(app, session):
    campaign = make_campaign(session)
    session.commit()
    client = sign_in_as(app, session, "staff")
    form = {"campaign_id": campaign.id, "received_on": today(), "method": "cash", "amount": "20"}
    for token in ("", "50%_off"):
        response = client.post("/staff/gifts/new", data={**form, "token": token})
        html = response.get_data(as_text=True)
        assert response.status_code == 400 and "missing its one-time token" in html
        assert 'value="20"' in html and 'name="token" value=""' not in html
    assert session.scalar(select(func.count()).select_from(Gift)) == 0


def test_an_event_host_typed_but_not_picked_must_match_exactly(app, session):
    campaign = make_campaign(session)
    host = make_donor(session, name="Acme Bakers", kind="organisation")
    session.commit()
    client = sign_in_as(app, session, "staff")
    form = {"name": "Bake Sale", "host_name": "Acme", "campaign_id": campaign.id, "event_date": today()}
    refused = client.post("/staff/events/new", data={**form, "host_donor_query": "Acme"})
    assert refused.status_code == 400 and "No donor matches" in refused.get_data(as_text=True)
    client.post("/staff/events/new", data={**form, "host_donor_query": "acme bakers"})
    assert session.scalar(select(CommunityEvent.host_donor_id)) == host.id
    assert session.scalar(select(func.count()).select_from(Donor)) == 1


@pytest.mark.parametrize("what", ["void", "close", "deactivate"])
def test_hard_to_undo_actions_ask_first_without_javascript(app, session, what):
    from fundraiser.models import GiftMethod, User

    campaign = make_campaign(session, title="Spring")
    gift = give(session, campaign, 5000, method=GiftMethod.CHECK)
    session.commit()
    client = sign_in_as(app, session, "admin")
    other = sign_in_as(app, session, "staff")
    assert other
    target = session.query(User).filter_by(email="staff@example.org").one()
    path, form = {
        "void": (f"/staff/gifts/{gift.id}/void", {"reason": "bounced"}),
        "close": (f"/staff/campaigns/{campaign.id}/status", {"action": "close"}),
        "deactivate": (f"/staff/users/{target.id}", {"change": "deactivate"}),
    }[what]
    asked = client.post(path, data=form)
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and 'name="confirm" value="yes"' in page and "No, go back" in page
    session.expire_all()
    assert not gift.entries[1:] and campaign.status == "active" and target.is_active
    assert client.post(path, data=form | {"confirm": "yes"}).status_code == 302
    session.expire_all()
    assert {"void": lambda: gift.entries[-1].kind == "void", "close": lambda: campaign.status == "closed",
            "deactivate": lambda: not target.is_active}[what]()
