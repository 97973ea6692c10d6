"""An admin rewrites the thank-you of check receipts in a real browser, sees the receipt a sample
gift would get (styled as emailed, without any policy violation), and saves it."""

from playwright.sync_api import expect

from fundraiser.auth.users import create_user
from fundraiser.models import ReceiptWording
from tests.browser.conftest import sign_in

PASSWORD = "a very good password"


def test_admin_edits_check_receipt_wording_and_sees_the_preview(app, live_server, page, session):
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    create_user(session, "admin@example.org", "admin", PASSWORD)
    session.commit()
    base = live_server.url
    sign_in(page, base, "admin@example.org", PASSWORD)

    page.get_by_role("link", name="Receipts", exact=True).click()
    page.get_by_role("link", name="Check, cash or bank transfer").click()
    preview = page.frame_locator("iframe.receipt-preview")
    expect(preview.get_by_text("Dear Jordan Rivera,")).to_be_visible()

    page.get_by_label("Message").fill("Dear {donor_name},\n\nYour **{amount}** check keeps the {campaign} going. {oops}")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("“{oops}” is not a placeholder we know")).to_be_visible()

    page.get_by_label("Email subject").fill("We got your check, {donor_name}")
    page.get_by_label("Message").fill("Dear {donor_name},\n\nYour **{amount}** check keeps the {campaign} going.")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("[data-preview-subject]")).to_have_text("We got your check, Jordan Rivera")
    expect(preview.get_by_text("check keeps the Spring Appeal going.")).to_be_visible()
    expect(preview.locator("strong")).to_have_text("$125.00")
    # The lines the law requires are there whatever the wording says.
    expect(preview.get_by_text("Players Philanthropy Fund, Inc., Tax ID (EIN): 27-6601178")).to_be_visible()
    expect(preview.get_by_text("No goods or services were provided in exchange for this contribution.")).to_be_visible()
    # The emailed styles apply inside the preview (the page's policy allows exactly those).
    background = preview.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")
    assert background == "rgb(244, 244, 245)"
    assert session.get(ReceiptWording, "offline") is None  # previewing saves nothing

    page.get_by_role("button", name="Save wording").click()
    expect(page.get_by_text("Saved the wording of check, cash or bank transfer receipts")).to_be_visible()
    session.rollback()  # a fresh read, after the server's commit
    assert session.get(ReceiptWording, "offline").subject == "We got your check, {donor_name}"
    # Nothing went wrong but the refused form's own answer (400), e.g. no style or image blocked.
    assert [e for e in page.console_errors if "status of 400" not in e] == []
