"""The home and campaign pages from the per-process cache, against a running server."""

from __future__ import annotations

import urllib.error
import urllib.request

from tests.factories import give, make_campaign
from tests.http_client import HttpClient


def fetch(url: str, etag: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """A GET as a browser revalidating its copy (urllib, so a 304 is an answer, not an error)."""
    request = urllib.request.Request(url, headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_pages_answer_304_until_a_gift_changes_them_and_signed_in_staff_get_fresh_pages(arrange, live_server, staff_http):
    with arrange() as session:
        campaign = make_campaign(session, title="Roof Repair Fund")
        slug = campaign.slug
    for path in ("/", f"/campaigns/{slug}"):
        status, headers, body = fetch(live_server.url + path)
        assert status == 200 and "Roof Repair Fund" in body.decode() and headers["Cache-Control"] == "no-cache"
        etag = headers["ETag"]
        again = fetch(live_server.url + path, etag)
        assert again[0] == 304 and again[1]["ETag"] == etag and again[2] == b""
    page_url = f"{live_server.url}/campaigns/{slug}"
    _, headers, before = fetch(page_url)
    with arrange() as session:
        give(session, session.get(type(campaign), campaign.id), 123_400)
    status, changed, after = fetch(page_url, headers["ETag"])
    assert status == 200 and changed["ETag"] != headers["ETag"]
    assert "1,234" in after.decode() and "1,234" not in before.decode()
    # A donor coming back from Checkout (?d=...) gets the page rendered for them, not the shared one.
    assert "ETag" not in fetch(page_url + "?d=nothing")[1]
    staff = staff_http("staff")
    mine = staff.get(f"/campaigns/{slug}")
    assert mine.status == 200 and "Sign out" in mine.text and "ETag" not in mine.headers
    anonymous = HttpClient(live_server.url).get(f"/campaigns/{slug}")
    assert anonymous.status == 200 and "Sign out" not in anonymous.text and anonymous.headers["ETag"] == changed["ETag"]


def test_while_one_thread_renders_a_stale_page_the_others_serve_the_page_it_replaces(arrange, live_server, monkeypatch):
    """A crowd arriving after a change costs one rendering per page, not one per thread: the
    visitors who come while it renders get the page as it was a moment ago, at once."""
    import threading

    from fundraiser import campaigns
    from fundraiser.public import page_cache

    with arrange() as session:
        make_campaign(session, title="Roof Repair Fund")
    first = fetch(live_server.url + "/")
    assert first[0] == 200
    monkeypatch.setattr(page_cache, "MAX_AGE_SECONDS", -1.0)  # every page is stale from now on
    real, entered, release, renderings = campaigns.active_campaigns, threading.Event(), threading.Event(), []

    def slow(session):
        renderings.append(threading.current_thread().name)
        entered.set()
        assert release.wait(30)
        return real(session)

    monkeypatch.setattr(campaigns, "active_campaigns", slow)
    answers = []
    renderer = threading.Thread(target=lambda: answers.append(fetch(live_server.url + "/")))
    renderer.start()
    try:
        assert entered.wait(30)
        for _ in range(3):
            status, headers, body = fetch(live_server.url + "/")
            assert status == 200 and headers["ETag"] == first[1]["ETag"] and body == first[2]
        assert len(renderings) == 1
    finally:
        release.set()
        renderer.join(30)
    assert answers[0][0] == 200 and "Roof Repair Fund" in answers[0][2].decode()
    # The rendering is over: the next visitor renders the (still stale) page again, as before.
    assert fetch(live_server.url + "/")[0] == 200 and len(renderings) == 2
