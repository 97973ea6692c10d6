"""Public pages as a visitor sees them."""

import re
from datetime import timedelta

import pytest

from fundraiser import ledger
from fundraiser.db import utcnow
from fundraiser.models import CampaignStatus
from fundraiser.organisation import current_organisation
from tests.factories import give, make_campaign, make_donor, make_event


def test_home_lists_only_active_campaigns_with_their_bars(client, session):
    active = make_campaign(session, title="Giving Tuesday", goal_cents=2_500_000)
    make_campaign(session, title="Secret draft", status=CampaignStatus.DRAFT)
    make_campaign(session, title="Old one", status=CampaignStatus.CLOSED)
    give(session, active, 1_234_000)
    session.commit()
    html = client.get("/").get_data(as_text=True)
    assert "Giving Tuesday" in html
    assert "Secret draft" not in html and "Old one" not in html
    assert 'aria-valuetext="$12,340 of $25,000 raised (49.3%)"' in html


def test_campaign_page_shows_story_progress_and_days_left(client, session):
    campaign = make_campaign(
        session, story_md="We **care**.\n\n<script>alert(1)</script>", ends_at=utcnow() + timedelta(days=5, hours=1)
    )
    give(session, campaign, 5000, donor=make_donor(session))
    session.commit()
    html = client.get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "<strong>care</strong>" in html
    assert "<script>alert(1)</script>" not in html
    assert re.search(r"6\s+days", html)
    assert 'role="progressbar"' in html and 'aria-valuenow="50.00"' in html
    assert "$50 of $10,000 raised" in html


def test_an_active_campaign_past_its_end_reads_as_closed_on_its_page_and_widget(client, session):
    """Staff close a campaign when they get to it; until then donors must not read "Ends today" or
    "This campaign opens …" days after the end."""
    campaign = make_campaign(session, starts_at=utcnow() - timedelta(days=20), ends_at=utcnow() - timedelta(days=4))
    give(session, campaign, 5000, donor=make_donor(session))
    session.commit()
    html = client.get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "This campaign has closed. Final total: <strong>$50.00</strong>" in html
    assert "Closed: thank you!" in html
    assert "Ends today" not in html and "This campaign opens" not in html and 'id="give-heading"' not in html
    widget = client.get(f"/embed/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "This campaign has closed. Thank you!" in widget


def test_home_lists_a_campaign_past_its_end_last_and_says_it_ended(client, session):
    """Donors come to the home page to give: the ended campaign (not yet closed by staff, and
    soonest-ending of all) goes after the open ones and says "Ended", not "Ends"."""
    make_campaign(session, title="Giving Tuesday", starts_at=utcnow() - timedelta(days=20), ends_at=utcnow() - timedelta(days=4))
    make_campaign(session, title="Documentary film", ends_at=utcnow() + timedelta(days=30))
    make_campaign(session, title="Support our mission", ends_at=None)
    session.commit()
    html = client.get("/").get_data(as_text=True)
    assert html.index("Documentary film") < html.index("Support our mission") < html.index("Giving Tuesday")
    ended = html[html.index("Giving Tuesday"):]
    assert re.search(r'<p class="muted">Ended [A-Z][a-z]{2} \d{1,2}, \d{4}</p>', ended)
    assert re.search(r'<p class="muted">Ends [A-Z][a-z]{2} \d{1,2}, \d{4}</p>', html[html.index("Documentary film"):])


def test_staff_campaign_list_says_which_active_campaigns_take_no_gifts(app, session):
    from tests.functional.staff_helpers import signed_in_client

    make_campaign(session, title="Giving Tuesday", starts_at=utcnow() - timedelta(days=20), ends_at=utcnow() - timedelta(days=4))
    make_campaign(session, title="Cookie walk", starts_at=utcnow() + timedelta(days=3), ends_at=utcnow() + timedelta(days=9))
    make_campaign(session, title="Documentary film", ends_at=utcnow() + timedelta(days=30))
    session.commit()
    listing = signed_in_client(app, session, "staff", "not-a-real-hash").get("/staff/campaigns").get_data(as_text=True)
    status = {title: re.search(rf"{title}</a>.*?</td>\s*<td>([^<]*)</td>", listing, re.DOTALL).group(1)
              for title in ("Giving Tuesday", "Cookie walk", "Documentary film")}
    assert status == {"Giving Tuesday": "ended, still marked active", "Cookie walk": "active (scheduled)",
                      "Documentary film": "active"}


def test_draft_and_archived_campaigns_are_not_found(client, session):
    draft = make_campaign(session, status=CampaignStatus.DRAFT)
    archived = make_campaign(session, status=CampaignStatus.ARCHIVED)
    session.commit()
    for slug in (draft.slug, archived.slug, "no-such-campaign"):
        response = client.get(f"/campaigns/{slug}")
        assert response.status_code == 404
        assert "We couldn't find that page" in response.get_data(as_text=True)


def test_a_campaign_named_like_the_organisation_has_its_name_once_in_the_title(app, client, session):
    with app.app_context():
        name = current_organisation().name
    campaign = make_campaign(session, title=name)
    other = make_campaign(session, title="Spring appeal")
    session.commit()
    assert f"<title>{name}</title>" in client.get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert f"<title>Spring appeal · {name}</title>" in client.get(f"/campaigns/{other.slug}").get_data(as_text=True)


def test_an_unknown_address_says_so_in_plain_words(client):
    page = client.get("/no-such-page").get_data(as_text=True)
    assert "The address may be mistyped, or the page may have moved." in page
    assert "requested URL" not in page


def test_closed_campaign_shows_final_totals_and_no_way_to_give(client, session):
    campaign = make_campaign(session, status=CampaignStatus.CLOSED, ends_at=utcnow() - timedelta(days=3))
    give(session, campaign, 75000)
    session.commit()
    html = client.get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "This campaign has closed. Final total: <strong>$750.00</strong>" in html
    assert "Give to this campaign" not in html


def test_supporters_honour_anonymity_and_amount_choices(client, session):
    campaign = make_campaign(session)
    give(session, campaign, 10000, donor=make_donor(session, name="Visible Vera"), show_amount=True,
         public_comment="For the kids <b>now</b>")
    give(session, campaign, 20000, donor=make_donor(session, name="Hidden Hank"), is_anonymous=True)
    give(session, campaign, 30000, donor=make_donor(session, name="Quiet Quinn"), show_amount=False)
    refunded = give(session, campaign, 40000, donor=make_donor(session, name="Refunded Rita"))
    ledger.refund_gift(session, refunded, 40000)
    session.commit()
    html = client.get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "Visible Vera</strong> · $100.00" in html
    assert "Hidden Hank" not in html and "Anonymous" in html
    assert "Quiet Quinn</strong> <span" in html and "$300.00" not in html
    assert "Refunded Rita" not in html
    assert "For the kids &lt;b&gt;now&lt;/b&gt;" in html


def test_campaign_page_lists_community_events_with_proceeds(client, session):
    campaign = make_campaign(session)
    host = make_donor(session, name="Keystone RV Customer Service Team", kind="organisation")
    event = make_event(session, campaign, name="Holiday Cookie Walk", host_name="Keystone RV", host_donor_id=host.id)
    give(session, campaign, 41250, donor=host, event_id=event.id, channel="event", method="cash")
    session.commit()
    html = client.get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "Holiday Cookie Walk" in html and "Raised <strong>$412.50</strong>" in html


def test_empty_campaign_invites_the_first_gift(client, session):
    campaign = make_campaign(session)
    session.commit()
    html = client.get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "Be the first" in html and "your gift starts this bar moving" in html and "progress--empty" in html
    assert 'aria-valuetext="$0 of $10,000 raised (0%)"' in html


@pytest.mark.parametrize("path", ["/", "/campaigns/nope", "/api/campaigns/nope/progress"])
def test_every_response_carries_security_headers(client, path):
    response = client.get(path)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_server_errors_get_a_friendly_page_without_internals(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "Something went wrong" in text and "secret internals" not in text
