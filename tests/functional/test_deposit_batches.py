"""Numbered deposit batches: gather checks as they come, enter new ones, close against the slip, print."""

import re
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from fundraiser.models import AuditLog, DepositBatch, Donor, Gift
from fundraiser.statements import year_statement
from tests.factories import make_campaign
from tests.functional.staff_helpers import sign_in_as

TZ_NAME = "America/New_York"


def token_of(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def enter_gift(client, campaign, amount, received_on, name, reference):
    token = token_of(client.get("/staff/gifts/new").get_data(as_text=True))
    reply = client.post("/staff/gifts/new", data={
        "token": token, "campaign_id": campaign.id, "amount": amount, "method": "check", "received_on": received_on,
        "new_donor_name": name, "reference": reference,
    })
    assert reply.status_code == 302, reply.get_data(as_text=True)


def open_deposit(client, memo="") -> int:
    reply = client.post("/staff/deposits", data={"currency": "USD", "memo": memo})
    assert reply.status_code == 302
    return int(reply.headers["Location"].rsplit("/", 1)[1])


def test_a_deposit_gathers_checks_from_the_mail_and_new_ones_and_closes_only_on_the_slip_total(app, session):
    campaign = make_campaign(session, title="Spring")
    session.commit()
    client = sign_in_as(app, session, "staff")
    enter_gift(client, campaign, "100", "2025-12-30", "Ann Archer", "501")  # arrived before New Year
    enter_gift(client, campaign, "50", "2026-01-02", "Ben Baker", "502")
    batch_id = open_deposit(client, memo="First National, Main St")
    page = client.get(f"/staff/deposits/{batch_id}").get_data(as_text=True)
    assert "Deposit 1" in page and "Ann Archer" in page and "Ben Baker" in page
    ann, ben = session.scalars(select(Gift).order_by(Gift.id)).all()
    assert client.post(f"/staff/deposits/{batch_id}/add", data={"gift_ids": [ann.id, ben.id]}).status_code == 302

    token = token_of(client.get(f"/staff/deposits/{batch_id}").get_data(as_text=True))
    new_checks = {
        "token": token, "row_count": "12", "campaign_id": campaign.id, "method": "check", "received_on": "2026-01-05",
        "rows-0-new_donor_name": "Cleo Diaz", "rows-0-amount": "25.50", "rows-0-reference": "7001",
        "rows-0-new_donor_email": "cleo@example.org", "rows-0-new_donor_address_line1": "1 Elm St",
        "rows-0-new_donor_city": "Baltimore", "rows-0-new_donor_region": "MD", "rows-0-new_donor_postal_code": "21201",
        "rows-1-new_donor_name": "Dev Patel", "rows-1-amount": "40", "rows-1-reference": "7002",
        "rows-1-received_on": "2025-12-31", "rows-1-note": "for the film",
    }
    reply = client.post(f"/staff/deposits/{batch_id}/gifts", data=new_checks)
    assert reply.status_code == 302
    again = client.post(f"/staff/deposits/{batch_id}/gifts", data=new_checks, follow_redirects=True)
    assert "already saved" in again.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Gift)) == 4
    cleo = session.scalar(select(Donor).where(Donor.name == "Cleo Diaz"))
    assert (cleo.email, cleo.address_line1, cleo.city, cleo.region, cleo.postal_code) == (
        "cleo@example.org", "1 Elm St", "Baltimore", "MD", "21201")

    refused = client.post(f"/staff/deposits/{batch_id}/close", data={"slip_total": "200.00"})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "add up to $215.50 but the slip says $200.00 (over by $15.50)" in text
    session.expire_all()
    assert session.get(DepositBatch, batch_id).status == "open"

    assert client.post(f"/staff/deposits/{batch_id}/close", data={"slip_total": "215.50"}).status_code == 302
    session.expire_all()
    batch = session.get(DepositBatch, batch_id)
    assert (batch.status, batch.slip_total_cents, batch.closed_by_id is not None) == ("closed", 21550, True)

    report = client.get(f"/staff/deposits/{batch_id}/report").get_data(as_text=True)
    for expected in ("Deposit 1", "$215.50", "501", "7002", "Ann Archer", "Dev Patel", "for the film", "First National, Main St"):
        assert expected in report
    # Received dates stay as they were: the December checks count in 2025's giving.
    from zoneinfo import ZoneInfo

    dev = session.scalar(select(Donor).where(Donor.name == "Dev Patel"))
    assert year_statement(session, dev, 2025, ZoneInfo(TZ_NAME)).totals_by_currency == {"USD": 4000}
    assert [g.received_at.astimezone(ZoneInfo(TZ_NAME)).date() for g in (ann,)] == [date(2025, 12, 30)]

    closed = client.post(f"/staff/deposits/{batch_id}/gifts", data=new_checks | {"token": "another"}, follow_redirects=True)
    assert "is closed" in closed.get_data(as_text=True)
    actions = set(session.scalars(select(AuditLog.action).where(AuditLog.action.like("deposit.%"))))
    assert actions == {"deposit.open", "deposit.add", "deposit.close"}
    assert "Deposit 1" in client.get("/staff/deposits").get_data(as_text=True)


def test_new_checks_in_a_deposit_save_all_or_nothing(app, session):
    campaign = make_campaign(session)
    session.commit()
    client = sign_in_as(app, session, "staff")
    batch_id = open_deposit(client)
    token = token_of(client.get(f"/staff/deposits/{batch_id}").get_data(as_text=True))
    reply = client.post(f"/staff/deposits/{batch_id}/gifts", data={
        "token": token, "row_count": "12", "campaign_id": campaign.id, "method": "check", "received_on": "2026-01-05",
        "rows-0-new_donor_name": "Good Row", "rows-0-amount": "10",
        "rows-1-new_donor_name": "Bad Row", "rows-1-amount": "ten dollars",
        "rows-2-new_donor_name": "Future Row", "rows-2-amount": "5", "rows-2-received_on": "2099-01-01",
    })
    text = reply.get_data(as_text=True)
    assert reply.status_code == 400 and "Nothing was saved" in text
    assert "be in the future" in text and 'value="Good Row"' in text
    assert session.scalar(select(func.count()).select_from(Gift)) == 0


def test_a_check_goes_in_one_deposit_only(app, session):
    campaign = make_campaign(session)
    session.commit()
    client = sign_in_as(app, session, "staff")
    enter_gift(client, campaign, "100", "2026-01-02", "Ann Archer", "501")
    gift_id = session.scalar(select(Gift.id))
    first, second = open_deposit(client), open_deposit(client)
    client.post(f"/staff/deposits/{first}/add", data={"gift_ids": [gift_id]})
    page = client.post(f"/staff/deposits/{second}/add", data={"gift_ids": [gift_id]}, follow_redirects=True).get_data(as_text=True)
    assert "already in a deposit" in page
    assert client.post(f"/staff/deposits/{first}/remove/{gift_id}").status_code == 302
    client.post(f"/staff/deposits/{second}/add", data={"gift_ids": [gift_id]})
    session.expire_all()
    assert session.get(Gift, gift_id).deposit_batch_id == second
    empty = client.post(f"/staff/deposits/{first}/close", data={"slip_total": "10"})
    assert empty.status_code == 400 and "no checks yet" in empty.get_data(as_text=True)


def test_the_whole_deposit_form_makes_a_closed_numbered_deposit(app, session):
    campaign = make_campaign(session)
    session.commit()
    client = sign_in_as(app, session, "staff")
    token = token_of(client.get("/staff/gifts/deposit").get_data(as_text=True))
    reply = client.post("/staff/gifts/deposit", data={
        "token": token, "row_count": "12", "campaign_id": campaign.id, "method": "check", "received_on": "2026-01-05",
        "slip_total": "35", "rows-0-new_donor_name": "A", "rows-0-amount": "10",
        "rows-1-new_donor_name": "B", "rows-1-amount": "25", "rows-1-show_publicly": "yes",
    }, follow_redirects=True)
    assert "as deposit 1" in reply.get_data(as_text=True)
    batch = session.scalar(select(DepositBatch))
    assert (batch.number, batch.status, batch.slip_total_cents) == (1, "closed", 3500)
    gifts = session.scalars(select(Gift).order_by(Gift.id)).all()
    assert [g.deposit_batch_id for g in gifts] == [batch.id, batch.id]
    assert [g.is_anonymous for g in gifts] == [True, False]


def test_two_people_opening_deposits_at_once_get_the_next_numbers(app):
    """The second of two concurrent opens (PostgreSQL sees the same highest number in both) takes the
    next number instead of failing the request."""
    import threading

    from fundraiser.audit import Actor
    from fundraiser.db import new_session
    from fundraiser.deposits import open_batch

    numbers, errors = [], []
    first_flushed, first_may_commit = threading.Event(), threading.Event()

    def open_one(wait_before_commit: bool):
        with app.app_context():
            session = new_session(write=True)
            try:
                numbers.append(open_batch(session, Actor(None), "USD").number)
                if wait_before_commit:
                    first_flushed.set()
                    first_may_commit.wait(30)
                session.commit()
            except (SQLAlchemyError, ValueError) as exc:  # reported below, with the numbers
                errors.append(exc)
            finally:
                first_flushed.set()
                session.close()

    first = threading.Thread(target=open_one, args=(True,))
    first.start()
    first_flushed.wait(30)
    second = threading.Thread(target=open_one, args=(False,))
    second.start()
    second.join(0.5)  # the second waits on the first's uncommitted number (or SQLite's write lock)
    first_may_commit.set()
    first.join(30)
    second.join(30)
    assert errors == []
    assert sorted(numbers) == [1, 2]
