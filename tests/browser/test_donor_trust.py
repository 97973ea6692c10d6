"""Staff put a cover on a campaign; a donor on a phone sees it, the page carries a sharing card and a
footer with whom to contact, and the thank-you page's button copies the link."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from PIL import Image
from playwright.sync_api import expect

from fundraiser import donations
from fundraiser.auth.users import create_user
from fundraiser.settings import current_settings
from tests.browser.conftest import sign_in
from tests.factories import make_campaign

PASSWORD = "a very good password"


def test_a_cover_uploaded_by_staff_reaches_the_page_its_card_and_the_copy_link(live_server, browser, page, session, tmp_path):
    app_base = live_server.url
    campaign = make_campaign(session, title="Safe Schools", slug="safe-schools", status="active",
                             summary="Training for every parent.")
    attempt = donations.start_attempt(session, campaign, donations.parse_donation(
        {"amount": "other", "custom_amount": "50", "name": "Dana", "email": "dana@example.org",
         "show_name": "no", "show_amount": "no"}, campaign, current_settings()))
    create_user(session, "staff@example.org", "staff", PASSWORD)
    session.commit()
    photo = tmp_path / "walk.jpg"
    Image.new("RGB", (2400, 1200), (30, 110, 90)).save(photo, format="JPEG")

    sign_in(page, app_base, "staff@example.org", PASSWORD)
    page.goto(f"{app_base}/staff/campaigns/{campaign.id}/edit")
    page.get_by_label("Image file").first.set_input_files(str(photo))
    page.get_by_label("Describe the picture (alt text)").fill("Parents on a walk for safe schools")
    page.get_by_role("button", name="Upload cover").click()
    expect(page.get_by_text("Cover image saved.")).to_be_visible()

    donor = browser.new_context(viewport={"width": 390, "height": 844}, permissions=["clipboard-read", "clipboard-write"])
    phone = donor.new_page()
    errors = []
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    phone.goto(f"{app_base}/campaigns/safe-schools")
    cover = phone.get_by_role("img", name="Parents on a walk for safe schools")
    expect(cover).to_be_visible()
    # The phone fetched a WebP no wider than it needs, and the box was reserved at the picture's shape.
    assert phone.evaluate("(img) => img.complete && img.naturalWidth > 0", cover.element_handle())
    current = cover.evaluate("img => img.currentSrc")
    assert current.endswith(".webp") and ("-960." in current or "-480." in current)
    box = cover.bounding_box()
    assert abs(box["width"] / box["height"] - 2) < 0.02
    assert phone.locator('meta[property="og:image"]').get_attribute("content").endswith("-960.jpg")
    assert phone.locator('meta[name="twitter:card"]').get_attribute("content") == "summary_large_image"
    footer = phone.locator("footer [data-trust]")
    expect(footer).to_contain_text("Players Philanthropy Fund, Inc. (EIN 27-6601178)")
    expect(footer.get_by_role("link", name="hello@example.org")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    violations = Axe().run(phone).response["violations"]
    assert violations == [], [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations]

    phone.goto(f"{app_base}/campaigns/safe-schools/thanks?d={attempt.public_id}")
    phone.get_by_role("button", name="Copy link").click()
    expect(phone.get_by_role("status").filter(has_text="Link copied.")).to_be_visible()
    assert phone.evaluate("navigator.clipboard.readText()") == f"{current_settings().base_url}/campaigns/safe-schools"
    violations = Axe().run(phone).response["violations"]
    assert violations == [], [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations]
    assert errors == []
    donor.close()
