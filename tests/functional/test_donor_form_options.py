"""The donate form's options: a campaign's default amount and impact lines (staff campaign form),
the organisation's preselected privacy answers (Settings page), headline money, and the live
"Recent supporters" list with staff moderation."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from fundraiser import wall
from fundraiser.audit import Actor
from fundraiser.live import build_snapshot
from fundraiser.models import Campaign, GiftChannel, GiftMethod
from fundraiser.money import format_headline
from tests.factories import give, make_campaign, make_donor
from tests.functional.staff_helpers import sign_in_as
from tests.payments.conftest import make_stripe_app

CAMPAIGN = {"title": "Spring appeal", "summary": "Books for parents.", "goal": "25,000", "currency": "USD",
            "suggested_amounts": "25, 50, 100"}


def checked(html: str, name: str) -> list[str]:
    """The values of the checked radios named `name` in a page."""
    return re.findall(rf'<input type="radio" name="{name}" value="([^"]+)" checked>', html)


def test_staff_sets_a_default_amount_and_impact_lines_that_the_form_shows(make_app, session):
    app = make_stripe_app(make_app)
    client = sign_in_as(app, session, "staff")
    fields = {**CAMPAIGN, "default_amount": "50", "impact_lines": "50: buys a parent's training workbook\r\n100: a workshop seat"}
    assert client.post("/staff/campaigns/new", data=fields).status_code == 302
    campaign = session.scalar(select(Campaign))
    assert campaign.default_amount_cents == 5000
    assert campaign.impact_lines == {"5000": "buys a parent's training workbook", "10000": "a workshop seat"}
    edit = client.get(f"/staff/campaigns/{campaign.id}/edit").get_data(as_text=True)
    assert 'value="50.00"' in edit and "50.00: buys a parent&#39;s training workbook" in edit

    client.post(f"/staff/campaigns/{campaign.id}/status", data={"action": "publish"})
    page = app.test_client().get("/campaigns/spring-appeal").get_data(as_text=True)
    assert checked(page, "amount") == ["5000"] and checked(page, "frequency") == ["once"]
    assert '<span class="amount-chip__impact">buys a parent&#39;s training workbook</span>' in page
    assert [f for f in ("monthly", "quarterly", "yearly") if f'name="frequency" value="{f}"' in page] == [
        "monthly", "quarterly", "yearly"]


def test_a_default_or_impact_line_for_an_amount_not_offered_is_refused_and_nothing_changes(app, session):
    client = sign_in_as(app, session, "staff")
    client.post("/staff/campaigns/new", data={**CAMPAIGN, "default_amount": "50"})
    campaign = session.scalar(select(Campaign))
    for changes, message in (
        ({"default_amount": "75"}, "The default amount must be one of the suggested amounts."),
        ({"impact_lines": "75: a box of crayons"}, "Line 1: 75 is not one of the suggested amounts."),
        ({"impact_lines": "a box of crayons"}, "Line 1: write the amount, a colon, then what it does"),
        ({"impact_lines": "25: " + "x" * 121}, "Line 1: please keep it to 120 characters."),
    ):
        response = client.post(f"/staff/campaigns/{campaign.id}/edit", data={**CAMPAIGN, "default_amount": "50", **changes})
        assert response.status_code == 400 and message in response.get_data(as_text=True).replace("&#39;", "'")
    session.expire_all()
    assert (campaign.default_amount_cents, campaign.impact_lines) == (5000, None)


def test_the_organisations_privacy_defaults_are_preselected_and_a_donor_can_change_them(make_app, session):
    app = make_stripe_app(make_app, ORG_WALL_SHOW_NAME="no")
    campaign = make_campaign(session, slug="spring")
    session.commit()
    page = app.test_client().get("/campaigns/spring").get_data(as_text=True)
    assert (checked(page, "show_name"), checked(page, "show_amount")) == (["no"], ["no"])

    admin = sign_in_as(app, session, "admin")
    form = admin.get("/staff/settings").get_data(as_text=True)
    assert "Gift amounts shown on the page unless the donor says no" in form
    refused = admin.post("/staff/settings", data={**identity(app, session), "wall_show_amount": "sometimes"})
    assert refused.status_code == 400 and "Please choose yes or no." in refused.get_data(as_text=True)
    saved = admin.post("/staff/settings", data={**identity(app, session), "wall_show_name": "yes", "wall_show_amount": "yes"},
                       follow_redirects=True)
    assert "Saved: Donors&#39; names shown on the page unless they say no, Gift amounts shown" in saved.get_data(as_text=True)
    page = app.test_client().get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert (checked(page, "show_name"), checked(page, "show_amount")) == (["yes"], ["yes"])


def identity(app, session) -> dict[str, str]:
    """The Settings page's fields as stored (what an admin posts back unchanged)."""
    from fundraiser import organisation
    from fundraiser.settings import current_settings

    org = organisation.load_organisation(session, current_settings())
    return {name: getattr(org, name) for name in organisation.EDITABLE if name not in organisation.WALL_FIELDS}


def test_headlines_are_whole_amounts_rounded_down_and_exact_figures_keep_cents():
    assert format_headline(123_456, "USD") == "$1,234"
    assert format_headline(99, "USD") == "$0"
    assert format_headline(1_500, "JPY") == "¥1,500"
    assert format_headline(-5_050, "USD") == "-$50"


def test_headline_and_exact_figures_on_the_campaign_page(app, session):
    campaign = make_campaign(session, slug="spring", goal_cents=1_000_050)
    give(session, campaign, 123_456, donor=make_donor(session), show_amount=True,
         channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
    session.commit()
    page = app.test_client().get("/campaigns/spring").get_data(as_text=True)
    assert '<span class="progress__raised" data-field="raised">$1,234</span>' in page
    assert '<span data-field="goal">$10,000</span>' in page
    assert " · $1,234.56" in page  # the gift itself, on the wall, is exact


def test_live_supporters_hide_what_the_donor_hid_and_what_staff_hide(app, session):
    campaign = make_campaign(session, slug="spring")
    shown = give(session, campaign, 5_000, donor=make_donor(session, name="Robin Reader"), show_amount=True,
                 channel=GiftChannel.ONLINE, method=GiftMethod.CARD, public_comment="For the kids")
    give(session, campaign, 7_500, donor=make_donor(session, name="Pat Private"), show_amount=False,
         channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
    session.commit()
    before = json.loads(build_snapshot(session, campaign, campaign.totals).activity_body)["supporters"]
    assert [(s["name"], s["amount"], s["comment"]) for s in before] == [
        ("Pat Private", None, None), ("Robin Reader", "$50.00", "For the kids")]
    assert "75.00" not in json.dumps(before)  # the hidden amount is never published
    edited_at = campaign.updated_at

    wall.moderate(session, Actor(user_id=None), shown, "hide")
    session.commit()
    after = json.loads(build_snapshot(session, campaign, campaign.totals).activity_body)["supporters"]
    assert [(s["name"], s["comment"]) for s in after] == [("Pat Private", None), ("Anonymous", None)]
    # Other processes' pollers see the change through the campaign's edit time.
    session.refresh(campaign)
    assert campaign.updated_at > edited_at
