"""A page refused a live stream (the server's cap, 429) polls instead, and backs off when the
server says it is overloaded."""

from __future__ import annotations

import http.client
import time

from playwright.sync_api import expect

from fundraiser import ledger
from tests.conftest import LiveServer
from tests.factories import give, make_campaign


def test_a_page_refused_a_stream_polls_instead_and_still_moves(make_app, page, session):
    app = make_app(LIVE_STREAMS_MAX="1", LIVE_STREAMS_PER_ADDRESS="1")
    server = LiveServer(app).start()
    campaign = make_campaign(session, goal_cents=1_000_000)
    ledger.ensure_totals(session, campaign)
    session.commit()
    # Another viewer from this address holds the only stream slot.
    holder = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=5)
    held = None
    try:
        holder.request("GET", f"/api/campaigns/{campaign.slug}/progress/stream")
        # Keep the response: once it is garbage-collected its socket closes, and the server frees
        # the slot as soon as its next write fails (under load, before the page even asks).
        held = holder.getresponse()
        assert held.status == 200
        refused = []
        page.on("response", lambda r: refused.append(r.status) if "/progress/stream" in r.url else None)
        page.goto(f"{server.url}/campaigns/{campaign.slug}")
        expect(page.locator("html[data-live=polling]")).to_have_count(1, timeout=10_000)
        assert refused == [429]  # refused once, not retried in a loop
        give(session, campaign, 10_000)
        session.commit()
        expect(page.locator(".progress__raised").first).to_have_text("$100", timeout=5000)
    finally:
        if held is not None:
            held.close()
        holder.close()
        server.stop()


def test_polling_backs_off_when_the_server_answers_429(live_server, page, session):
    campaign = make_campaign(session, goal_cents=1_000_000)
    ledger.ensure_totals(session, campaign)
    session.commit()
    polls = []

    def overloaded(route):
        polls.append(time.monotonic())
        route.fulfill(status=429, headers={"Retry-After": "30", "Content-Type": "application/json"}, body="{}")

    page.route("**/progress/stream*", lambda route: route.abort())
    page.route(f"**/api/campaigns/{campaign.slug}/progress", overloaded)
    page.goto(f"{live_server.url}/campaigns/{campaign.slug}")
    expect(page.locator("html[data-live=polling]")).to_have_count(1, timeout=10_000)
    page.wait_for_timeout(6000)
    # Without backing off the page would have asked about four times (every 1.5 s).
    assert len(polls) == 1
