"""A donor who kept their amount private finds it in no public feed (issue 18).

Every public surface is read as an outsider would: the progress and activity JSON, the live
stream over real HTTP, the campaign, home and widget pages. The private gift's amount must appear in
none of them as a figure of its own; only the campaign's totals include it (docs/deploy.md says
what totals reveal).
"""

from __future__ import annotations

import json
import urllib.request

from fundraiser import ledger
from tests.factories import give, make_campaign, make_donor

PRIVATE_CENTS = 123457  # $1,234.57: a figure that appears in no total below
PRIVATE_SHAPES = ("123457", "1,234.57", "1234.57")


def _assert_private(text: str, where: str) -> None:
    for shape in PRIVATE_SHAPES:
        assert shape not in text, f"the private amount shows in {where}"


def test_a_private_amount_is_in_no_feed_only_in_the_totals(arrange, live_server):
    with arrange() as session:
        campaign = make_campaign(session, slug="spring-drive", goal_cents=1000000)
        give(session, campaign, 10000, donor=make_donor(session, name="Open Olive"), show_amount=True)
        give(session, campaign, PRIVATE_CENTS, donor=make_donor(session, name="Quiet Quinn"), show_amount=False,
             public_comment="Happy to help")
        refunded = give(session, campaign, 40000, donor=make_donor(session, name="Open Otto"), show_amount=True)
        ledger.refund_gift(session, refunded, 40000)

    def get(path: str) -> str:
        with urllib.request.urlopen(live_server.url + path, timeout=10) as response:
            return response.read().decode()

    progress = json.loads(get("/api/campaigns/spring-drive/progress"))
    assert (progress["raised_cents"], progress["gift_count"]) == (10000 + PRIVATE_CENTS, 2)
    _assert_private(json.dumps(progress), "the progress JSON")
    _assert_private(get("/api/campaigns/spring-drive/activity"), "the activity JSON")

    with urllib.request.urlopen(live_server.url + "/api/campaigns/spring-drive/progress/stream", timeout=10) as stream:
        first = b""
        while first.count(b"\n\n") < 3:  # retry, progress, activity
            first += stream.read1()
    assert b'"raised_cents": 133457' in first
    _assert_private(first.decode(), "the live stream")

    page = get("/campaigns/spring-drive")
    # The donor is thanked by name, with their comment, and without their amount.
    assert "Quiet Quinn</strong> <span" in page and "Happy to help" in page
    assert "Open Olive</strong> · $100.00" in page
    _assert_private(page, "the campaign page")
    _assert_private(get("/"), "the home page")
    _assert_private(get("/embed/campaigns/spring-drive"), "the widget")
