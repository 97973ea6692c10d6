"""Idle live streams cannot starve the server: per-address and per-process caps, under real gunicorn.

The outside test held ~1,250 idle streams from one address and the home page and the Stripe
webhook went unanswered for over 30 s. Here the same attack runs against gunicorn's gthread
worker (the documented set-up) with a small thread count, so the caps are what keeps it answering.
"""

from __future__ import annotations

import http.client
import json
import time

import pytest

from fundraiser.db import new_session
from tests.factories import make_campaign
from tests.gunicorn_server import run_gunicorn
from tests.netutil import wait_for
from tests.payments.conftest import WEBHOOK_SECRET
from tests.payments.stripe_shapes import event, sign

THREADS = 12
STREAMS_MAX = 8
PER_ADDRESS = 3


@pytest.fixture
def gunicorn_url(app, database_url, tmp_path):
    yield from _gunicorn(app, database_url, tmp_path)


@pytest.fixture
def short_streams_url(app, database_url, tmp_path):
    yield from _gunicorn(app, database_url, tmp_path, LIVE_STREAM_SECONDS="5")


def _gunicorn(app, database_url, tmp_path, **extra):
    """gunicorn as docs/deploy.md runs it, with few threads so the caps are what keeps it answering."""
    with app.app_context():
        session = new_session()
        make_campaign(session, slug="spring-drive")
        session.commit()
        session.close()
    with run_gunicorn(database_url, tmp_path / "gunicorn-instance", threads=THREADS,
                      LIVE_STREAMS_MAX=str(STREAMS_MAX), LIVE_STREAMS_PER_ADDRESS=str(PER_ADDRESS), **extra) as (port, _):
        yield port


def _open_stream(port: int, address: str) -> tuple[int, http.client.HTTPConnection]:
    """Open one stream as `address` (nginx's X-Forwarded-For); the status it got, and the open connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/api/campaigns/spring-drive/progress/stream", headers={"X-Forwarded-For": address})
    response = conn.getresponse()
    if response.status != 200:
        response.read()
    return response.status, conn


def _timed(port: int, method: str, path: str, **kwargs) -> tuple[int, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, **kwargs)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, time.monotonic() - started


def test_one_address_gets_429_past_its_share_and_pages_and_webhook_still_answer(gunicorn_url):
    port = gunicorn_url
    held = []
    try:
        # One client tries to hold far more streams than there are threads.
        statuses = []
        for _ in range(3 * THREADS):
            status, conn = _open_stream(port, "203.0.113.7")
            statuses.append(status)
            held.append(conn)
        assert statuses.count(200) == PER_ADDRESS
        assert statuses.count(429) == 3 * THREADS - PER_ADDRESS

        # Many addresses together stop at the process-wide cap, below the thread count.
        for n in range(10):
            status, conn = _open_stream(port, f"198.51.100.{n}")
            statuses.append(status)
            held.append(conn)
        assert statuses.count(200) == STREAMS_MAX

        # THREADS - STREAMS_MAX threads are still free: the home page and Stripe's webhook answer at once.
        status, seconds = _timed(port, "GET", "/", headers={"X-Forwarded-For": "192.0.2.1"})
        assert status == 200 and seconds < 2
        payload = json.dumps(event("customer.created", {"id": "cus_test1", "object": "customer"})).encode()
        status, seconds = _timed(port, "POST", "/stripe/webhook", body=payload, headers={
            "Content-Type": "application/json", "Stripe-Signature": sign(payload, WEBHOOK_SECRET)})
        assert status == 200 and seconds < 2
    finally:
        for conn in held:
            conn.close()


def test_a_refused_stream_says_why_in_json_with_retry_after(gunicorn_url):
    port = gunicorn_url
    held = [_open_stream(port, "203.0.113.8")[1] for _ in range(PER_ADDRESS)]
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/api/progress/stream?slug=spring-drive", headers={"X-Forwarded-For": "203.0.113.8"})
        response = conn.getresponse()
        assert response.status == 429
        assert int(response.getheader("Retry-After")) > 0
        assert "check for updates" in json.loads(response.read())["error"]["message"]
        conn.close()
    finally:
        for conn in held:
            conn.close()


def test_ended_streams_give_their_slots_back(short_streams_url):
    port = short_streams_url
    batch = [_open_stream(port, "203.0.113.9") for _ in range(PER_ADDRESS)]
    assert [status for status, _ in batch] == [200] * PER_ADDRESS
    status, refused = _open_stream(port, "203.0.113.9")
    refused.close()
    assert status == 429
    for _, conn in batch:
        conn.close()
    # A stream's slot comes back when it ends: after LIVE_STREAM_SECONDS, or when the server
    # notices the viewer has gone (a write fails: at the next change or heartbeat).
    reopened = []

    def freed():
        status, conn = _open_stream(port, "203.0.113.9")
        reopened.append(conn)
        return status == 200

    try:
        wait_for(freed, 40, "the closed streams' slots")
    finally:
        for conn in reopened:
            conn.close()
