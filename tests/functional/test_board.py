"""The board dashboard over HTTP: who may open it, what it shows, its CSVs, report and policy."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from fundraiser import ledger
from fundraiser.auth.users import create_user
from fundraiser.exports import safe_cell as neutralise
from fundraiser.models import CampaignStatus, GiftChannel, GiftMethod, Role
from tests.factories import give, make_campaign, make_donor, make_event
from tests.functional.staff_helpers import put_in_session

BOARD_URLS = [
    "/board",
    "/board?channel=online&from=2026-01&to=2026-12",
    "/board/campaigns/spring",
    "/board/charts/monthly.csv",
    "/board/campaigns/spring/charts/progress.csv",
    "/board/report",
]


@pytest.fixture
def spring(session):
    campaign = make_campaign(session, slug="spring", title="Spring appeal", goal_cents=100_000)
    session.commit()
    return campaign


def sign_in(client, session, role: Role, *, active: bool = True) -> None:
    user = create_user(session, f"{role.value}-{active}@example.org", role.value, "a very good password")
    user.is_active = active
    session.commit()
    put_in_session(client, user)


@pytest.mark.parametrize("url", BOARD_URLS)
def test_visitors_are_sent_to_sign_in(client, spring, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("url", BOARD_URLS)
def test_deactivated_accounts_are_treated_as_visitors(client, session, spring, url):
    sign_in(client, session, Role.BOARD, active=False)
    assert client.get(url).status_code == 302


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("url", BOARD_URLS)
def test_admin_staff_and_board_may_open_every_board_page(client, session, spring, role, url):
    sign_in(client, session, role)
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == ("text/csv" if url.endswith(".csv") else "text/html")


def test_drafts_unknown_campaigns_and_unknown_charts_are_not_found(client, session, spring):
    make_campaign(session, slug="secret", status=CampaignStatus.DRAFT)
    sign_in(client, session, Role.BOARD)
    assert client.get("/board/campaigns/secret").status_code == 404
    assert client.get("/board/campaigns/nope").status_code == 404
    assert client.get("/board/charts/nope.csv").status_code == 404


def figures(html: str) -> dict[str, str]:
    found = re.findall(r'data-figure="([a-z-]+)">(.*?)</dd>', html, re.DOTALL)
    return {k: " ".join(re.sub(r"<[^>]+>", " ", v).split()) for k, v in found}


def test_campaign_page_shows_the_headline_figures(client, session, spring):
    now = datetime.now(UTC)
    ann, ben = make_donor(session), make_donor(session)
    first = give(session, spring, 10_000, donor=ann, received_at=now - timedelta(days=2), fee_cents=320,
                 channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
    give(session, spring, 2_500, donor=ann, received_at=now - timedelta(days=1))
    give(session, spring, 5_000, donor=ben, received_at=now - timedelta(days=1))
    wrong = give(session, spring, 99_900, donor=ben, received_at=now)
    ledger.void_gift(session, wrong, reason="typed an extra digit")
    ledger.refund_gift(session, first, 4_000, occurred_at=now)
    session.commit()
    sign_in(client, session, Role.BOARD)
    html = client.get("/board/campaigns/spring").get_data(as_text=True)
    shown = figures(html)
    assert shown["raised"] == "$135.00"            # 100 + 25 + 50, less the 40 refund
    assert shown["net"] == "$131.80"               # less the 3.20 fee
    assert shown["goal"] == "$1,000.00 (13.5%)"
    assert shown["donors"] == "2" and shown["gifts"] == "3"
    assert shown["average"] == "$45.00"            # (60 + 25 + 50) / 3
    assert shown["median"] == "$50.00"
    assert shown["days-left"] == "20"


def test_an_ended_campaign_shows_its_final_total_not_a_projection(client, session):
    now = datetime.now(UTC)
    closed = make_campaign(session, slug="closed", title="Last spring", goal_cents=100_000,
                           starts_at=now - timedelta(days=60), ends_at=now - timedelta(days=10))
    give(session, closed, 40_000, received_at=now - timedelta(days=30))
    session.commit()
    sign_in(client, session, Role.BOARD)
    html = client.get("/board/campaigns/closed").get_data(as_text=True)
    shown = figures(html)
    assert "Final total" in html and "Projected total" not in html and "Days left" not in html
    assert '<p class="lede">Ended · ' in html  # still "active" for staff, but past its end date
    assert shown["projected"] == "$400.00"
    assert shown["days-left"]  # the end date, in the organisation's words
    progress_csv = client.get("/board/campaigns/closed/charts/progress.csv")
    assert progress_csv.status_code == 200 and "projected" not in progress_csv.get_data(as_text=True)


def test_filters_narrow_the_figures_and_bad_input_says_what_to_fix(client, session, spring):
    give(session, spring, 10_000, channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
    give(session, spring, 2_500, channel=GiftChannel.OFFLINE)
    session.commit()
    sign_in(client, session, Role.STAFF)
    online = figures(client.get("/board/campaigns/spring?channel=online").get_data(as_text=True))
    assert online["raised"] == "$100.00" and online["gifts"] == "1"
    bad = client.get("/board?from=2026-13&channel=phone")
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert "use the form 2026-01 for the first month" in text
    assert "Channel must be online, offline or event." in text


def test_a_range_in_the_future_or_without_campaigns_shows_empty_charts(client, session):
    sign_in(client, session, Role.BOARD)
    empty = client.get("/board")
    assert empty.status_code == 200 and figures(empty.get_data(as_text=True))["raised"] == "$0.00"
    make_campaign(session, slug="later")
    session.commit()
    future = client.get("/board?from=2090-01")
    assert future.status_code == 200
    assert "Nothing to show for these filters yet." in future.get_data(as_text=True)


def test_overview_can_pick_campaigns(client, session, spring):
    other = make_campaign(session, slug="autumn", title="Autumn", goal_cents=50_000)
    give(session, spring, 10_000)
    give(session, other, 2_000)
    session.commit()
    sign_in(client, session, Role.ADMIN)
    assert figures(client.get("/board").get_data(as_text=True))["raised"] == "$120.00"
    picked = figures(client.get("/board?campaign=autumn").get_data(as_text=True))
    assert picked["raised"] == "$20.00" and picked["goal"] == "$500.00 (4.0%)"


def without_bom(text: str) -> str:
    """The CSV text after the UTF-8 byte-order mark every download starts with (for Excel)."""
    assert text.startswith("\ufeff")
    return text[1:]


def test_chart_csv_holds_the_chart_data_and_defuses_formulas(client, session, spring):
    event = make_event(session, spring, name='=HYPERLINK("http://evil.example","click")')
    give(session, spring, 7_500, channel=GiftChannel.EVENT, method=GiftMethod.CASH, event_id=event.id)
    session.commit()
    sign_in(client, session, Role.BOARD)
    response = client.get("/board/campaigns/spring/charts/events.csv")
    assert response.headers["Content-Disposition"] == 'attachment; filename="spring-events.csv"'
    rows = list(csv.reader(io.StringIO(without_bom(response.get_data(as_text=True)))))
    assert rows[0] == ["Event", "Date", "Campaign", "Gifts", "Raised (USD)"]
    assert rows[1][0] == "'" + event.name
    assert rows[1][2:] == ["Spring appeal", "1", "75.00"]


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_neutralise_prefixes_every_formula_start(cell):
    assert neutralise(cell) == "'" + cell


def test_neutralise_leaves_ordinary_cells_alone():
    assert neutralise("Spring appeal") == "Spring appeal" and neutralise("12.50") == "12.50"


def test_figure_json_cannot_break_out_of_its_script_element(client, session, spring):
    event = make_event(session, spring, name="</script><script>alert(1)</script>")
    give(session, spring, 1_000, channel=GiftChannel.EVENT, method=GiftMethod.CASH, event_id=event.id)
    session.commit()
    sign_in(client, session, Role.BOARD)
    html = client.get("/board/campaigns/spring").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    data = re.search(r'<script type="application/json" id="chart-events-data">(.*?)</script>', html, re.DOTALL).group(1)
    label = json.loads(data)["data"][0]["y"][0]  # wrapped for a phone, escaped for Plotly's few tags
    assert label == f"&lt;/script&gt;&lt;script&gt;alert<br>(1)&lt;/script&gt;<br>({event.event_date:%b %Y})"


def test_board_pages_widen_only_style_src_and_load_plotly_from_the_app(client, session, spring):
    sign_in(client, session, Role.BOARD)
    response = client.get("/board")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "style-src 'self' 'unsafe-inline'" in policy
    assert "unsafe-eval" not in policy
    assert "'unsafe-inline'" not in client.get("/").headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert "cdn" not in html.lower()
    src = re.search(r'data-plotly="(/board/plotly-([0-9a-f]{16})\.min\.js)" defer></script>', html)
    assert src, "the board loads plotly.js from a fingerprinted address"
    with client.get(src.group(1), headers={"Accept-Encoding": "identity"}) as plain:
        assert plain.status_code == 200 and plain.mimetype == "text/javascript"
        assert b"plotly.js (basic - minified)" in plain.data[:200]
        assert len(plain.data) <= 1_500_000
        assert hashlib.sha256(plain.data).hexdigest()[:16] == src.group(2)
        assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "Content-Encoding" not in plain.headers
        body = plain.data
    with client.get(src.group(1), headers={"Accept-Encoding": "gzip, deflate, br"}) as packed:
        assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
        assert packed.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert len(packed.data) < len(body) // 2 and gzip.decompress(packed.data) == body
        etag = packed.headers["ETag"]
    # A browser asking again with its copy's tag gets "not modified", not the file.
    again = client.get(src.group(1), headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""


def test_an_old_plotly_address_is_sent_to_the_current_file_without_long_caching(client, session, spring):
    sign_in(client, session, Role.BOARD)
    current = re.search(r'data-plotly="(/board/plotly-[0-9a-f]{16}\.min\.js)"', client.get("/board").get_data(as_text=True))
    old = client.get("/board/plotly-0123456789abcdef.min.js")
    assert old.status_code == 302 and old.headers["Location"] == current.group(1)
    assert old.headers["Cache-Control"] == "no-cache"


def test_report_has_one_page_per_campaign(client, session, spring):
    make_campaign(session, slug="autumn", title="Autumn")
    make_campaign(session, slug="draft", title="Draft", status=CampaignStatus.DRAFT)
    session.commit()
    sign_in(client, session, Role.BOARD)
    html = client.get("/board/report").get_data(as_text=True)
    assert sorted(re.findall(r'<section class="report-page" aria-labelledby="report-([a-z-]+)">', html)) == [
        "autumn", "spring"
    ]


def test_progress_csv_has_every_local_day_and_the_projection(client, session):
    start = datetime.now(UTC) - timedelta(days=3)
    campaign = make_campaign(session, slug="short", starts_at=start, ends_at=start + timedelta(days=10))
    give(session, campaign, 2_000, received_at=start + timedelta(hours=1))
    session.commit()
    sign_in(client, session, Role.BOARD)
    rows = list(csv.reader(io.StringIO(without_bom(client.get("/board/campaigns/short/charts/progress.csv").get_data(as_text=True)))))
    assert rows[0] == ["Day", "Raised to date (USD)"]
    days = [r[0] for r in rows[1:-1]]
    assert len(days) in (4, 5)  # three days ago to today, in New York
    assert all(r[1] == "20.00" for r in rows[2:-1])
    assert rows[-1][0].endswith(" projected")


def test_campaign_page_lists_corrections_apart_from_the_money(client, session, spring):
    typo = give(session, spring, 500_000, received_at=datetime(2026, 3, 2, 15, tzinfo=UTC))
    ledger.correct_amount(session, typo, 50_000, reason="Typed an extra zero")
    session.commit()
    sign_in(client, session, Role.BOARD)
    html = client.get("/board/campaigns/spring").get_data(as_text=True)
    section = html[html.index('id="adjustments-title"'):]
    assert "Mar 2, 2026" in section and "Correction" in section
    assert "-$4,500.00" in section and "Typed an extra zero" in section
    progress = client.get("/board/campaigns/spring/charts/progress.csv").get_data(as_text=True)
    raised = [row[1] for row in csv.reader(io.StringIO(progress)) if row[0].startswith("2026-")]
    assert raised and set(raised) == {"500.00"}  # from the gift's day on: never $5,000, never a fall


def test_a_campaign_page_shows_its_matching_challenges_from_a_running_server(arrange, staff_http):
    from tests.factories import make_match

    with arrange() as session:
        campaign = make_campaign(session, title="Giving Tuesday", slug="giving-tuesday", goal_cents=500_000)
        first = make_match(session, campaign, 50_000, sponsor="Keystone RV")
        make_match(session, campaign, 20_000, ratio_percent=200, follows=first, sponsor="A board member")
        make_match(session, campaign, 30_000, sponsor="Last year", starts_at=datetime(2025, 11, 1, 17, tzinfo=UTC),
                   ends_at=datetime(2025, 12, 31, 17, tzinfo=UTC))  # ended with all of it left: nothing more to unlock
        for amount in (10_000, 20_000):
            give(session, campaign, amount, channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
        campaign_id = campaign.id
    board = staff_http("board")
    page = board.get("/board/campaigns/giving-tuesday")
    assert page.status == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))
    summary = "Matching challenges: unlocked so far $300.00 of $1,000.00 pledged; $400.00 still to unlock."
    assert summary in text
    assert "Keystone RV 1:1 $500.00 $300.00 $200.00 From the start – until full Unlocking now" in text
    assert "A board member 2:1 $200.00 $0.00 $200.00 From the start – until full Starts when the one before is full" in text
    assert "Last year 1:1 $300.00 $0.00 $0.00 Nov 1, 2025 – Dec 31, 2025 Ended" in text
    report = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", board.get("/board/report").text))
    assert summary in report  # on the campaign's printed page too
    staff = staff_http("admin", "admin-matches@example.org").get(f"/staff/campaigns/{campaign_id}/edit")
    assert "<td>Unlocking now</td>" in staff.text and "<td>running</td>" not in staff.text


def test_a_campaign_without_matches_has_no_matching_section(arrange, staff_http):
    with arrange() as session:
        make_campaign(session, title="Spring", slug="spring")
    board = staff_http("board")
    assert "Matching challenges" not in board.get("/board/campaigns/spring").text
    assert "Matching challenges" not in board.get("/board/report").text
