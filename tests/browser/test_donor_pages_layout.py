"""Every public page on phones and a desktop, in a real browser: nothing scrolls sideways (WCAG
1.4.10), the campaign page's Donate button is in the first screen, typing an "Other" amount chooses
it, and axe-core finds nothing (best practices included). One page load per page per width."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect
from sqlalchemy import select

from fundraiser import wall
from fundraiser.audit import Actor
from fundraiser.auth.users import create_user
from fundraiser.db import new_session
from fundraiser.models import (
    AttemptStatus,
    Campaign,
    DonationAttempt,
    DonationFrequency,
    Donor,
    Gift,
    GiftChannel,
    GiftMethod,
    MatchingChallenge,
)
from tests.browser.conftest import sign_in
from tests.browser.test_donate_flow import open_form, serve_stand_in_stripe_js
from tests.conftest import LiveServer
from tests.factories import give, make_campaign, make_donor, make_event, make_match
from tests.netutil import free_port, serve_in_thread
from tests.payments.conftest import make_stripe_app
from tests.payments.test_localstripe_e2e import localstripe  # noqa: F401  (fixture: the fake Stripe server)

WIDTHS = (320, 360, 390, 1280)
# The organisation's own website, for the give button: another origin on this machine (a browser
# refuses a public page's script from a loopback address, so it can't be a made-up domain).
SITE_PORT = free_port()
ORGANISATION_SITE = f"http://127.0.0.1:{SITE_PORT}"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
# For the failure message: the innermost elements that stick out on the right.
STICKING_OUT = """() => Array.from(document.querySelectorAll('body *')).filter(el =>
  el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5 &&
  !Array.from(el.children).some(c => c.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5))
  .slice(0, 5).map(el => el.tagName + '.' + el.className + ' ' + (el.textContent || '').trim().slice(0, 40))"""


@pytest.fixture
def app(make_app):
    return make_stripe_app(make_app, ORG_PRIVACY_POLICY="We keep your details private.",
                           EMBED_ALLOWED_ORIGINS=ORGANISATION_SITE)


@pytest.fixture
def pages(session) -> dict[str, str]:
    """A campaign with everything a page can hold, a gift's thank-you page, and the widget."""
    campaign = make_campaign(
        session, slug="spring", title="Spring appeal for the Parent Advocacy Training Programme",
        goal_cents=2_500_000, stretch_goal_cents=4_000_000, suggested_amounts=[2500, 5000, 10000],
        default_amount_cents=5000, impact_lines={"5000": "buys a parent's training workbook"},
        story_md="Our **story**: " + "Advocacy-for-every-family " * 20,
    )
    make_match(session, campaign, 500_000, sponsor="The Anne Arundel Community Foundation",
               description="Doubles every gift.")
    event = make_event(session, campaign, name="Cookie walk")
    for n, amount in enumerate((1_234_56, 5_000, 25_000)):
        give(session, campaign, amount, donor=make_donor(session, name=f"Bartholomew Longname-Fitzgerald {n}"),
             channel=GiftChannel.ONLINE, method=GiftMethod.CARD, show_amount=n != 1,
             public_comment="So glad to help! " * 5, event_id=event.id if n == 2 else None)
    attempt = DonationAttempt(
        public_id=str(uuid.uuid4()), campaign=campaign, frequency=DonationFrequency.MONTHLY, amount_cents=5000,
        currency="USD", donor_name="Erin Example", donor_email="erin@example.org",
        choices={"show_name": True, "show_amount": False}, status=AttemptStatus.STARTED,
    )
    session.add(attempt)
    session.commit()
    return {
        "home": "/",
        "campaign": "/campaigns/spring",
        "thanks": f"/campaigns/spring/thanks?d={attempt.public_id}",
        "widget": "/embed/campaigns/spring",
        "widget thanks": f"/embed/campaigns/spring/thanks?d={attempt.public_id}",
        "privacy": "/privacy",
    }


def axe_violations(page) -> list:
    return [(v["id"], [n["target"] for n in v["nodes"]]) for v in Axe().run(page).response["violations"]]


@pytest.mark.parametrize("width", WIDTHS)
def test_public_pages_fit_the_screen_show_donate_first_and_pass_axe(live_server, page, pages, width):
    page.route("https://js.stripe.com/**", lambda route: route.abort())  # no network here
    page.set_viewport_size({"width": width, "height": 640 if width < 1000 else 800})
    for name, path in pages.items():
        page.goto(live_server.url + path)
        assert page.evaluate(NO_SIDEWAYS_SCROLL), (name, width, page.evaluate(STICKING_OUT))
        assert axe_violations(page) == [], (name, width, axe_violations(page))
        if name != "campaign":
            continue
        header_donate = page.get_by_role("banner").get_by_role("link", name="Donate")
        box = header_donate.bounding_box()
        assert box is not None and box["y"] + box["height"] <= page.viewport_size["height"], (width, box)
        bar = page.locator(".donate-bar")
        if width < 896:
            expect(bar).to_be_visible()
        else:
            expect(bar).to_be_hidden()
            # On a desktop the form comes before the matching panel.
            assert page.evaluate("""() => {
              const form = document.querySelector('#give'), matches = document.querySelector('[data-matches]');
              return form.getBoundingClientRect().top < matches.getBoundingClientRect().top; }""")
        # The campaign's default amount and its impact line; typing "Other" chooses it.
        preset = page.get_by_role("radio", name="$50 buys a parent's training workbook")
        expect(preset).to_be_checked()
        header_donate.click()
        expect(page.get_by_role("radio", name="One time")).to_be_in_viewport()
        expect(bar).to_be_hidden()  # at the form, the bar that leads to it steps aside
        other = page.get_by_role("textbox", name="Other amount (USD)")
        other.fill("35")
        expect(page.get_by_role("radio", name="Other")).to_be_checked()
        expect(page.locator("[data-fee-preview]")).to_have_text("(+$1.10)")
        preset.check()
        expect(other).to_have_value("")
        expect(page.locator("[data-fee-preview]")).to_have_text("(+$1.44)")
        # The organisation's privacy defaults are preselected; the recurring consent waits for a schedule.
        expect(page.get_by_role("radio", name="Yes, show my name")).to_be_checked()
        expect(page.get_by_role("radio", name="No, keep it private")).to_be_checked()
        consent = page.get_by_role("checkbox", name="I understand and authorize this quarterly charge.")
        expect(consent).to_be_hidden()
        page.get_by_role("radio", name="Quarterly").check()
        expect(consent).to_be_visible()
        expect(page.locator(".monthly-consent")).to_contain_text("on the same day every three months")
        # The consent sentence wraps as one text beside its box (not a column a phrase) and fits.
        assert page.evaluate(NO_SIDEWAYS_SCROLL), (width, page.evaluate(STICKING_OUT))
        # An amount that can't be given has no fee preview (a huge one would push the page sideways).
        for refused in ("99999999999999999999", "1"):
            other.fill(refused)
            expect(page.locator("[data-fee-preview]")).to_have_text("")
            assert page.evaluate(NO_SIDEWAYS_SCROLL), (width, refused, page.evaluate(STICKING_OUT))
    assert page.console_errors == [] or all("js.stripe.com" in e or "ERR_FAILED" in e for e in page.console_errors)


def test_staff_pages_fit_a_phone_and_200_percent_zoom(live_server, page, pages, session):
    create_user(session, "admin@example.org", "admin", "a very good password")
    session.commit()
    sign_in(page, live_server.url, "admin@example.org", "a very good password")
    campaign_id = session.scalar(select(MatchingChallenge.campaign_id))
    paths = ["/staff/", "/staff/campaigns", f"/staff/campaigns/{campaign_id}/edit", "/staff/gifts", "/staff/donors",
             "/staff/gifts/new", "/staff/settings", "/staff/wall", "/staff/events", "/staff/deposits"]
    # 320 CSS pixels: a phone, and a 640-pixel window at 200% zoom is the same layout width.
    for viewport in ({"width": 320, "height": 640}, {"width": 640, "height": 480}):
        page.set_viewport_size(viewport)
        for path in paths:
            response = page.goto(live_server.url + path)
            assert response.ok, path
            assert page.evaluate(NO_SIDEWAYS_SCROLL), (path, viewport, page.evaluate(STICKING_OUT))


def test_a_name_staff_hide_leaves_the_open_page(live_server, page, pages, session):
    page.route("https://js.stripe.com/**", lambda route: route.abort())
    page.goto(live_server.url + pages["campaign"])
    supporters = page.locator("[data-supporters]")
    expect(supporters).to_contain_text("Bartholomew Longname-Fitzgerald 2")
    gift = session.scalar(select(Gift).join(Donor).where(Donor.name == "Bartholomew Longname-Fitzgerald 2"))
    wall.moderate(session, Actor(user_id=None), gift, "hide_name")
    session.commit()
    expect(supporters).not_to_contain_text("Bartholomew Longname-Fitzgerald 2", timeout=10_000)
    expect(supporters.locator("li").first).to_contain_text("Anonymous")
    expect(supporters).not_to_contain_text("$50.00")  # the gift whose donor hid its amount


def test_errors_in_a_closed_section_and_network_errors_leave_focus_on_a_control(live_server, page, pages):
    serve_stand_in_stripe_js(page)
    page.route("**/api/campaigns/spring/donations", lambda route: route.abort())
    open_form(page, live_server.url + pages["campaign"], "on-page")
    page.get_by_label("Your name (for your receipt)").fill("Dana Donor")
    page.get_by_label("Email (your receipt goes here)").fill("dana@example.org")
    continue_button = page.get_by_role("button", name="Continue to payment")
    continue_button.click()
    expect(page.locator("[data-pay-error]")).to_contain_text("We couldn't reach the server. Nothing was charged")
    expect(continue_button).to_be_focused()
    expect(continue_button).not_to_have_attribute("aria-disabled", "true")

    page.unroute("**/api/campaigns/spring/donations")
    dedication = page.locator("details.dedication")
    dedication.locator("summary").click()
    page.get_by_label("Dedication", exact=True).select_option("honour")
    dedication.locator("summary").click()  # closed again, the name left empty
    continue_button.click()
    expect(page.get_by_label("Name of the person")).to_be_focused()
    expect(dedication).to_have_attribute("open", "")


def test_the_give_button_opens_the_form_over_the_organisations_page(live_server, page, pages):
    page.route("https://js.stripe.com/**", lambda route: route.abort())
    html = (f'<!doctype html><html lang="en"><title>Our news</title><main><h1>News</h1>'
            f'<script src="{live_server.url}/static/js/give-button.js" data-campaign="{live_server.url}{pages["widget"]}"'
            ' data-label="Donate to Spring" defer></script><a href="#more">More news</a></main></html>')
    site = serve_page(html)
    try:
        give_button_walk(page)
    finally:
        site.shutdown()
        site.server_close()


def serve_page(html: str) -> ThreadingHTTPServer:
    """The organisation's page, on its own port."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", SITE_PORT), Page)
    serve_in_thread(server)
    return server


def give_button_walk(page) -> None:
    page.goto(ORGANISATION_SITE + "/")
    button = page.get_by_role("button", name="Donate to Spring")
    button.click()
    dialog = page.get_by_role("dialog", name="Donate to Spring")
    expect(dialog).to_be_visible()
    close = dialog.get_by_role("button", name="Close")
    expect(close).to_be_focused()
    frame = dialog.locator("iframe")
    assert frame.get_attribute("allow") == "payment"
    # The form is open at once inside the overlay.
    expect(page.frame_locator("iframe").get_by_role("radio", name="One time")).to_be_visible()
    frame.element_handle().content_frame().wait_for_load_state()  # embed.js passes Escape on from here
    # Focus stays in the dialog: back from Close wraps to the form's frame, forward wraps to Close.
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.tagName") == "IFRAME"
    page.frame_locator("iframe").get_by_role("radio", name="Monthly").press("Escape")  # inside the form: the frame tells the page
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()

    button.press("Enter")
    expect(close).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()


def test_after_change_my_details_focus_is_on_the_amount(make_app, localstripe, page):  # noqa: F811
    app = make_app(STRIPE_SECRET_KEY="sk_test_x", STRIPE_PUBLISHABLE_KEY="pk_test_x",
                   STRIPE_WEBHOOK_SECRET="whsec_x", STRIPE_API_BASE=localstripe)
    with app.app_context():
        db = new_session(write=True)
        make_campaign(db, slug="autumn", title="Autumn appeal")
        db.commit()
        db.close()
    server = LiveServer(app).start()
    try:
        serve_stand_in_stripe_js(page)
        open_form(page, f"{server.url}/campaigns/autumn", "on-page")
        page.get_by_role("radio", name="$50").check()
        page.get_by_label("Your name (for your receipt)").fill("Dana Donor")
        page.get_by_label("Email (your receipt goes here)").fill("dana@example.org")
        page.get_by_role("button", name="Continue to payment").click()
        page.get_by_role("button", name="Change my details").click()
        expect(page.get_by_role("radio", name="$50")).to_be_focused()
    finally:
        server.stop()


def test_back_from_checkout_without_paying_the_notice_takes_focus(live_server, page, pages):
    """Stripe's cancel link leads to the form (#give) with the donor's details; a screen reader
    must hear first that nothing was charged."""
    page.goto(live_server.url + pages["thanks"].replace("/thanks?", "?") + "#give")
    notice = page.get_by_role("alert").filter(has_text="Your payment was cancelled, so nothing was charged.")
    expect(notice).to_be_focused()
    expect(page.get_by_label("Your name (for your receipt)")).to_have_value("Erin Example")


# A WordPress theme's habits that break embeds: attributes overridden, buttons unstyled.
THEME = ("<style>iframe { max-width: 100%; height: auto } button { all: unset } * { box-sizing: content-box }"
         " main { max-width: 640px }</style>")


def test_the_snippet_staff_copy_fits_a_themed_page_and_follows_its_content(app, live_server, page, pages, session):
    """The volunteer's path: copy the widget snippet from the console, paste it into the website."""
    app.extensions["fundraiser.settings"] = replace(app.extensions["fundraiser.settings"], base_url=live_server.url)
    create_user(session, "admin@example.org", "admin", "a very good password")
    session.commit()
    page.route("https://js.stripe.com/**", lambda route: route.abort())
    sign_in(page, live_server.url, "admin@example.org", "a very good password")
    campaign_id = session.scalar(select(Campaign.id).where(Campaign.slug == "spring"))
    page.goto(f"{live_server.url}/staff/campaigns/{campaign_id}/edit")
    expect(page.locator("[data-base-url-differs]")).to_have_count(0)  # the snippet points where staff are
    snippet = page.get_by_label("The widget: the live bar and the form, in the page").input_value()
    site = serve_page(f'<!doctype html><html lang="en"><title>Our news</title>{THEME}<main><h1>News</h1>{snippet}</main></html>')
    try:
        page.goto(ORGANISATION_SITE + "/")
        frame = page.locator("iframe")
        widget = page.frame_locator("iframe")
        expect(widget.get_by_role("heading", name=re.compile("Spring appeal"))).to_be_visible()

        def fits() -> bool:  # the iframe as tall as what it shows: no empty band, no inner scroll bar
            inner = frame.element_handle().content_frame().evaluate("document.documentElement.offsetHeight")
            return abs(frame.bounding_box()["height"] - inner) <= 2

        page.wait_for_function("() => document.querySelector('iframe').style.height !== '720px'")
        assert fits()
        closed = frame.bounding_box()["height"]
        widget.locator("summary", has_text="Give now").click()
        page.wait_for_function(f"() => document.querySelector('iframe').getBoundingClientRect().height > {closed + 200}")
        assert fits()
    finally:
        site.shutdown()
        site.server_close()


def test_a_gone_campaign_says_so_inside_the_frame(live_server, page, pages):
    site = serve_page(f'<!doctype html><html lang="en"><title>Old post</title><main>'
                      f'<iframe src="{live_server.url}/embed/campaigns/no-longer-here" title="Donate"></iframe></main></html>')
    try:
        page.goto(ORGANISATION_SITE + "/")
        expect(page.frame_locator("iframe").get_by_role("heading", name="We couldn't find that page")).to_be_visible()
    finally:
        site.shutdown()
        site.server_close()
