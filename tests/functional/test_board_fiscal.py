"""The board overview's fiscal-year figures and donor lists, its CSVs from a running server, and the
fiscal-year setting (ORG_FISCAL_YEAR_START, changed on the staff Settings page)."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, time, timedelta

import pytest

from fundraiser import ledger, organisation
from fundraiser.db import utcnow
from fundraiser.fiscal import fiscal_year_of, same_day_a_year_before
from fundraiser.models import GiftMethod, Role
from fundraiser.settings import current_settings
from tests.factories import give, make_campaign, make_donor
from tests.functional.test_board import sign_in

JULY = 7


@pytest.fixture
def app(make_app):
    return make_app(ORG_FISCAL_YEAR_START=str(JULY))


def years(app):
    """This fiscal year and the last, and a local noon in each to date gifts at."""
    with app.app_context():
        tz = current_settings().tz
    today = utcnow().astimezone(tz).date()
    this = fiscal_year_of(today, JULY)
    last = this.previous()

    def noon(day):
        return datetime.combine(day, time(12), tz)

    return this, last, noon, today


@pytest.fixture
def giving(app, arrange):
    """Donors across three fiscal years; a typo corrected, a gift refunded, a gift in kind."""
    this, last, noon, today = years(app)
    recent = utcnow() - timedelta(minutes=5)  # this year, whatever today is
    last_year_day = last.start + timedelta(days=10)
    with arrange() as session:
        campaign = make_campaign(session, slug="annual", title="Annual fund", goal_cents=10_000_000)
        donors = {name: make_donor(session, name=name) for name in ("Ada", "Ben", "Cleo", "Dev", "Eve", "Fay", "Gus")}
        give(session, campaign, 10_000, donor=donors["Ada"], received_at=noon(last_year_day))
        give(session, campaign, 30_000, donor=donors["Ada"], received_at=recent)
        give(session, campaign, 50_000, donor=donors["Ben"], received_at=noon(last_year_day))
        give(session, campaign, 20_000, donor=donors["Ben"], received_at=recent)
        give(session, campaign, 5_000, donor=donors["Cleo"], received_at=noon(last_year_day))
        give(session, campaign, 7_000, donor=donors["Dev"], received_at=noon(last.start - timedelta(days=40)))
        give(session, campaign, 100_000, donor=donors["Eve"], received_at=recent, method=GiftMethod.IN_KIND)
        typo = give(session, campaign, 500_000, donor=donors["Fay"], received_at=recent)
        ledger.correct_amount(session, typo, 50_000, reason="Typed an extra zero")
        refunded = give(session, campaign, 900_000, donor=donors["Gus"], received_at=recent)
        ledger.refund_gift(session, refunded, 900_000, reason="Given twice by mistake")
        ids = {name: d.id for name, d in donors.items()}
    previous_to_date = 65_000 if last_year_day <= same_day_a_year_before(today) else 0
    return {"ids": ids, "this": this, "last": last, "previous_to_date": previous_to_date}


def figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">(.*?)</dd>', html, re.DOTALL)
    assert match, f"no figure {name}"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def listed(html: str, name: str) -> list[str]:
    match = re.search(rf'data-list="{name}">(.*?)</table>', html, re.DOTALL)
    assert match, f"no list {name}"
    return re.findall(r'/staff/donors/\d+">([^<]+)</a>', match.group(1))


def test_overview_shows_the_fiscal_year_a_treasurer_would_sign(app, client, session, giving):
    sign_in(client, session, Role.BOARD)
    html = client.get("/board").get_data(as_text=True)
    this, last = giving["this"], giving["last"]
    assert f"Fiscal year {this.label}" in html and this.label.startswith(f"FY {this.start.year}–")
    assert figure(html, "fy-to-date") == "$2,000.00"  # 300 + 200 + 1,000 in kind + 500 corrected; refund nets out
    assert figure(html, "fy-previous").startswith(f"${giving['previous_to_date'] / 100:,.2f}")
    assert figure(html, "fy-cash") == "$1,000.00" and figure(html, "fy-in-kind") == "$1,000.00"
    assert figure(html, "fy-donors") == "4"  # Ada, Ben, Eve, Fay; Gus's gift was refunded
    assert figure(html, "fy-retention") == "66.7%"
    assert (f"Retention = donors of {last.label} who gave again in {this.label} ÷ donors of {last.label}"
            f" = 2 ÷ 3 = 66.7%") in html
    # The typo counts as what it was corrected to; the refunded gift is not a top gift.
    assert listed(html, "top-gifts") == ["Eve", "Fay", "Ada", "Ben"]
    top = html[html.index('data-list="top-gifts"'):html.index('id="lapsed-heading"')]
    assert "$500.00" in top and "$5,000.00" not in top and "$9,000.00" not in top
    assert listed(html, "lapsed") == ["Cleo"] and listed(html, "long-lapsed") == ["Dev"]
    assert listed(html, "upgraded") == ["Ada"] and listed(html, "downgraded") == ["Ben"]
    assert f'href="/staff/donors/{giving["ids"]["Ada"]}"' in html


def test_kept_donor_lists_follow_a_new_gift_and_a_refund(staff_http, giving, arrange):
    """The lists are kept between views (a running server, a session per request); a gift or a
    refund in a selected campaign renews them."""
    from fundraiser.models import Campaign, Donor, Gift

    board = staff_http("board")
    assert listed(board.get("/board").text, "lapsed") == ["Cleo"]
    with arrange() as s:
        campaign = s.query(Campaign).filter_by(slug="annual").one()
        gift_id = give(s, campaign, 9_000, donor=s.get(Donor, giving["ids"]["Cleo"]),
                       received_at=utcnow() - timedelta(minutes=1)).id
    html = board.get("/board").text
    assert 'data-count="lapsed">0<' in html and listed(html, "upgraded") == ["Ada", "Cleo"]
    with arrange() as s:
        ledger.refund_gift(s, s.get(Gift, gift_id), 9_000, reason="Card stolen")
    html = board.get("/board").text
    assert listed(html, "lapsed") == ["Cleo"] and listed(html, "upgraded") == ["Ada"]


def rows_of(reply) -> list[list[str]]:
    assert reply.status == 200, reply.text[:300]
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert reply.body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(reply.body.decode("utf-8-sig"))))


def test_donor_lists_download_from_a_running_server(staff_http, giving):
    board = staff_http("board")
    this, last, ids = giving["this"], giving["last"], giving["ids"]
    assert rows_of(board.get("/board/donors/upgraded.csv")) == [
        ["Donor ID", "Name", f"{last.label} (USD)", f"{this.label} (USD)"], [str(ids["Ada"]), "Ada", "100.00", "300.00"],
    ]
    assert rows_of(board.get("/board/donors/downgraded.csv"))[1:] == [[str(ids["Ben"]), "Ben", "500.00", "200.00"]]
    assert rows_of(board.get("/board/donors/lapsed.csv"))[1:] == [[str(ids["Cleo"]), "Cleo", "50.00", "0.00"]]
    assert rows_of(board.get("/board/donors/long-lapsed.csv")) == [
        ["Donor ID", "Name", "Last gave in"], [str(ids["Dev"]), "Dev", last.previous().label],
    ]
    missing = board.get("/board/donors/everyone.csv")
    assert missing.status == 404


def test_fiscal_year_start_is_a_setting_admins_change(app, session):
    from tests.functional.staff_helpers import sign_in_as
    from tests.functional.test_org_settings import IDENTITY

    admin = sign_in_as(app, session, "admin")
    refused = admin.post("/staff/settings", data={**IDENTITY, "fiscal_year_start": "13"})
    assert refused.status_code == 400
    assert "Please choose the month your fiscal year starts in" in refused.get_data(as_text=True)
    assert organisation.load_organisation(session, current_settings()).fiscal_year_start == str(JULY)
    saved = admin.post("/staff/settings", data={**IDENTITY, "fiscal_year_start": "1"}, follow_redirects=True)
    assert "Fiscal year starts in" in saved.get_data(as_text=True)
    assert organisation.load_organisation(session, current_settings()).fiscal_year_start_month == 1
    page = admin.get("/staff/settings").get_data(as_text=True)
    assert '<option value="1" selected>January</option>' in page
