"""Keeping donor records as staff do, in a real browser: a new donor that looks like one already
on file is held back until staff choose "create anyway"; a gift soft-credits the fund's advisor;
two donors become a household with its combined giving."""

from playwright.sync_api import expect

from fundraiser.auth.users import create_user
from fundraiser.models import Campaign, Donor
from tests.browser.conftest import sign_in
from tests.factories import give, make_campaign, make_donor

PASSWORD = "a very good password"


def test_duplicate_warning_soft_credit_and_household(app, arrange, live_server, page):
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    with arrange() as session:
        campaign = make_campaign(session, title="Library Fund")
        fund = make_donor(session, name="Vanguard Charitable", email=None)
        make_donor(session, name="Maria Garcia", email=None, address_line1="5 Pine Rd", postal_code="60601")
        gift_id = give(session, session.get(Campaign, campaign.id), 40000, donor=session.get(Donor, fund.id)).id
        create_user(session, "staff@example.org", "staff", PASSWORD)
    base = live_server.url
    sign_in(page, base, "staff@example.org", PASSWORD)

    # A new donor close to Maria Garcia at her postal code: warned, nothing created yet.
    page.goto(f"{base}/staff/donors/new")
    page.get_by_label("Name", exact=True).fill("Mario Garcia")
    page.get_by_label("ZIP or postal code").fill("60601")
    page.get_by_role("button", name="Save donor").click()
    warning = page.locator("[data-duplicates]")
    expect(warning).to_contain_text("This may be a donor you already have")
    expect(warning.get_by_role("link", name="Maria Garcia")).to_be_visible()
    page.get_by_role("button", name="Create new donor anyway").click()
    expect(page.get_by_text("Saved Mario Garcia.")).to_be_visible()

    # The fund's gift soft-credits Mario (found with a typo) as its advisor.
    page.goto(f"{base}/staff/gifts/{gift_id}")
    page.get_by_role("combobox", name="Person or organisation to credit").fill("Mraio")
    page.get_by_role("option", name="Mario Garcia").click()
    page.get_by_label("Credited as").select_option("daf_advisor")
    page.get_by_role("button", name="Add soft credit").click()
    expect(page.locator("[data-soft-credits]")).to_contain_text("Mario Garcia")
    page.locator("[data-soft-credits]").get_by_role("link", name="Mario Garcia").click()
    expect(page.locator("[data-soft-credit-total]")).to_contain_text("$400.00")

    # Mario starts a household; Maria joins it from her page.
    page.get_by_label("Household name").fill("Garcia household")
    page.get_by_label("Mailing name").fill("The Garcia Family")
    page.get_by_role("button", name="Create household").click()
    expect(page.get_by_text("Created the household Garcia household.")).to_be_visible()
    page.goto(f"{base}/staff/donors?q=maria")
    page.get_by_role("link", name="Maria Garcia").click()
    page.get_by_label("Add to a household").select_option(label="Garcia household")
    page.get_by_role("button", name="Add to household").click()
    page.get_by_role("link", name="Garcia household").click()
    expect(page.locator("[data-member]")).to_have_count(2)
    expect(page.locator("[data-household-total]")).to_have_text("nothing yet")  # a soft credit is not giving
    assert page.console_errors == []
