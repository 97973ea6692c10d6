"""The staff console in a real browser: a volunteer records a deposit of checks and an event's
proceeds and sees the campaign total change; a board member finds no way to change anything."""

import re

from playwright.sync_api import expect
from sqlalchemy import func, select

from fundraiser.auth.users import create_user
from fundraiser.models import Gift
from tests.browser.conftest import sign_in
from tests.factories import make_campaign, make_donor, make_event

PASSWORD = "a very good password"


def test_volunteer_records_a_deposit_and_event_proceeds_then_board_can_only_look(app, live_server, page, session):
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    campaign = make_campaign(session, title="Five Year Anniversary")
    make_donor(session, name="Ann Archer", email="ann@example.org")
    host = make_donor(session, name="Keystone RV Customer Service Team", kind="organisation")
    event = make_event(session, campaign, name="Holiday Cookie Walk", host_name="Keystone RV customer service team", host_donor_id=host.id)
    create_user(session, "volunteer@example.org", "staff", PASSWORD)
    create_user(session, "board@example.org", "board", PASSWORD)
    session.commit()
    base = live_server.url

    sign_in(page, base, "volunteer@example.org", PASSWORD)
    expect(page.get_by_role("heading", name="Staff console")).to_be_visible()

    page.get_by_role("link", name="Deposit", exact=True).click()
    page.wait_for_load_state()  # the donor picker's script listens from here: typing earlier is lost
    page.get_by_label("Deposit slip total").fill("250.00")
    page.get_by_label("Campaign", exact=True).select_option(label="Five Year Anniversary · USD")
    donor = page.get_by_label("Donor, row 1", exact=True)
    donor.fill("Ann")
    expect(page.get_by_role("option", name=re.compile("Ann Archer"))).to_be_visible()
    donor.press("Enter")
    expect(donor).to_have_value("Ann Archer <ann@example.org>")
    page.get_by_label("Amount, row 1", exact=True).fill("100")
    page.get_by_label("Check number, row 1", exact=True).fill("501")
    page.get_by_label("New donor name, row 2", exact=True).fill("Ben Baker")
    page.get_by_label("Amount, row 2", exact=True).fill("140")
    expect(page.locator("[data-difference]")).to_have_text("Short by 10.00")
    page.get_by_label("Amount, row 2", exact=True).fill("150")
    expect(page.locator("[data-difference]")).to_have_text("Matches the slip")
    page.get_by_role("button", name="Save deposit").dblclick()  # a double-click must not save twice
    expect(page.get_by_text("Saved 2 gifts totalling $250.00 as deposit 1.")).to_be_visible()
    assert session.scalar(select(func.count()).select_from(Gift)) == 2

    page.goto(f"{base}/staff/events/{event.id}")
    page.get_by_label("Amount").fill("412.50")
    page.get_by_label("Method").select_option("cash")
    page.get_by_label("People behind these proceeds").fill("Dana Fox, 40")
    page.get_by_role("button", name="Save proceeds").click()
    expect(page.get_by_text("The event has now raised $412.50.")).to_be_visible()

    page.goto(f"{base}/campaigns/{campaign.slug}")
    # The bar is a headline (whole dollars, rounded down); the staff page above said the exact $412.50.
    expect(page.locator("[data-field=raised]").first).to_have_text("$662")
    expect(page.get_by_role("heading", name="Holiday Cookie Walk")).to_be_visible()
    assert page.console_errors == []

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, base, "board@example.org", PASSWORD)
    assert "/staff" not in page.url
    # The only form a board member sees is "Sign out"; the console refuses them.
    assert page.locator("form[method=post]").count() == 1
    for path in ("/staff/", "/staff/gifts/deposit", f"/staff/events/{event.id}", f"/staff/campaigns/{campaign.id}/edit"):
        response = page.goto(base + path)
        assert response.status == 403
        assert page.locator("form[method=post] button:not(.link-button)").count() == 0


def test_a_volunteer_enters_checks_one_after_another_from_the_keyboard(live_server, page, session):
    campaign = make_campaign(session, title="Giving Tuesday")
    make_donor(session, name="Ann Archer", email="ann@example.org")
    make_donor(session, name="Ben Baker", email="ben@example.org")
    create_user(session, "volunteer@example.org", "staff", PASSWORD)
    session.commit()
    sign_in(page, live_server.url, "volunteer@example.org", PASSWORD)
    page.goto(live_server.url + "/staff/gifts/new")
    page.get_by_label("Campaign", exact=True).select_option(label="Giving Tuesday · USD")
    for name, amount, number in (("Ann", "100", "501"), ("Ben", "250", "502")):
        amount_box = page.get_by_label("Amount", exact=True)
        if number == "502":
            expect(amount_box).to_be_focused()  # straight to the next check's amount after a save
            expect(page.get_by_label("Campaign", exact=True)).to_have_value(str(campaign.id))
        page.keyboard.type(amount) if number == "502" else amount_box.fill(amount)
        page.get_by_label("Check or reference number").fill(number)
        donor = page.get_by_role("combobox", name=re.compile("Donor"))
        donor.fill(name)
        expect(page.get_by_role("option", name=re.compile(name))).to_be_visible()
        donor.press("Enter")
        page.get_by_role("button", name="Save gift").click()
        expect(page.get_by_text(re.compile(r"Saved gift \d+"))).to_be_visible()
        page.wait_for_load_state()  # the next check's donor picker listens from here: typing earlier is lost
    assert sorted(session.scalars(select(Gift.amount_cents)).all()) == [10_000, 25_000]
