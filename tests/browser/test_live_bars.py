"""Live bars in a real browser: a gift recorded elsewhere moves the bar without a reload, on the
campaign page and in the widget; reduced motion turns the animations off; only listed origins may
frame the widget."""

from __future__ import annotations

import http.server
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from fundraiser import ledger
from tests.conftest import LiveServer
from tests.factories import give, make_campaign, make_donor
from tests.netutil import free_port, serve_in_thread


def _campaign(session, **kwargs):
    campaign = make_campaign(session, title="Giving Tuesday", goal_cents=1_000_000, **kwargs)
    ledger.ensure_totals(session, campaign)
    give(session, campaign, 100_000, donor=make_donor(session))
    session.commit()
    return campaign


def _mark_page(page) -> None:
    """A value that survives only as long as the page is not reloaded."""
    page.evaluate("window.__notReloaded = true")


def _record_amount_texts(page) -> None:
    """Every text the first bar's amount shows from now on goes to window.__seen."""
    page.evaluate("""() => {
        window.__seen = [];
        const el = document.querySelector('.progress__raised');
        new MutationObserver(() => window.__seen.push(el.textContent))
            .observe(el, {childList: true, characterData: true, subtree: true});
    }""")


def _still_same_page(page) -> bool:
    return page.evaluate("window.__notReloaded === true")


def test_campaign_page_bar_moves_when_a_gift_is_recorded(live_server, page, session):
    campaign = _campaign(session)
    page.goto(f"{live_server.url}/campaigns/{campaign.slug}")
    bar = page.get_by_role("progressbar", name="Giving Tuesday: amount raised")
    expect(bar).to_have_attribute("aria-valuetext", "$1,000 of $10,000 raised (10%)")
    expect(page.locator("html[data-live=stream]")).to_have_count(1)
    _mark_page(page)

    give(session, campaign, 425_000, donor=make_donor(session))  # a staff entry, say
    session.commit()

    expect(bar).to_have_attribute("aria-valuetext", "$5,250 of $10,000 raised (52.5%)", timeout=3000)
    raised = page.locator(".progress__raised").first
    expect(raised).to_have_text("$5,250", timeout=3000)
    expect(page.locator("[data-field=donor_count]").first).to_have_text("2")
    expect(page.locator("[data-field=recent_count]").first).to_have_text("2")
    # Crossing 25% and 50% is celebrated (once, for the highest) and shown on the markers.
    expect(page.locator("[data-field=celebrate]").first).to_have_text("We just passed 50% of the goal!")
    expect(page.locator("[data-milestone='50'].is-reached")).to_have_count(1)
    expect(page.locator("[data-milestone='75'].is-reached")).to_have_count(0)
    assert _still_same_page(page)
    assert page.console_errors == []


def test_screen_readers_hear_the_change_politely(live_server, page, session):
    campaign = _campaign(session)
    page.goto(f"{live_server.url}/campaigns/{campaign.slug}")
    expect(page.locator("html[data-live=stream]")).to_have_count(1)
    region = page.locator(".progress [aria-live=polite]").first
    give(session, campaign, 5000)
    session.commit()
    expect(region).to_have_text("$1,050 raised of $10,000 goal, 10.5 percent, from 2 donors.", timeout=3000)


def test_widget_moves_too(live_server, page, session):
    campaign = _campaign(session)
    page.goto(f"{live_server.url}/embed/campaigns/{campaign.slug}")
    expect(page.locator(".progress__raised")).to_have_text("$1,000")
    expect(page.locator("html[data-live=stream]")).to_have_count(1)
    _mark_page(page)
    ledger.refund_gift(session, _first_gift(session, campaign), 40_000, source_key="widget-refund")
    session.commit()
    expect(page.locator(".progress__raised")).to_have_text("$600", timeout=3000)
    assert _still_same_page(page)
    assert page.console_errors == []


def _first_gift(session, campaign):
    from sqlalchemy import select

    from fundraiser.models import Gift

    return session.scalar(select(Gift).where(Gift.campaign_id == campaign.id).order_by(Gift.id))


def test_reduced_motion_shows_the_new_figure_at_once_without_animation(browser, live_server, session):
    campaign = _campaign(session)
    context = browser.new_context(reduced_motion="reduce")
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/campaigns/{campaign.slug}")
        expect(page.locator("html[data-live=stream]")).to_have_count(1)
        _record_amount_texts(page)  # with reduced motion it jumps straight to the end
        give(session, campaign, 700_000)
        session.commit()
        expect(page.locator(".progress__raised").first).to_have_text("$8,000", timeout=3000)
        assert page.evaluate("window.__seen") == ["$8,000"]
        celebrate = page.locator("[data-field=celebrate]").first
        expect(celebrate).to_have_text("We just passed 75% of the goal!")
        assert "is-playing" not in (celebrate.get_attribute("class") or "")
        assert page.evaluate(
            "getComputedStyle(document.querySelector('.progress__fill')).transitionDuration") == "0s"
    finally:
        context.close()


def test_without_reduced_motion_the_amount_counts_up(live_server, page, session):
    campaign = _campaign(session)
    page.goto(f"{live_server.url}/campaigns/{campaign.slug}")
    expect(page.locator("html[data-live=stream]")).to_have_count(1)
    _record_amount_texts(page)
    give(session, campaign, 700_000)
    session.commit()
    expect(page.locator(".progress__raised").first).to_have_text("$8,000", timeout=3000)
    seen = page.evaluate("window.__seen")
    assert len(seen) > 3 and seen[-1] == "$8,000"


@pytest.fixture
def host_page() -> Iterator:
    """Serves a page on its own origin (a stand-in for the organisation's WordPress site)."""
    servers = []

    def start(port: int, widget_url: str) -> str:
        html = (f'<!doctype html><title>Our site</title><h1>Support us</h1>'
                f'<iframe id="widget" title="Donate" src="{widget_url}" width="400" height="700"></iframe>').encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        serve_in_thread(server)
        servers.append(server)
        return f"http://127.0.0.1:{port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_widget_shows_inside_an_allowed_site_and_is_refused_by_others(make_app, session, browser, host_page):
    allowed_port, other_port = free_port(), free_port()
    app = make_app(EMBED_ALLOWED_ORIGINS=f"http://127.0.0.1:{allowed_port}")
    server = LiveServer(app).start()
    context = browser.new_context()
    page = context.new_page()
    try:
        campaign = _campaign(session)
        widget = f"{server.url}/embed/campaigns/{campaign.slug}"

        page.goto(host_page(allowed_port, widget))
        frame = page.frame_locator("#widget")
        expect(frame.get_by_role("progressbar", name="Giving Tuesday: amount raised")).to_be_visible()
        give(session, campaign, 25_000)
        session.commit()
        expect(frame.locator(".progress__raised")).to_have_text("$1,250", timeout=3000)

        page.goto(host_page(other_port, widget))
        page.wait_for_load_state("load")
        expect(page.locator("h1")).to_have_text("Support us")
        child = page.frames[1]
        assert child.url != widget or child.locator("[role=progressbar]").count() == 0

        # The campaign page itself may not be framed even by the allowed site.
        page.goto(host_page(free_port(), f"{server.url}/campaigns/{campaign.slug}"))
        page.wait_for_load_state("load")
        assert page.frames[1].locator("[role=progressbar]").count() == 0
    finally:
        context.close()
        server.stop()


def test_where_streams_are_blocked_the_bar_polls_instead(live_server, page, session):
    campaign = _campaign(session)
    page.route("**/progress/stream*", lambda route: route.abort())
    page.goto(f"{live_server.url}/campaigns/{campaign.slug}")
    expect(page.locator("html[data-live=polling]")).to_have_count(1, timeout=10_000)
    give(session, campaign, 10_000)
    session.commit()
    expect(page.locator(".progress__raised").first).to_have_text("$1,100", timeout=3000)


def test_the_browser_reconnects_when_a_stream_ends(make_app, page, session):
    app = make_app(LIVE_STREAM_SECONDS="5")
    server = LiveServer(app).start()
    try:
        campaign = _campaign(session)
        page.goto(f"{server.url}/campaigns/{campaign.slug}")
        expect(page.locator("html[data-live=stream]")).to_have_count(1)
        with page.expect_request("**/progress/stream", timeout=15_000):
            pass  # the first stream ended after 5 s; EventSource opened the next
        give(session, campaign, 20_000)
        session.commit()
        expect(page.locator(".progress__raised").first).to_have_text("$1,200", timeout=3000)
        expect(page.locator("html[data-live=stream]")).to_have_count(1)
    finally:
        server.stop()
