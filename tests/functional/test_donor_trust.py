"""What makes a donor trust the pages: the campaign's picture, a real card when the link is shared,
who runs the campaign and how to reach them, giving by check, and errors in our own words."""

from __future__ import annotations

import io
import re
import struct
import zlib

import pytest
from PIL import Image

from fundraiser import campaigns, donations, organisation
from fundraiser.audit import Actor
from fundraiser.settings import current_settings
from tests.factories import make_campaign
from tests.functional.staff_helpers import sign_in_as
from tests.payments.conftest import STRIPE_SETTINGS

BASE = "https://give.example.org"
ADDRESS = "PO Box 1234 | Baltimore, MD 21203"


@pytest.fixture
def app(make_app):
    return make_app(BASE_URL=BASE, ORG_PRIVACY_POLICY="We never sell your data.",
                    ORG_REFUND_POLICY="Write to us within 30 days.")


def picture(size=(2000, 1000), fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 90, 40)).save(out, format=fmt)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims these dimensions: a decompression bomb's calling card."""
    data = bytearray(picture((1, 1)))
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def upload_cover(client, campaign, data: bytes, alt: str = "Parents and teachers at a training day"):
    return client.post(f"/staff/campaigns/{campaign.id}/cover", content_type="multipart/form-data",
                       data={"cover": (io.BytesIO(data), "cover.png"), "cover_alt": alt})


def meta(html: str, key: str) -> str | None:
    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', html)
    return found.group(1) if found else None


@pytest.mark.parametrize(
    ("data", "alt", "message"),
    [
        (b"<svg onload=alert(1)>", "A picture", "PNG, JPEG, WebP or GIF"),
        (png_claiming(30_000, 30_000), "A picture", "too large in pixels"),
        (png_claiming(8_000, 6_000), "A picture", "too large in pixels"),
        (picture((300, 200)), "   ", "alt text"),
    ],
    ids=["not-an-image", "pillow-bomb", "over-40-megapixels", "no-alt-text"],
)
def test_a_cover_that_cannot_be_used_is_refused_and_the_old_one_stays(app, session, data, alt, message):
    campaign = make_campaign(session, status="active")
    client = sign_in_as(app, session, "staff")
    upload_cover(client, campaign, picture((800, 400)))
    session.refresh(campaign)
    before = (campaign.cover_image, campaign.cover_alt)
    refused = upload_cover(client, campaign, data, alt)
    assert refused.status_code == 400 and message in refused.get_data(as_text=True)
    session.refresh(campaign)
    assert (campaign.cover_image, campaign.cover_alt) == before


def test_the_cover_is_resized_and_shown_on_the_campaign_page_the_list_and_the_widget(app, session, client):
    campaign = make_campaign(session, status="active", title="Safe Schools", slug="safe-schools")
    staff = sign_in_as(app, session, "staff")
    assert upload_cover(staff, campaign, picture((2000, 1000))).status_code == 302
    session.refresh(campaign)
    assert (campaign.cover_width, campaign.cover_height) == (1600, 800)
    for width in (480, 960, 1600):
        with client.get(f"/media/covers/{campaign.cover_image}-{width}.webp") as webp:
            assert webp.status_code == 200 and webp.data[8:12] == b"WEBP"
        with client.get(f"/media/covers/{campaign.cover_image}-{width}.jpg") as jpeg:
            assert Image.open(io.BytesIO(jpeg.data)).size == (width, width // 2)
    for path in ("/campaigns/safe-schools", "/", "/embed/campaigns/safe-schools"):
        html = client.get(path).get_data(as_text=True)
        assert f'srcset="/media/covers/{campaign.cover_image}-480.webp 480w, ' in html, path
        assert 'width="1600" height="800" alt="Parents and teachers at a training day"' in html, path


def test_story_pictures_are_uploaded_served_from_our_address_and_others_are_dropped(app, session, client):
    campaign = make_campaign(session, status="active", slug="story")
    staff = sign_in_as(app, session, "staff")
    done = staff.post(f"/staff/campaigns/{campaign.id}/story-images", content_type="multipart/form-data",
                      data={"story_image": (io.BytesIO(picture((1800, 900), "JPEG")), "walk.jpg")})
    assert done.status_code == 302
    flashed = staff.get(done.headers["Location"]).get_data(as_text=True)
    src = re.search(r"\((/media/story/[0-9a-f]{20}\.webp)\)", flashed).group(1)
    with client.get(src) as served:
        assert Image.open(io.BytesIO(served.data)).size == (1200, 600)
    html = campaigns.render_story(f"![Our walk]({src}) ![tracker](https://tracker.example/p.gif)")
    assert "tracker.example" not in html
    # Its size is on the page, so the story does not jump when the picture arrives on a phone.
    assert f'<img alt="Our walk" src="{src}" width="1200" height="600" loading="lazy">' in html
    missing = "/media/story/" + "0" * 20 + ".webp"
    assert f'<img alt="Gone" src="{missing}">' in campaigns.render_story(f"![Gone]({missing})")
    campaign.story_md = f"Thank you for walking.\n\n![Our walk]({src})"
    session.commit()
    page = client.get("/campaigns/story").get_data(as_text=True)
    assert f'<img alt="Our walk" src="{src}" width="1200" height="600" loading="lazy">' in page


def test_sharing_cards_use_absolute_addresses_and_the_logo_without_a_cover(app, session, client):
    campaign = make_campaign(session, status="active", title="Safe Schools", slug="safe-schools",
                             summary="Training for every parent.")
    attempt = start_attempt(session, campaign)
    session.commit()
    home = client.get("/").get_data(as_text=True)
    assert meta(home, "og:url") == f"{BASE}/" and meta(home, "og:image") is None
    organisation.update_organisation(session, current_settings(), {"logo_file": "branding/logo-x.png"},
                                     Actor(None, "127.0.0.1"))
    session.commit()
    page = client.get("/campaigns/safe-schools").get_data(as_text=True)
    assert (meta(page, "og:title"), meta(page, "og:description"), meta(page, "og:url")) == (
        "Safe Schools", "Training for every parent.", f"{BASE}/campaigns/safe-schools")
    assert meta(page, "og:image") == f"{BASE}/media/branding/logo-x.png" and meta(page, "twitter:card") == "summary"
    upload_cover(sign_in_as(app, session, "staff"), campaign, picture((1200, 630)))
    session.refresh(campaign)
    thanks = client.get(f"/campaigns/safe-schools/thanks?d={attempt.public_id}").get_data(as_text=True)
    assert meta(thanks, "og:image") == f"{BASE}/media/covers/{campaign.cover_image}-960.jpg"
    assert meta(thanks, "twitter:card") == "summary_large_image" and meta(thanks, "og:url") == f"{BASE}/campaigns/safe-schools"
    # The copy-link field: the link to select, whether or not the button can copy it.
    assert f'<input id="share-url" type="url" value="{BASE}/campaigns/safe-schools" readonly' in thanks


def start_attempt(session, campaign):
    request = donations.parse_donation(
        {"amount": "other", "custom_amount": "50", "name": "Dana", "email": "dana@example.org",
         "show_name": "no", "show_amount": "no"}, campaign, current_settings())
    return donations.start_attempt(session, campaign, request)


def test_every_public_page_says_who_runs_it_and_how_to_reach_them(app, session, client):
    campaign = make_campaign(session, status="active", slug="safe-schools")
    attempt = start_attempt(session, campaign)
    session.commit()
    pages = ["/", "/campaigns/safe-schools", f"/campaigns/safe-schools/thanks?d={attempt.public_id}", "/privacy",
             "/refund-policy", "/embed/campaigns/safe-schools", "/campaigns/nowhere"]
    for path in pages:
        html = client.get(path).get_data(as_text=True)
        footer = html[html.index("data-trust"):]
        for text in ("hello@example.org", "(410) 555-0134", "Players Philanthropy Fund, Inc.", "EIN 27-6601178",
                     'href="/privacy"', 'href="/refund-policy"'):
            assert text in footer, (path, text)
        if "embed" not in path:
            assert "PO Box 1234, Baltimore, MD 21203" in footer, path
            assert footer.count("EIN 27-6601178") == 1, path  # the sponsor statement says it; once is enough


def test_without_online_giving_the_page_says_how_to_give_by_check(session, client):
    make_campaign(session, status="active", slug="safe-schools", title="Safe Schools")
    session.commit()
    html = client.get("/campaigns/safe-schools").get_data(as_text=True)
    check = html[html.index("data-give-by-check"):]
    assert "payable to <strong>Players Philanthropy Fund, Inc.</strong>" in check
    assert "End Restraint and Seclusion Maryland, Safe Schools" in check
    assert "PO Box 1234<br>Baltimore, MD 21203" in check


def test_a_processor_failure_says_nothing_was_charged_and_how_to_reach_us(make_app):
    """STRIPE_API_BASE is a closed port: a real connection failure, in the processor's words nowhere."""
    app = make_app(**STRIPE_SETTINGS)
    client = app.test_client()
    with app.app_context():
        from fundraiser.db import get_session

        session = get_session()
        make_campaign(session, status="active", slug="safe-schools")
        session.commit()
    form = {"amount": "other", "custom_amount": "50", "name": "Dana", "email": "dana@example.org",
            "show_name": "no", "show_amount": "no"}
    api = client.post("/api/campaigns/safe-schools/donations", data=form)
    message = api.get_json()["error"]["message"]
    assert api.status_code == 503 and "nothing was charged" in message
    assert message.endswith("Questions? Write to us at hello@example.org or call (410) 555-0134.")
    page = client.post("/campaigns/safe-schools/donate", data=form)
    html = page.get_data(as_text=True)
    assert page.status_code == 502 and "data-give-by-check" in html and "Questions? Write to us" in html
    assert "Connection refused" not in html and "127.0.0.1:9" not in html


def test_a_cover_from_before_resizing_waits_for_alt_text_before_donors_see_it(app, session, client):
    campaign = make_campaign(session, status="active", slug="old-cover")
    campaign.cover_image = f"{campaign.id}-0123456789abcdef.png"  # stored whole, with no size or alt text
    session.commit()
    assert "<picture" not in client.get("/campaigns/old-cover").get_data(as_text=True)
    staff_page = sign_in_as(app, session, "staff").get(f"/staff/campaigns/{campaign.id}/edit").get_data(as_text=True)
    assert "isn't shown to donors. Please upload it again with a description." in staff_page
