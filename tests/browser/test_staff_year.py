"""The staff's year in a real browser: a numbered deposit from the mail to the printed report, on a
desk and on a 320 px phone; confirmations before voiding; the wall's bulk approve; removing the demo."""

import re

from playwright.sync_api import expect
from sqlalchemy import func, select

from fundraiser.auth.users import create_user
from fundraiser.models import Campaign, DepositBatch, Donor, Gift, GiftChannel, GiftMethod
from tests.browser.conftest import sign_in
from tests.factories import give, make_campaign, make_donor

PASSWORD = "a very good password"


def staff_with_campaign(arrange, role="staff"):
    with arrange() as session:
        campaign = make_campaign(session, title="Spring Appeal")
        donor = make_donor(session, name="Ann Archer", email="ann@example.org")
        create_user(session, f"{role}@example.org", role, PASSWORD)
        return campaign.id, donor.id


def test_deposit_from_the_mail_to_the_printed_report(app, arrange, live_server, page):
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    campaign_id, donor_id = staff_with_campaign(arrange)
    with arrange() as session:
        mailed = give(session, session.get(Campaign, campaign_id), 10_000, donor=session.get(Donor, donor_id),
                      method=GiftMethod.CHECK, channel=GiftChannel.OFFLINE, reference="501")
        mailed_id = mailed.id
    base = live_server.url
    sign_in(page, base, "staff@example.org", PASSWORD)
    page.get_by_role("link", name="Deposits", exact=True).click()
    page.get_by_label("Memo").fill("First National")
    page.get_by_role("button", name="Open deposit").click()
    expect(page.get_by_role("heading", name=re.compile("Deposit 1"))).to_be_visible()

    page.locator(f"#add-{mailed_id}").check()
    page.get_by_role("button", name="Add ticked checks to deposit 1").click()
    expect(page.get_by_text("Added 1 gift to deposit 1.")).to_be_visible()

    page.get_by_label("Campaign", exact=True).select_option(label="Spring Appeal · USD")
    page.get_by_label("New donor name, row 1", exact=True).fill("Ben Baker")
    page.get_by_text("Email and address").first.click()
    page.get_by_label("Email, row 1", exact=True).fill("ben@example.org")
    page.get_by_label("Street address, row 1", exact=True).fill("2 Oak Ave")
    page.get_by_label("Amount, row 1", exact=True).fill("50")
    page.get_by_label("Check number, row 1", exact=True).fill("7001")
    expect(page.locator("[data-entered]")).to_have_text("50.00")
    page.get_by_role("button", name="Save into deposit 1").dblclick()  # a double-click saves once
    expect(page.get_by_text("Saved 1 gift totalling $50.00 into deposit 1.")).to_be_visible()

    page.get_by_label("Deposit slip total").fill("140")
    page.get_by_role("button", name="Close deposit 1").click()
    expect(page.get_by_role("alert")).to_contain_text("over by $10.00")
    page.console_errors.clear()  # the refused close answers 400, which Chromium logs
    page.get_by_label("Deposit slip total").fill("150.00")
    page.get_by_role("button", name="Close deposit 1").click()
    expect(page.get_by_text("Closed deposit 1: $150.00, matching the slip.")).to_be_visible()

    page.get_by_role("link", name="Printable deposit report").click()
    report = page.locator(".deposit-report")
    for text in ("$150.00", "7001", "501", "Ben Baker", "Ann Archer", "First National"):
        expect(report).to_contain_text(text)
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    assert page.console_errors == []
    with arrange() as session:
        assert session.scalar(select(DepositBatch.status)) == "closed"
        assert session.scalar(select(func.count()).select_from(Gift)) == 2


def tab_through_rows(page) -> list[str]:
    """Tab from the first row to the sticky bar, as a person with a keyboard does; the fields it covered."""
    page.evaluate("window.scrollTo(0, 0)")
    page.get_by_label("Amount, row 1", exact=True).focus()
    visited, hidden = [], []
    for _ in range(300):
        page.keyboard.press("Tab")
        where = page.evaluate("""() => { const el = document.activeElement, box = el.getBoundingClientRect(),
            bar = document.querySelector('.batch-total').getBoundingClientRect();
            return {name: el.id || el.tagName, inBar: !!el.closest('.batch-total'),
                    covered: box.bottom > bar.top && box.top < bar.bottom}; }""")
        if where["inBar"]:
            break
        visited.append(where["name"])
        if where["covered"]:
            hidden.append(where["name"])
    assert "rows-11-note" in visited
    return hidden


def test_on_a_320px_phone_no_focused_field_hides_behind_the_sticky_total(app, arrange, live_server, browser):
    staff_with_campaign(arrange)
    with arrange() as session:
        from fundraiser.audit import Actor
        from fundraiser.deposits import open_batch

        batch_id = open_batch(session, Actor(None), "USD").id
    context = browser.new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    try:
        sign_in(page, live_server.url, "staff@example.org", PASSWORD)
        page.goto(f"{live_server.url}/staff/deposits/{batch_id}")
        wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 321)
            .slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
        assert page.evaluate("document.documentElement.scrollWidth") <= 320, wide
        assert tab_through_rows(page) == []
        # Control: the same walk without the scroll padding does end up behind the bar.
        page.evaluate("document.documentElement.style.setProperty('scroll-padding-bottom', '0px', 'important')")
        assert tab_through_rows(page) != [], "the walk should notice a covered field"
    finally:
        context.close()


def test_voiding_asks_first_with_a_dialog(app, arrange, live_server, page):
    campaign_id, _ = staff_with_campaign(arrange)
    with arrange() as session:
        gift_id = give(session, session.get(Campaign, campaign_id), 2_500, method=GiftMethod.CASH).id
    sign_in(page, live_server.url, "staff@example.org", PASSWORD)
    page.goto(f"{live_server.url}/staff/gifts/{gift_id}")
    page.locator("#void-reason").fill("entered twice")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Void this gift").click()
    expect(page.get_by_role("heading", name=f"Gift {gift_id}")).to_be_visible()
    expect(page.locator(".badge--void")).to_have_count(0)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Void this gift").click()
    expect(page.get_by_text(f"Voided gift {gift_id}.")).to_be_visible()


def test_wall_queue_bulk_hide(app, arrange, live_server, page):
    app.config["WTF_CSRF_ENABLED"] = True
    campaign_id, _ = staff_with_campaign(arrange)
    with arrange() as session:
        campaign = session.get(Campaign, campaign_id)
        ids = [give(session, campaign, 5_000, donor=make_donor(session, name=name), channel=GiftChannel.ONLINE,
                    method=GiftMethod.CARD, is_anonymous=False, public_comment=f"{name} says hi").id
               for name in ("Cara", "Dan", "Eve")]
    sign_in(page, live_server.url, "staff@example.org", PASSWORD)
    page.goto(f"{live_server.url}/staff/wall?show=all")
    page.get_by_label(f"Choose gift #{ids[0]}").check()
    page.get_by_label(f"Choose gift #{ids[2]}").check()
    page.get_by_role("button", name="Hide name, dedication and comment").click()
    expect(page.get_by_text("2 entries hidden from the wall")).to_be_visible()
    page.goto(f"{live_server.url}/campaigns/{campaign.slug}")
    expect(page.get_by_text("Dan says hi")).to_be_visible()
    expect(page.get_by_text("Cara says hi")).to_have_count(0)


def test_admin_removes_the_demo_from_the_console(app, arrange, live_server, page):
    with arrange() as session:
        from fundraiser.demo import seed_demo

        seed_demo(session)
        create_user(session, "admin@example.org", "admin", PASSWORD)
    sign_in(page, live_server.url, "admin@example.org", PASSWORD)
    expect(page.locator(".sample-banner")).to_be_visible()
    page.wait_for_load_state()  # staff.js asks before removing: a click before it ran gets the no-script page
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove the demo data").click()
    expect(page.get_by_text(re.compile("Removed the demo"))).to_be_visible()
    expect(page.locator(".sample-banner")).to_have_count(0)
    with arrange() as session:
        assert session.scalar(select(func.count()).select_from(Gift)) == 0
