"""Importing history in a real browser: a volunteer uploads a Donorbox export as Excel saved it,
maps a campaign value, imports, and watches the progress page report what happened."""

from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import func, select

from fundraiser.auth.users import create_user
from fundraiser.ledger import verify_totals
from fundraiser.models import CampaignTotals, Gift
from tests.browser.conftest import sign_in
from tests.factories import make_campaign

PASSWORD = "a very good password"
DONORBOX = Path(__file__).resolve().parent.parent / "fixtures" / "imports" / "donorbox.csv"


def test_volunteer_imports_a_donorbox_export(app, live_server, page, session):
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    spring = make_campaign(session, slug="spring", title="Spring Appeal")
    general = make_campaign(session, slug="general", title="General Fund")
    create_user(session, "volunteer@example.org", "staff", PASSWORD)
    session.commit()
    base = live_server.url

    sign_in(page, base, "volunteer@example.org", PASSWORD)
    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label("CSV file").set_input_files(str(DONORBOX))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_text("Read as Windows-1252; columns guessed for Donorbox.", exact=False)).to_be_visible()
    expect(page.get_by_label("Exported from")).to_have_value("donorbox")
    expect(page.locator("#import-rows")).to_contain_text("Zoë Quinn")
    expect(page.locator("#import-rows")).to_contain_text("isn't matched to one of ours")

    page.get_by_label("Spring Appeal 2025").select_option(label="Spring Appeal · USD")
    page.get_by_role("button", name="Check again with these choices").click()
    expect(page.locator("#import-summary")).to_contain_text("7 rows to import")
    expect(page.locator("#import-summary")).to_contain_text("1 row with problems")
    expect(page.locator("#import-rows")).to_contain_text("repeats transaction R-1002 of row 3")

    page.get_by_role("button", name="Import 7 rows").click()
    expect(page.locator("#import-status")).to_have_text("Done.", timeout=30_000)
    expect(page.locator("#import-summary")).to_contain_text("Imported 7 gifts; recorded 2 refunds.")
    expect(page.locator("#import-summary")).to_contain_text("Row 10: problem: amount:")
    assert page.console_errors == []

    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Gift)) == 7
    assert session.get(CampaignTotals, spring.id).raised_cents == 100000 + 6000 + 25000
    assert session.get(CampaignTotals, general.id).raised_cents == 5000 + 1500 + 3000
    assert verify_totals(session) == []
