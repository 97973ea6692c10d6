"""The public pages in a real browser: what a visitor on a phone sees and what a screen reader reads."""

from tests.factories import give, make_campaign, make_donor


def test_campaign_page_progress_bar_reads_right_on_a_phone(live_server, page, session):
    campaign = make_campaign(session, title="Giving Tuesday", goal_cents=2_500_000)
    give(session, campaign, 1_234_000, donor=make_donor(session))
    session.commit()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/campaigns/{campaign.slug}")
    bar = page.get_by_role("progressbar", name="Giving Tuesday: amount raised")
    assert bar.get_attribute("aria-valuetext") == "$12,340 of $25,000 raised (49.3%)"
    assert bar.get_attribute("aria-valuenow") == "12340.00"
    fill_width = page.locator(".progress__fill").first.bounding_box()["width"]
    track_width = bar.bounding_box()["width"]
    assert 0.45 < fill_width / track_width < 0.52
    # Nothing overflows the phone's width.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.console_errors == []


def test_home_page_lists_campaign_cards(live_server, page, session):
    for title in ("Five Year Anniversary Fundraiser", "Giving Tuesday"):
        make_campaign(session, title=title)
    session.commit()
    page.goto(live_server.url + "/")
    assert page.get_by_role("heading", level=2).all_inner_texts() == [
        "Five Year Anniversary Fundraiser", "Giving Tuesday",
    ]
    assert page.get_by_role("progressbar").count() == 2
    assert page.console_errors == []
