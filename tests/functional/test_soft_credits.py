"""Soft credits: staff credit another donor with a gift for reporting. The giver of record keeps the
gift's money, receipt and statement; removing a credit keeps the row and tells the audit log."""

from zoneinfo import ZoneInfo

from sqlalchemy import select

from fundraiser import ledger
from fundraiser.db import utcnow
from fundraiser.models import AuditLog, CampaignTotals, CreditKind, GiftCredit
from fundraiser.statements import year_statement
from tests.factories import give, make_campaign, make_donor
from tests.functional.staff_helpers import signed_in_client
from tests.functional.test_downloads_live import rows_of

TZ = ZoneInfo("America/New_York")


def test_a_soft_credit_shows_on_the_advisors_page_and_never_moves_money(app, session):
    campaign = make_campaign(session)
    fund = make_donor(session, name="Fidelity Charitable", email="daf@example.org")
    advisor = make_donor(session, name="Grace Hopper", email="grace@example.org")
    gift = give(session, campaign, 50000, donor=fund)
    session.commit()
    raised_before = session.get(CampaignTotals, campaign.id).raised_cents
    client = signed_in_client(app, session, "staff", "not-a-real-hash")

    reply = client.post(f"/staff/gifts/{gift.id}/soft-credits",
                        data={"donor_id": str(advisor.id), "credit_kind": "daf_advisor", "credit_amount": ""})
    assert reply.status_code == 302
    page = client.get(f"/staff/gifts/{gift.id}").get_data(as_text=True)
    assert "Grace Hopper" in page and "Donor-advised fund advisor" in page

    donor_page = client.get(f"/staff/donors/{advisor.id}").get_data(as_text=True)
    assert "Soft-credit total:</strong> $500.00" in donor_page
    assert "Total given</dt><dd>nothing yet" in donor_page  # the advisor's own giving is apart
    session.expire_all()
    assert session.get(CampaignTotals, campaign.id).raised_cents == raised_before
    assert ledger.verify_totals(session) == []
    year = gift.received_at.astimezone(TZ).year
    assert year_statement(session, fund, year, TZ).totals_by_currency == {"USD": 50000}
    assert year_statement(session, advisor, year, TZ).lines == []


def test_a_bad_soft_credit_is_refused_with_a_reason_and_nothing_is_stored(app, session):
    campaign = make_campaign(session)
    giver = make_donor(session, name="Ada Lovelace")
    spouse = make_donor(session, name="William King")
    gift = give(session, campaign, 10000, donor=giver)
    session.commit()
    client = signed_in_client(app, session, "staff", "not-a-real-hash")

    for form, message in [
        ({"donor_id": str(giver.id), "credit_kind": "spouse"}, "already gave this gift"),
        ({"donor_id": str(spouse.id), "credit_kind": ""}, "Please choose why"),
        ({"donor_id": str(spouse.id), "credit_kind": "spouse", "credit_amount": "150"}, "can&#39;t be more than the gift"),
        ({"donor_query": "nobody at all", "credit_kind": "spouse"}, "pick them from the list"),
    ]:
        reply = client.post(f"/staff/gifts/{gift.id}/soft-credits", data=form)
        assert reply.status_code == 400
        assert message in reply.get_data(as_text=True)
    assert session.scalars(select(GiftCredit)).all() == []


def test_removing_a_soft_credit_keeps_the_row_and_the_audit_log_shows_both(app, session):
    campaign = make_campaign(session)
    company = make_donor(session, name="Acme Corp")
    employee = make_donor(session, name="Linus Torvalds")
    gift = give(session, campaign, 20000, donor=company)
    session.commit()
    client = signed_in_client(app, session, "staff", "not-a-real-hash")
    # Without JavaScript the exact name typed finds the donor.
    client.post(f"/staff/gifts/{gift.id}/soft-credits",
                data={"donor_query": "linus torvalds", "credit_kind": "employer_match", "credit_amount": "100"})
    credit = session.scalar(select(GiftCredit))
    assert (credit.donor_id, credit.kind, credit.amount_cents) == (employee.id, CreditKind.EMPLOYER_MATCH, 10000)

    reply = client.post(f"/staff/gifts/{gift.id}/soft-credits/{credit.id}/remove")
    assert reply.status_code == 302
    session.expire_all()
    kept = session.get(GiftCredit, credit.id)
    assert kept.removed_at is not None and kept.removed_by_id is not None
    actions = session.scalars(select(AuditLog.action).where(AuditLog.object_id == str(gift.id)).order_by(AuditLog.id)).all()
    assert actions[-2:] == ["gift.soft_credit_add", "gift.soft_credit_remove"]
    page = client.get(f"/staff/gifts/{gift.id}").get_data(as_text=True)
    assert "removed a soft credit from" in page and "No soft credits." in page
    assert "No soft credits." in client.get(f"/staff/donors/{employee.id}").get_data(as_text=True)
    again = client.post(f"/staff/gifts/{gift.id}/soft-credits/{credit.id}/remove")
    assert again.status_code == 400 and "already removed" in again.get_data(as_text=True)


def test_the_donors_csv_has_a_soft_credit_total_apart_from_lifetime_giving(arrange, staff_http):
    with arrange() as session:
        campaign = make_campaign(session)
        fund = make_donor(session, name="Schwab Charitable")
        advisor = make_donor(session, name="Katherine Johnson")
        gift = give(session, campaign, 30000, donor=fund)
        session.add(GiftCredit(gift_id=gift.id, donor_id=advisor.id, name=advisor.name, amount_cents=30000,
                               kind=CreditKind.DAF_ADVISOR))
        removed = give(session, campaign, 5000, donor=fund)
        session.add(GiftCredit(gift_id=removed.id, donor_id=advisor.id, name=advisor.name, amount_cents=5000,
                               kind=CreditKind.DAF_ADVISOR, removed_at=utcnow()))
    rows = {r["name"]: r for r in rows_of(staff_http().get("/staff/donors.csv"))}
    assert (rows["Katherine Johnson"]["lifetime_total_USD"], rows["Katherine Johnson"]["soft_credit_total_USD"]) == ("0.00", "300.00")
    assert (rows["Schwab Charitable"]["lifetime_total_USD"], rows["Schwab Charitable"]["soft_credit_total_USD"]) == ("350.00", "0.00")
