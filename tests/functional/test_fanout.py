"""The stream fan-out (`flask serve-streams`) as nginx would reach it: a real process on a real port.

It must answer exactly like the app's own streams (same URLs, events, caps and JSON errors) and move
when the app commits a gift, although it shares nothing with the app but the database.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fundraiser.campaigns import public_campaign
from fundraiser.db import new_session
from fundraiser.models import CampaignStatus
from tests.conftest import app_config
from tests.factories import give, make_campaign
from tests.netutil import free_port, wait_for

PER_ADDRESS = 2


@pytest.fixture
def fanout_port(app, database_url, tmp_path):
    with app.app_context():
        session = new_session()
        make_campaign(session, slug="spring-drive", goal_cents=100000)
        make_campaign(session, slug="not-yet", status=CampaignStatus.DRAFT)
        session.commit()
        session.close()
    port = free_port()
    env = {**os.environ, **app_config(database_url, tmp_path / "fanout-instance"), "PROXY_COUNT": "1",
           "LIVE_STREAMS_PER_ADDRESS": str(PER_ADDRESS), "LIVE_POLL_SECONDS": "0.2"}
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("flask")), "--app", "fundraiser", "serve-streams",
         "--bind", f"127.0.0.1:{port}"],
        cwd=Path(__file__).resolve().parents[2], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )

    def up():
        assert server.poll() is None, f"serve-streams exited: {server.stderr.read().decode()[-2000:]}"
        try:
            return _get(port, "/api/health")[0] == 200
        except OSError:
            return False

    try:
        wait_for(up, 30, "serve-streams")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stderr.close()


def _get(port: int, path: str, address: str = "203.0.113.5") -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers={"X-Forwarded-For": address})
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    return response.status, body


def _open(port: int, path: str, address: str) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers={"X-Forwarded-For": address})
    return conn.getresponse(), conn


def _next_progress(response: http.client.HTTPResponse) -> dict:
    event = None
    while line := response.fp.readline():
        if line.startswith(b"event: "):
            event = line[7:].strip()
        elif line.startswith(b"data: ") and event == b"progress":
            return json.loads(line[6:])
    raise AssertionError("the stream ended before a progress event")


def test_stream_moves_when_the_app_commits_a_gift(app, fanout_port):
    response, conn = _open(fanout_port, "/api/campaigns/spring-drive/progress/stream", "203.0.113.5")
    try:
        assert response.status == 200
        assert response.getheader("Content-Type").startswith("text/event-stream")
        assert response.getheader("X-Accel-Buffering") == "no"
        assert response.fp.readline() == b"retry: 2000\n"
        assert _next_progress(response)["raised_cents"] == 0

        with app.app_context():
            session = new_session()
            campaign = make_campaign(session, slug="other-drive")  # a campaign this viewer doesn't follow
            give(session, campaign, 999)
            session.commit()
            give(session, public_campaign(session, "spring-drive"), 2500)
            session.commit()
            committed = time.monotonic()
            session.close()

        moved = _next_progress(response)
        assert (moved["raised_cents"], moved["gift_count"], moved["percent"]) == (2500, 1, 2.5)
        assert time.monotonic() - committed < 2
    finally:
        conn.close()


def test_one_address_gets_its_share_then_429_and_unknown_drafts_or_bad_requests_get_4xx(fanout_port):
    held = [_open(fanout_port, "/api/progress/stream?slug=spring-drive", "203.0.113.9") for _ in range(PER_ADDRESS)]
    try:
        assert [response.status for response, _ in held] == [200] * PER_ADDRESS
        refused, conn = _open(fanout_port, "/api/campaigns/spring-drive/progress/stream", "203.0.113.9")
        assert refused.status == 429 and int(refused.getheader("Retry-After")) > 0
        assert "check for updates" in json.loads(refused.read())["error"]["message"]
        conn.close()
        # Another address is not held back by the first one's streams.
        other, conn = _open(fanout_port, "/api/campaigns/spring-drive/progress/stream", "198.51.100.4")
        assert other.status == 200
        conn.close()
        # An IPv6 client is one /64, whichever of its addresses each stream comes from.
        held += [_open(fanout_port, "/api/progress/stream?slug=spring-drive", f"2001:db8:9:9::{n}") for n in range(1, PER_ADDRESS + 1)]
        assert [response.status for response, _ in held[PER_ADDRESS:]] == [200] * PER_ADDRESS
        rotated, conn = _open(fanout_port, "/api/progress/stream?slug=spring-drive", "2001:db8:9:9:abcd::1")
        assert rotated.status == 429
        conn.close()
    finally:
        for _, conn in held:
            conn.close()

    for path in ("/api/campaigns/not-yet/progress/stream", "/api/campaigns/no-such/progress/stream",
                 "/api/progress/stream?slug=spring-drive&slug=not-yet"):
        status, body = _get(fanout_port, path)
        assert status == 404 and "No public campaign" in body["error"]["message"]
    assert _get(fanout_port, "/api/progress/stream")[0] == 400
    for raw in (b"GET http://[bad/x HTTP/1.1\r\n\r\n", b"POST /api/progress/stream?slug=spring-drive HTTP/1.1\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", fanout_port), timeout=5) as sock:
            sock.sendall(raw)
            answer = sock.makefile("rb").read()
        assert answer.split(b"\r\n", 1)[0] in (b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 405 Method Not Allowed")
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["message"]
