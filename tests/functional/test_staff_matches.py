"""Staff set up matching challenges and copy the widget snippet from the campaign's page."""

from __future__ import annotations

from sqlalchemy import select

from fundraiser.models import AuditLog, GiftChannel, MatchingChallenge
from tests.factories import give, make_campaign
from tests.functional.staff_helpers import sign_in_as


def test_staff_add_matches_that_stack_or_follow_and_the_public_page_shows_them(make_app, session):
    app = make_app(EMBED_ALLOWED_ORIGINS="https://www.example.org")
    campaign = make_campaign(session, title="Giving Tuesday")
    session.commit()
    client = sign_in_as(app, session, "staff")
    form = {"sponsor": "A board member", "description": "Every gift doubled", "ratio": "1:1", "cap": "50",
            "counts_offline": "on"}
    response = client.post(f"/staff/campaigns/{campaign.id}/matches", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith("#matches")
    session.rollback()  # a fresh snapshot of what the app committed
    board = session.scalar(select(MatchingChallenge).where(MatchingChallenge.sponsor == "A board member"))
    assert (board.ratio_percent, board.cap_cents, board.counts_offline, board.counts_events) == (100, 5000, True, False)
    second = client.post(f"/staff/campaigns/{campaign.id}/matches",
                         data={"sponsor": "Keystone RV", "ratio": "1:1", "cap": "25", "follows": str(board.id)})
    assert second.status_code == 302, second.get_data(as_text=True)
    session.rollback()
    company = session.scalar(select(MatchingChallenge).where(MatchingChallenge.sponsor == "Keystone RV"))
    assert company.follows_id == board.id
    assert session.scalar(select(AuditLog).where(AuditLog.action == "match.create").limit(1)) is not None

    give(session, campaign, 6000, channel=GiftChannel.ONLINE)  # $50 fills the board's match, $10 flows on
    session.commit()
    page = app.test_client().get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    assert "A board member</strong> matches 1:1 up to $50" in page
    assert 'data-field="match-unlocked">$50.00<' in page and 'data-field="match-unlocked">$10.00<' in page
    assert 'data-field="with_matches">$120.00<' in page

    console = client.get(f"/staff/campaigns/{campaign.id}/edit").get_data(as_text=True)
    assert "$50.00" in console and "full" in console
    assert f"/embed/campaigns/{campaign.slug}" in console and "https://www.example.org" in console


def test_a_bad_match_keeps_what_was_typed_and_says_what_to_fix(app, session):
    campaign = make_campaign(session)
    session.commit()
    client = sign_in_as(app, session, "staff")
    response = client.post(f"/staff/campaigns/{campaign.id}/matches",
                           data={"sponsor": "", "ratio": "double", "cap": "-5", "starts_on": "2026-12-10",
                                 "ends_on": "2026-12-01", "description": "kept <b>text</b>"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Who is matching?" in html and "ratio" in html and "The amount must be more than zero." in html
    assert "The match must end on or after the day it starts." in html
    assert "kept &lt;b&gt;text&lt;/b&gt;" in html
    assert session.scalar(select(MatchingChallenge)) is None


def test_editing_a_match_ends_it_early_and_cannot_make_it_follow_itself(app, session):
    campaign = make_campaign(session)
    first = MatchingChallenge(campaign_id=campaign.id, sponsor="First", ratio_percent=100, cap_cents=10_000)
    session.add(first)
    session.flush()
    second = MatchingChallenge(campaign_id=campaign.id, sponsor="Second", ratio_percent=200, cap_cents=5_000,
                               follows_id=first.id)
    session.add(second)
    session.commit()
    client = sign_in_as(app, session, "staff")
    url = f"/staff/campaigns/{campaign.id}/matches/{first.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'value="First"' in page and 'value="1:1"' in page and 'value="100.00"' in page
    cycle = client.post(url, data={"sponsor": "First", "ratio": "1:1", "cap": "100", "follows": str(second.id)})
    assert cycle.status_code == 400 and "other matches, or none" in cycle.get_data(as_text=True)
    ended = client.post(url, data={"sponsor": "First", "ratio": "1:1", "cap": "100", "ends_on": "2026-01-31"})
    assert ended.status_code == 302
    session.rollback()
    assert session.get(MatchingChallenge, first.id).ends_at is not None


def test_the_console_without_embed_origins_says_how_to_allow_a_site(app, session):
    campaign = make_campaign(session)
    session.commit()
    client = sign_in_as(app, session, "staff")
    response = client.get(f"/staff/campaigns/{campaign.id}/edit")
    assert "EMBED_ALLOWED_ORIGINS" in response.get_data(as_text=True)
    assert "frame-src 'self'" in response.headers["Content-Security-Policy"]
