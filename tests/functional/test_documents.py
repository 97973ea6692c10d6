"""Paperwork as staff and donors get it: letters, statements, the year-end run (CLI and staff page
against a running server), statement emails through a real SMTP server, and donor addresses."""

from __future__ import annotations

import csv
import io
import re
import time
import urllib.parse
import urllib.request
from datetime import datetime
from http.cookiejar import CookieJar

import pytest
from sqlalchemy import func, select

from fundraiser import gifts, ledger, receipts
from fundraiser.audit import Actor
from fundraiser.auth.users import create_user
from fundraiser.db import new_session, utcnow
from fundraiser.models import (
    GiftChannel,
    GiftMethod,
    MessageStatus,
    OutboxMessage,
    YearEndRun,
    YearStatement,
)
from fundraiser.statements import NO_GOODS_ALL
from tests.documents_helpers import TZ, every_kind_of_gift, pdf_pages, pdf_text
from tests.factories import give, make_campaign, make_donor
from tests.functional.staff_helpers import PASSWORD, sign_in_as
from tests.netutil import free_port, start_smtp

YEAR = utcnow().astimezone(TZ).year - 1


def mixed_year(session):
    """Donors of last year: three with email (one online only), two without (one gave only
    in-kind), one whose only gift was voided, one who gave only the year before."""
    zoe, _ = every_kind_of_gift(session, YEAR)
    campaign = make_campaign(session, title="Spring Appeal")
    ann = make_donor(session, name="Ann Archer", email="ann@example.org")
    give(session, campaign, 10000, donor=ann, received_at=datetime(YEAR, 12, 31, 23, 30, tzinfo=TZ))
    online = make_donor(session, name="Olu Online", email="olu@example.org")
    give(session, campaign, 2500, donor=online, received_at=datetime(YEAR, 7, 4, tzinfo=TZ),
         channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
    bob = make_donor(session, name="Bob Post", email=None, address_line1="9 Elm St", city="Towson", region="MD", postal_code="21204")
    give(session, campaign, 4200, donor=bob, received_at=datetime(YEAR, 3, 1, 12, tzinfo=TZ), method=GiftMethod.CHECK, reference="88")
    ina = make_donor(session, name="Ina Kind", email=None, address_line1="1 Oak Ave", city="Columbia", region="MD", postal_code="21044")
    give(session, campaign, 30000, donor=ina, received_at=datetime(YEAR, 8, 8, 12, tzinfo=TZ), method=GiftMethod.IN_KIND,
         description="Two laptops for the helpline")
    vic = make_donor(session, name="Vic Void", email="vic@example.org")
    from fundraiser import ledger

    ledger.void_gift(session, give(session, campaign, 5000, donor=vic, received_at=datetime(YEAR, 5, 5, tzinfo=TZ)), reason="bounced")
    old = make_donor(session, name="Old Timer", email="old@example.org")
    give(session, campaign, 5000, donor=old, received_at=datetime(YEAR - 1, 6, 6, tzinfo=TZ))
    session.commit()
    return {"zoe": zoe, "ann": ann, "online": online, "bob": bob, "ina": ina, "vic": vic, "old": old}


def statement_messages(session):
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "statement").order_by(OutboxMessage.id)))


# ------------------------------------------------------------------ letters and the statement page


def test_gift_page_links_its_letter_with_the_corrected_amount(app, session):
    _, gifts = every_kind_of_gift(session, YEAR, email=None)
    session.commit()
    client = sign_in_as(app, session, "staff")
    corrected = gifts["corrected"]
    assert f"/staff/gifts/{corrected.id}/letter.pdf" in client.get(f"/staff/gifts/{corrected.id}").get_data(as_text=True)
    response = client.get(f"/staff/gifts/{corrected.id}/letter.pdf")
    assert response.headers["Content-Type"] == "application/pdf"
    [page] = pdf_pages(response.data)
    for expected in ("Acknowledgment of your gift", f"Gift number {corrected.id}", "Zoë Ñúñez", "12 Rue Saint-Denis",
                     "Baltimore, MD 21201", "$150.00", "Players Philanthropy Fund, Inc., Tax ID (EIN) 27-6601178",
                     NO_GOODS_ALL, "Thank you for your generosity"):
        assert expected in page, expected
    assert "$15.00" not in page
    voided = client.get(f"/staff/gifts/{gifts['voided'].id}/letter.pdf")
    assert voided.status_code == 404 and "voided or fully refunded" in voided.get_data(as_text=True)
    assert f"/staff/gifts/{gifts['voided'].id}/letter.pdf" not in client.get(f"/staff/gifts/{gifts['voided'].id}").get_data(as_text=True)


def test_a_letter_never_gives_a_receipt_number_that_stated_another_amount(app, session):
    campaign = make_campaign(session, title="Spring Appeal")
    donor = make_donor(session, name="Rosa Parks", email="rosa@example.org", address_line1="1 Main St",
                       city="Baltimore", region="MD", postal_code="21201")
    gift = give(session, campaign, 30_000, donor=donor, method=GiftMethod.CHECK)
    receipts.queue_for_gift(session, gift)
    session.commit()
    client = sign_in_as(app, session, "staff")

    def letter() -> str:
        [page] = pdf_pages(client.get(f"/staff/gifts/{gift.id}/letter.pdf").data)
        return page

    assert f"Receipt number {gift.id}" in letter() and "$300.00" in letter()
    gifts.correct(session, Actor(None, "127.0.0.1"), gift, "350.00", "The check was for $350")
    session.commit()
    page = letter()  # receipt N said $300; the corrected receipt N-2 says $350, as the letter does
    assert f"Receipt number {gift.id}-2" in page and "$350.00" in page
    ledger.refund_gift(session, gift, 5_000, reason="Returned part of it")
    session.commit()
    page = letter()  # no receipt states the $300 left: the letter names the gift, not a receipt
    assert f"Gift number {gift.id}" in page and "$300.00" in page and "Receipt number" not in page


def test_statement_page_says_what_the_pdf_says(app, session):
    zoe, _ = every_kind_of_gift(session, YEAR)
    session.commit()
    client = sign_in_as(app, session, "staff")
    html = client.get(f"/staff/donors/{zoe.id}/statement/{YEAR}").get_data(as_text=True)
    for expected in ("Players Philanthropy Fund, Inc.", "27-6601178", "Gala dinner for two, good-faith estimate $75.00",
                     "not deductible by you (donor-advised fund)", "Stock: 10 shares of ACME Corp", "not valued by us",
                     "Total of money gifts: <strong>$2,365.00", "Total tax-deductible amount: <strong>$650.00",
                     "Baltimore, MD 21201", "Issued"):
        assert expected in html, expected
    assert "$777.00" not in html and "$800.00" not in html


def test_letters_for_a_date_range_preview_counts_then_download(app, session):
    every_kind_of_gift(session, YEAR, email=None)
    session.commit()
    client = sign_in_as(app, session, "staff")
    query = {"start": f"{YEAR}-01-01", "end": f"{YEAR}-06-30", "per": "gift", "who": "no_email"}
    html = client.get("/staff/letters", query_string=query).get_data(as_text=True)
    assert re.search(r'data-count="letters">6<', html) and re.search(r'data-count="donors">1<', html)
    response = client.get("/staff/letters.pdf", query_string=query)
    assert response.headers["Content-Disposition"].startswith("attachment")
    pages = pdf_pages(response.data)
    assert len(pages) == 6 and all("Baltimore, MD 21201" in p for p in pages)
    bad = client.get("/staff/letters", query_string={**query, "end": f"{YEAR - 1}-01-01"})
    assert bad.status_code == 400 and "on or after the first day" in bad.get_data(as_text=True)
    assert client.get("/staff/letters", query_string={**query, "start": "31/01"}).status_code == 400


# ------------------------------------------------------------------ the year-end run from the CLI


def test_year_end_from_the_cli_emails_prints_and_never_sends_twice(app, session, tmp_path):
    people = mixed_year(session)
    tmp_path = tmp_path / "to-post"  # the app's instance folder is a sibling
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["year-end", str(YEAR), "--out", str(tmp_path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"{YEAR}: 3 statement(s) to email, 2 to print, 0 already sent." in dry.output
    assert session.scalar(select(func.count()).select_from(YearStatement)) == 0 and not tmp_path.exists()

    result = runner.invoke(args=["year-end", str(YEAR), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Emailed 3 message(s) now." in result.output
    [printed] = list(tmp_path.iterdir())
    pages = pdf_pages(printed.read_bytes())
    assert len(pages) == 2
    assert "Bob Post 9 Elm St Towson, MD 21204" in pages[0] and "$42.00" in pages[0]
    assert "Ina Kind 1 Oak Ave Columbia, MD 21044" in pages[1] and "Two laptops for the helpline" in pages[1]
    assert "$300.00" not in pages[1]  # an in-kind gift is described, never valued
    session.rollback()  # a new transaction sees the other sessions' commits
    messages = statement_messages(session)
    assert sorted(m.to_email for m in messages) == ["ann@example.org", "olu@example.org", "zoe@example.org"]
    assert all(m.status == MessageStatus.SENT for m in messages)
    zoe_mail = next(m for m in messages if m.to_email == "zoe@example.org")
    assert zoe_mail.subject == f"Your {YEAR} giving statement from Together, We Can End Restraint and Seclusion"
    for expected in ("Total of money gifts: $2,365.00", "Total tax-deductible amount: $650.00", "10 shares of ACME Corp",
                     "Players Philanthropy Fund, Inc., Tax ID (EIN) 27-6601178", "Thank you for your generosity"):
        assert expected in zoe_mail.body_text
    # The link in the email opens the same statement as a PDF, for the donor, without signing in.
    link = re.search(r"https?://\S+/statements/(\S+)\.pdf", zoe_mail.body_text).group(0)
    response = app.test_client().get(urllib.parse.urlsplit(link).path)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "private, no-store"
    assert "Total of money gifts: $2,365.00" in pdf_text(response.data)
    assert app.test_client().get("/statements/not-a-real-token.pdf").status_code == 404

    again = runner.invoke(args=["year-end", str(YEAR), "--out", str(tmp_path)])
    assert again.exit_code == 0 and "0 statement(s) to email, 0 to print, 5 already sent (--resend" in again.output
    assert "Nothing to send." in again.output
    session.rollback()  # a new transaction sees the other sessions' commits
    assert len(statement_messages(session)) == 3 and len(list(tmp_path.iterdir())) == 1

    resent = runner.invoke(args=["year-end", str(YEAR), "--out", str(tmp_path), "--resend"])
    assert resent.exit_code == 0 and "3 statement(s) to email, 2 to print, 0 already sent" in resent.output
    session.rollback()  # a new transaction sees the other sessions' commits
    assert len(statement_messages(session)) == 6 and len(list(tmp_path.iterdir())) == 2
    rounds = session.scalars(select(YearStatement.round).where(YearStatement.donor_id == people["bob"].id)).all()
    assert sorted(rounds) == [1, 2]
    assert session.scalar(select(func.count()).select_from(YearEndRun)) == 2


def test_year_end_refuses_a_year_to_come(app):
    result = app.test_cli_runner().invoke(args=["year-end", str(YEAR + 2), "--out", "/tmp/none"])
    assert result.exit_code != 0 and "Please choose a year from 2000" in result.output


def test_statement_emails_reach_a_real_smtp_server(make_app, tmp_path):
    port = free_port()
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_SECURITY="none", MAIL_FROM="Receipts <receipts@example.org>")
    with app.app_context():
        session = new_session()
        every_kind_of_gift(session, YEAR)
        session.commit()
        session.close()
    controller, inbox = start_smtp(port)
    try:
        result = app.test_cli_runner().invoke(args=["year-end", str(YEAR), "--out", str(tmp_path)])
    finally:
        controller.stop()
    assert result.exit_code == 0, result.output
    [message] = inbox.messages
    assert message["To"] == "zoe@example.org" and f"Your {YEAR} giving statement" in message["Subject"]
    body = message.get_content()
    assert "Dear Zoë Ñúñez," in body and "Total tax-deductible amount: $650.00" in body and "/statements/" in body


# ------------------------------------------------------------------ the staff page, over real HTTP


class Browserless:
    """A real HTTP client with cookies, speaking to the live server as a browser's forms would."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> tuple[int, dict, bytes]:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.status, dict(response.headers), response.read()

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(self.base + path, data=data, timeout=30) as response:
            return response.status, response.url, response.read().decode()

    def csrf(self, path: str) -> str:
        html = self.get(path)[2].decode()
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', html)}


def test_year_end_from_the_staff_page_on_a_running_server(app, live_server, session):
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    app.config["BACKGROUND_TASKS"] = True  # the in-app mail sender, as in production
    mixed_year(session)
    create_user(session, "volunteer@example.org", "staff", PASSWORD)
    session.commit()
    http = Browserless(live_server.url)
    http.post("/login", {"email": "volunteer@example.org", "password": PASSWORD, "csrf_token": http.csrf("/login")})

    status, _, body = http.get(f"/staff/year-end?year={YEAR}")
    assert status == 200 and counts(body.decode()) == {"email": 3, "print": 2, "already": 0}
    assert b"data-year-open" not in body  # last year is over: nothing to warn about
    this_year = http.get(f"/staff/year-end?year={YEAR + 1}")[2].decode()
    assert f"{YEAR + 1} isn't over yet. Statements sent now list gifts up to today" in this_year
    status, url, html = http.post("/staff/year-end", {"year": str(YEAR), "csrf_token": http.csrf(f"/staff/year-end?year={YEAR}")})
    assert "/staff/year-end/runs/" in url and f"{YEAR} statements: 3 emailed, 2 to print." in html
    assert "9 Elm St, Towson, MD 21204" in html and "zoe@example.org" in html
    pdf_link = re.search(r'href="(/staff/year-end/runs/\d+/to-print\.pdf)"', html).group(1)
    status, headers, data = http.get(pdf_link)
    assert headers["Content-Type"] == "application/pdf" and headers["Content-Disposition"].startswith("attachment")
    pages = pdf_pages(data)
    assert len(pages) == 2 and "Bob Post" in pages[0] and "Ina Kind" in pages[1]

    # The emails go out in the background, with no cron and no terminal.
    deadline = time.monotonic() + 20
    while True:
        session.rollback()  # a new transaction sees the other sessions' commits
        statuses = [m.status for m in statement_messages(session)]
        if statuses == [MessageStatus.SENT] * 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert statuses == [MessageStatus.SENT] * 3

    # A second click sends nothing twice; asking to resend does.
    assert counts(http.get(f"/staff/year-end?year={YEAR}")[2].decode()) == {"email": 0, "print": 0, "already": 5}
    status, url, html = http.post("/staff/year-end", {"year": str(YEAR), "csrf_token": http.csrf(f"/staff/year-end?year={YEAR}")})
    assert "every donor already got their statement" in html
    status, url, html = http.post(
        "/staff/year-end", {"year": str(YEAR), "resend": "yes", "csrf_token": http.csrf(f"/staff/year-end?year={YEAR}&resend=yes")},
    )
    assert f"{YEAR} statements: 3 emailed, 2 to print." in html
    session.rollback()  # a new transaction sees the other sessions' commits
    assert len(statement_messages(session)) == 6


# ------------------------------------------------------------------ donor mailing addresses


def test_donor_address_is_saved_and_exported(app, session):
    make_campaign(session, slug="spring", title="Spring Appeal")
    session.commit()
    client = sign_in_as(app, session, "staff")
    saved = client.post("/staff/donors/new", data={
        "name": "Acme Foundation", "kind": "organisation", "address_line1": "100 Main St", "address_line2": "Suite 5",
        "city": "Annapolis", "region": "MD", "postal_code": "21401", "country": "us",
    })
    assert saved.status_code == 302
    rows = list(csv.DictReader(io.StringIO(client.get("/staff/donors.csv").get_data(as_text=True)[1:])))
    assert [(r["name"], r["address_line1"], r["address_line2"], r["city"], r["region"], r["postal_code"], r["country"])
            for r in rows] == [("Acme Foundation", "100 Main St", "Suite 5", "Annapolis", "MD", "21401", "US")]

    # Imported addresses are covered with the import engine (tests/unit/test_imports.py).


@pytest.mark.parametrize("path", ["/staff/year-end", "/staff/letters", "/staff/year-end/runs/1", "/staff/gifts/1/letter.pdf"])
def test_paperwork_pages_are_for_staff_only(app, session, path):
    board = sign_in_as(app, session, "board")
    assert board.get(path).status_code == 403
    assert app.test_client().get(path).status_code == 302
