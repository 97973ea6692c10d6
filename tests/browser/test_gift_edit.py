"""Fixing a gift's donor on a 320 px phone, with a reason, and reading the change in the audit log."""

from playwright.sync_api import expect

from fundraiser.auth.users import create_user
from fundraiser.models import Campaign, Donor
from tests.browser.conftest import sign_in
from tests.factories import give, make_campaign, make_donor

PASSWORD = "a very good password"


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_edit_a_gifts_donor_with_a_reason_and_see_it_in_the_audit_log(app, arrange, live_server, page):
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    with arrange() as session:
        campaign = make_campaign(session, title="Roof Fund")
        wrong = make_donor(session, name="Bob Wrong", email=None)
        make_donor(session, name="Carol Right", email=None)
        gift_id = give(session, session.get(Campaign, campaign.id), 7500, donor=session.get(Donor, wrong.id)).id
        create_user(session, "admin@example.org", "admin", PASSWORD)
    page.set_viewport_size({"width": 320, "height": 800})
    base = live_server.url
    sign_in(page, base, "admin@example.org", PASSWORD)
    page.goto(f"{base}/staff/gifts/{gift_id}")

    page.get_by_text("Edit details", exact=True).click()
    donor = page.get_by_role("combobox", name="Donor")
    donor.fill("Carol")
    page.get_by_role("option", name="Carol Right").click()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was changed")  # no reason given
    expect(page.get_by_text("Please say why you are changing this gift")).to_be_visible()
    page.console_errors.clear()  # the refused form answers 400, which Chromium logs
    page.get_by_label("Reason for the change").fill("the check was Carol's")
    assert no_sideways_scroll(page)
    page.get_by_role("button", name="Save changes").click()

    expect(page.get_by_text(f"Changed gift {gift_id}'s donor")).to_be_visible()
    expect(page.locator(".facts")).to_contain_text("Carol Right")
    page.get_by_role("link", name="Audit log").click()
    story = page.locator('[data-action="gift.edit"]')
    expect(story).to_contain_text("changed the details of")
    expect(story).to_contain_text("Bob Wrong")
    expect(story).to_contain_text("Carol Right")
    expect(story).to_contain_text("Reason: “the check was Carol's”")
    assert no_sideways_scroll(page)
    assert page.console_errors == []
