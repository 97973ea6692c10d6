"""The Settings page in a real browser: an admin replaces the demo identity and uploads a logo, and
the next receipt names the new fiscal sponsor; a mistyped EIN or email is named and nothing is
saved; staff and board accounts can't open the page."""

from __future__ import annotations

import io
import re

from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from fundraiser.auth.users import create_user
from fundraiser.models import OutboxMessage
from fundraiser.organisation import load_organisation
from fundraiser.settings import current_settings
from tests.browser.conftest import sign_in
from tests.factories import make_campaign, make_donor

PASSWORD = "a very good password"


def png_logo() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (800, 300), (20, 90, 160, 255)).save(out, format="PNG")
    return out.getvalue()


def test_admin_sets_the_identity_and_the_next_receipt_names_the_new_sponsor(app, live_server, page, session):
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    make_campaign(session, title="Reading Room")
    make_donor(session, name="Ann Archer", email="ann@example.org")
    create_user(session, "admin@example.org", "admin", PASSWORD)
    session.commit()
    base = live_server.url

    sign_in(page, base, "admin@example.org", PASSWORD)
    page.get_by_role("link", name="Settings", exact=True).click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    page.get_by_label("Public name").fill("Friends of the Towson Library")
    page.get_by_label("Legal name", exact=True).fill("Friends of the Towson Library, Inc.")
    page.get_by_label("Fiscal sponsor's legal name").fill("Maryland Nonprofit Partners")
    page.get_by_label("Fiscal sponsor's EIN").fill("52-1234567")
    page.get_by_label("Mailing address").fill("1 Main Street\nTowson, MD 21204")
    page.get_by_label("Contact email").fill("hello@towsonfriends.example")
    page.get_by_label("Phone").fill("(410) 555-0199")
    page.get_by_label("Website").fill("https://towsonfriends.example")
    page.get_by_label("Refund policy").fill("Refunds within **30 days**, no questions asked.")
    page.get_by_label("Image file").set_input_files({"name": "logo.png", "mimeType": "image/png", "buffer": png_logo()})
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text(re.compile(r"^Saved: Public name, Legal name"))).to_be_visible()
    expect(page.get_by_role("img", name="Current logo of Friends of the Towson Library")).to_be_visible()
    assert page.locator("img.logo-preview").evaluate("img => img.naturalWidth") == 600
    expect(page.get_by_text("Receipts and letters would go out under the demo")).to_have_count(0)
    expect(page.get_by_label("Fiscal sponsor's EIN")).to_have_value("52-1234567")

    page.goto(base + "/refund-policy")
    expect(page.locator("strong", has_text="30 days")).to_be_visible()
    expect(page.locator(".site-footer")).to_contain_text("Maryland Nonprofit Partners (EIN 52-1234567)")

    # A gift entered now gets a receipt in the new name.
    page.goto(base + "/staff/gifts/new")
    page.get_by_label("Campaign", exact=True).select_option(label="Reading Room · USD")
    donor = page.get_by_label("Donor", exact=True)
    donor.fill("Ann")
    expect(page.get_by_role("option", name=re.compile("Ann Archer"))).to_be_visible()
    donor.press("Enter")
    page.get_by_label("Amount", exact=True).fill("75")
    page.get_by_role("button", name=re.compile("Save")).first.click()
    expect(page.get_by_text(re.compile(r"Saved gift \d+: \$75\.00"))).to_be_visible()
    receipt = session.scalar(select(OutboxMessage).where(OutboxMessage.to_email == "ann@example.org"))
    assert "Maryland Nonprofit Partners" in receipt.body_text and "52-1234567" in receipt.body_text
    assert "Friends of the Towson Library" in receipt.subject
    assert "Players Philanthropy Fund" not in receipt.body_text
    assert page.console_errors == []


def test_a_mistyped_ein_or_email_is_named_and_nothing_is_saved(app, live_server, page, session):
    app.config["WTF_CSRF_ENABLED"] = True
    create_user(session, "admin@example.org", "admin", PASSWORD)
    session.commit()
    base = live_server.url
    sign_in(page, base, "admin@example.org", PASSWORD)
    page.goto(base + "/staff/settings")
    page.get_by_label("Public name").fill("A New Name")
    page.get_by_label("Fiscal sponsor's EIN").fill("27-66011")
    page.get_by_label("Contact email").fill("hello at example")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("alert").filter(has_text="Nothing was saved")).to_be_visible()
    ein = page.get_by_label("Fiscal sponsor's EIN")
    expect(ein).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#sponsor_ein-error")).to_have_text("The sponsor's EIN must be nine digits written like 12-3456789.")
    expect(page.locator("#contact_email-error")).to_contain_text("Please enter a contact email address like info@example.org")
    expect(page.get_by_label("Public name")).to_have_value("A New Name")  # what was typed is kept to fix
    session.expire_all()
    stored = load_organisation(session, current_settings())
    assert stored.name == "Together, We Can End Restraint and Seclusion" and stored.sponsor_ein == "27-6601178"


def test_staff_and_board_are_refused_the_settings_page(app, live_server, page, session):
    create_user(session, "volunteer@example.org", "staff", PASSWORD)
    create_user(session, "board@example.org", "board", PASSWORD)
    session.commit()
    base = live_server.url
    for email in ("volunteer@example.org", "board@example.org"):
        page.context.clear_cookies()
        sign_in(page, base, email, PASSWORD)
        response = page.goto(base + "/staff/settings")
        assert response.status == 403
        # The 403 page speaks to the person signed in: the board is sent to its dashboard.
        expect(page.get_by_role("heading", name="This page is for")).to_be_visible()
    page.context.clear_cookies()
    sign_in(page, base, "volunteer@example.org", PASSWORD)
    page.goto(base + "/staff/")
    expect(page.get_by_role("link", name="Settings", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Mail", exact=True)).to_be_visible()


def test_admin_downloads_a_backup_that_restores_every_gift_and_picture(app, arrange, live_server, page, runner, tmp_path):
    """A volunteer admin keeps a backup without a terminal: one file from the Settings page, which
    `flask restore` takes back, database and pictures, after the site lost both."""
    import tarfile
    from pathlib import Path

    from sqlalchemy import func

    from fundraiser.models import AuditLog, Gift
    from tests.factories import give

    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    with arrange() as session:
        campaign = make_campaign(session, title="Reading Room")
        for cents in (2500, 10_000):
            give(session, campaign, cents)
        create_user(session, "admin@example.org", "admin", PASSWORD)
    cover = Path(app.instance_path) / "covers" / "9f3a-480.webp"
    cover.parent.mkdir(parents=True, exist_ok=True)
    cover.write_bytes(b"the cover's bytes")

    sign_in(page, live_server.url, "admin@example.org", PASSWORD)
    page.goto(live_server.url + "/staff/settings")
    expect(page.get_by_role("heading", name="Backup", exact=True)).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download a backup").click()
    download = download_info.value
    assert re.fullmatch(r"fundraiser-\d{8}-\d{6}\.tar", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    unpacked = tmp_path / "unpacked"
    with tarfile.open(saved) as tar:
        names = tar.getnames()
        tar.extractall(unpacked, filter="data")
    database = next(unpacked / n for n in names if not n.endswith(".pictures.tar"))
    assert (unpacked / f"{database.name}.pictures.tar").is_file()

    page.goto(live_server.url + "/staff/audit")
    expect(page.get_by_text("downloaded a backup of everything")).to_be_visible()
    with arrange() as session:
        assert session.scalar(select(AuditLog.action).where(AuditLog.action == "backup.download")) == "backup.download"
        give(session, session.get(type(campaign), campaign.id), 99_900)  # after the backup: the restore drops it
    cover.unlink()
    result = runner.invoke(args=["restore", str(database), "--yes"])
    assert result.exit_code == 0, result.output
    with arrange() as session:
        assert session.scalar(select(func.count()).select_from(Gift)) == 2
    assert cover.read_bytes() == b"the cover's bytes"
    assert page.console_errors == []
