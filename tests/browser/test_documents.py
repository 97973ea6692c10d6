"""Year-end statements in a real browser: a volunteer previews who gets what, sends, and downloads
the pages to post."""

from pathlib import Path

from playwright.sync_api import expect

from fundraiser.auth.users import create_user
from tests.browser.conftest import sign_in
from tests.documents_helpers import pdf_pages
from tests.functional.test_documents import YEAR, mixed_year

PASSWORD = "a very good password"


def test_volunteer_sends_year_end_statements_and_downloads_the_print_pdf(app, live_server, page, session, tmp_path):
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    mixed_year(session)
    create_user(session, "volunteer@example.org", "staff", PASSWORD)
    session.commit()
    base = live_server.url

    sign_in(page, base, "volunteer@example.org", PASSWORD)
    page.get_by_role("link", name="Statements", exact=True).click()
    expect(page.get_by_role("heading", name="Year-end giving statements")).to_be_visible()
    page.get_by_label("Year", exact=True).select_option(str(YEAR))
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("[data-count=email]")).to_have_text("3")
    expect(page.locator("[data-count=print]")).to_have_text("2")
    expect(page.locator("[data-count=already]")).to_have_text("0")

    page.wait_for_load_state()  # staff.js's data-once is what keeps the second click from sending again
    page.get_by_role("button", name="Send 3 emails and prepare 2 pages to print").dblclick()  # a double-click sends once
    expect(page.get_by_text(f"{YEAR} statements: 3 emailed, 2 to print.")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the 2 pages to print (PDF)").click()
    target = Path(tmp_path) / "to-print.pdf"
    download_info.value.save_as(target)
    pages = pdf_pages(target.read_bytes())
    assert len(pages) == 2
    assert "Bob Post 9 Elm St Towson, MD 21204" in pages[0]
    assert "Ina Kind 1 Oak Ave Columbia, MD 21044" in pages[1] and "Two laptops for the helpline" in pages[1]

    page.get_by_role("link", name="Back to year-end statements").click()
    expect(page.locator("[data-count=already]")).to_have_text("5")
    expect(page.get_by_role("button", name="Send 0 emails and prepare 0 pages to print")).to_have_count(0)
    expect(page.get_by_text(f"Nothing to send for {YEAR}.")).to_be_visible()
    assert page.console_errors == []
