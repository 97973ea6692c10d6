"""Live progress: the Server-Sent Events stream, the snapshot behind the progress API, and other processes."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from fundraiser import ledger, live
from fundraiser.db import new_session
from fundraiser.models import Campaign, CampaignStatus, Gift, GiftChannel
from tests.conftest import app_config
from tests.factories import give, make_campaign
from tests.netutil import free_port, wait_for


def _events(chunks) -> list[tuple[str, dict | None]]:
    """Parse SSE text into (event, data) pairs; comments come out as (":", None)."""
    parsed = []
    for block in b"".join(chunks).decode().split("\n\n"):
        if not block.strip():
            continue
        if block.startswith(":"):
            parsed.append((":", None))
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            parsed.append((fields["event"], json.loads(fields["data"])))
    return parsed


def _next_events(stream) -> list[tuple[str, dict | None]]:
    return _events([next(stream)])


@pytest.fixture
def campaign_slug(app):
    with app.app_context():
        s = new_session()
        campaign = make_campaign(s, goal_cents=100_000)
        ledger.ensure_totals(s, campaign)
        s.commit()
        slug = campaign.slug
        s.close()
    return slug


def _give(app, slug: str, amount: int, **kwargs) -> None:
    """Record a gift the way staff entry does: through the ledger, committed."""
    with app.app_context():
        s = new_session(write=True)
        campaign = s.scalar(select(Campaign).where(Campaign.slug == slug))
        give(s, campaign, amount, **kwargs)
        s.commit()
        s.close()


def test_stream_sends_progress_then_every_change(app, client, campaign_slug):
    response = client.get(f"/api/campaigns/{campaign_slug}/progress/stream", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    stream = iter(response.response)
    first = next(stream)
    assert first.startswith(b"retry: 2000\n\n")
    events = _events([first])
    assert [e for e, _ in events] == ["progress", "activity"]
    progress = events[0][1]
    assert progress["raised_cents"] == 0
    assert set(progress) == {"id", "slug", "title", "currency", "goal_cents", "raised_cents", "gift_count",
                             "donor_count", "percent", "ends_at", "updated_at"}
    # The stream carries exactly what the progress API says.
    assert progress == client.get(f"/api/campaigns/{campaign_slug}/progress").get_json()

    _give(app, campaign_slug, 2500, channel=GiftChannel.OFFLINE)
    events = _next_events(stream)
    assert events[0][0] == "progress" and events[0][1]["raised_cents"] == 2500
    assert events[1][0] == "activity" and events[1][1]["gifts_last_hour"] == 1
    response.close()


def test_refunds_move_the_stream_too(app, client, campaign_slug):
    with app.app_context():
        s = new_session(write=True)
        gift = give(s, s.scalar(select(Campaign).where(Campaign.slug == campaign_slug)), 4000,
                    channel=GiftChannel.ONLINE)
        s.commit()
        gift_id = gift.id
        s.close()
    stream = iter(client.get(f"/api/campaigns/{campaign_slug}/progress/stream", buffered=False).response)
    assert _events([next(stream)])[0][1]["raised_cents"] == 4000
    with app.app_context():
        s = new_session(write=True)
        ledger.refund_gift(s, s.get(Gift, gift_id), amount_cents=1000, source_key="refund-test")
        s.commit()
        s.close()
    assert _next_events(stream)[0][1]["raised_cents"] == 3000


def test_idle_stream_sends_keep_alives_and_ends_so_the_browser_reconnects(make_app):
    app = make_app(LIVE_STREAM_SECONDS="5")
    with app.app_context():
        s = new_session()
        slug = make_campaign(s).slug
        s.commit()
        s.close()
    original = live.HEARTBEAT_SECONDS
    live.HEARTBEAT_SECONDS = 1.0
    try:
        started = time.monotonic()
        body = app.test_client().get(f"/api/campaigns/{slug}/progress/stream").get_data()
        took = time.monotonic() - started
    finally:
        live.HEARTBEAT_SECONDS = original
    events = _events([body])
    assert events[0][0] == "progress" and (":", None) in events
    assert 4.5 <= took < 8


def test_campaign_leaving_public_view_closes_streams_and_404s(app, client, campaign_slug):
    stream = iter(client.get(f"/api/campaigns/{campaign_slug}/progress/stream", buffered=False).response)
    next(stream)
    with app.app_context():
        s = new_session(write=True)
        s.scalar(select(Campaign).where(Campaign.slug == campaign_slug)).status = CampaignStatus.DRAFT
        s.commit()
        s.close()
    assert _next_events(stream) == [("closed", {})]
    assert client.get(f"/api/campaigns/{campaign_slug}/progress").status_code == 404
    assert client.get(f"/api/campaigns/{campaign_slug}/progress/stream").status_code == 404


def test_unknown_campaign_stream_is_a_json_404(client):
    response = client.get("/api/campaigns/nope/progress/stream")
    assert response.status_code == 404 and response.get_json()["error"]["status"] == 404


def test_activity_has_an_etag_too(client, campaign_slug):
    first = client.get(f"/api/campaigns/{campaign_slug}/activity")
    assert first.status_code == 200 and first.get_json()["gifts_last_hour"] == 0
    again = client.get(f"/api/campaigns/{campaign_slug}/activity", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_a_gift_recorded_by_another_process_reaches_a_viewer_within_two_seconds(app, database_url, tmp_path, campaign_slug):
    """The viewer is connected to a separate app process (its own hub); the gift is recorded here."""
    port = free_port()
    env = {**os.environ, **app_config(database_url, tmp_path / "other-instance"), "LIVE_POLL_SECONDS": "0.5"}
    root = Path(__file__).resolve().parents[2]
    server = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "fundraiser", "run", "--port", str(port), "--with-threads"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        def up():
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1)
                return True
            except OSError:
                assert server.poll() is None, "the other app process exited"
                return False

        wait_for(up, 30, "the other app process")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", f"/api/campaigns/{campaign_slug}/progress/stream")
        response = conn.getresponse()
        assert response.status == 200

        def read_event():
            block = b""
            while not block.endswith(b"\n\n"):
                block += response.readline()
            return block

        assert read_event().startswith(b"retry")  # the retry line is its own block
        first = _events([read_event()])
        assert first[0][1]["raised_cents"] == 0
        read_event()  # the activity event of the first snapshot

        recorded_at = time.monotonic()
        _give(app, campaign_slug, 1234)
        while True:
            events = _events([read_event()])
            if events and events[0][0] == "progress":
                break
        latency = time.monotonic() - recorded_at
        assert events[0][1]["raised_cents"] == 1234
        assert latency < 2.0
        conn.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_one_stream_serves_a_page_with_several_bars(app, client, campaign_slug):
    with app.app_context():
        s = new_session()
        other = make_campaign(s).slug
        s.commit()
        s.close()
    stream = iter(client.get(f"/api/progress/stream?slug={campaign_slug}&slug={other}", buffered=False).response)
    first = _events([next(stream)])
    assert [(e, d["slug"]) for e, d in first] == [
        ("progress", campaign_slug), ("activity", campaign_slug), ("progress", other), ("activity", other)]
    _give(app, other, 700)
    changed = _next_events(stream)
    assert [(e, d["slug"]) for e, d in changed] == [("progress", other), ("activity", other)]
    assert changed[0][1]["raised_cents"] == 700
    assert client.get("/api/progress/stream").status_code == 400
    assert client.get(f"/api/progress/stream?slug={campaign_slug}&slug=nope").status_code == 404
