"""Campaign currencies: the form offers only those we have tested, and the domain refuses others."""

from __future__ import annotations

import re

from sqlalchemy import select

from fundraiser import campaign_admin
from fundraiser.donations import FormErrors
from fundraiser.models import Campaign
from tests.factories import make_campaign
from tests.functional.staff_helpers import sign_in_as

FIELDS = {"title": "Euro Appeal", "goal": "10.000,00", "suggested_amounts": "25 50 100"}


def test_the_form_offers_only_tested_currencies_and_reads_euro_amounts(app, session):
    client = sign_in_as(app, session, "staff")
    html = client.get("/staff/campaigns/new").get_data(as_text=True)
    select_html = html[html.index('<select id="currency"'):]
    select_html = select_html[:select_html.index("</select>")]
    assert re.findall(r'<option value="([A-Z]{3})"', select_html) == ["USD", "EUR", "GBP", "CAD", "AUD", "JPY"]
    assert client.post("/staff/campaigns/new", data={**FIELDS, "currency": "EUR"}).status_code in (302, 303)
    campaign = session.scalar(select(Campaign).where(Campaign.slug == "euro-appeal"))
    assert (campaign.currency, campaign.goal_cents) == ("EUR", 1_000_000)


def test_an_untested_currency_is_refused_with_a_clear_message(app, session):
    client = sign_in_as(app, session, "staff")
    response = client.post("/staff/campaigns/new", data={**FIELDS, "currency": "KWD"})
    assert response.status_code == 400
    assert "Campaigns can take gifts in USD, EUR, GBP, CAD, AUD, JPY" in response.get_data(as_text=True)
    assert session.scalar(select(Campaign)) is None


def test_a_campaign_keeps_a_currency_it_already_has(session):
    """Campaigns made before the list existed keep working; they can't move to another untested one."""
    campaign = make_campaign(session, currency="CHF", slug="swiss")
    session.flush()
    form = {**FIELDS, "title": campaign.title, "slug": "swiss", "goal": "5000"}
    kept = campaign_admin.parse_campaign(session, {**form, "currency": "CHF"}, campaign)
    assert not isinstance(kept, FormErrors) and kept.currency == "CHF"
    assert ("CHF", "CHF — Swiss Franc") in campaign_admin.currency_options(campaign)
    moved = campaign_admin.parse_campaign(session, {**form, "currency": "SEK"}, campaign)
    assert isinstance(moved, FormErrors) and "SEK isn't one of them" in moved.errors["currency"]
