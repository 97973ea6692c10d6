"""Households: staff group donors for mailing and reporting; the household page adds up each
member's own giving without counting a gift twice, and the mailing CSV has one row per household."""

from sqlalchemy import select

from fundraiser.models import AuditLog, CreditKind, Donor, GiftCredit, Household
from tests.factories import give, make_campaign, make_donor
from tests.functional.staff_helpers import signed_in_client
from tests.functional.test_downloads_live import rows_of


def test_a_household_made_from_a_donor_page_adds_up_its_members_giving_once(app, session):
    campaign = make_campaign(session)
    jane = make_donor(session, name="Jane Smith", address_line1="1 Elm St", city="Springfield", postal_code="01101")
    john = make_donor(session, name="John Smith")
    give(session, campaign, 10000, donor=jane)
    joint = give(session, campaign, 25000, donor=john)
    # John's check also soft-credits Jane: the household must not count it twice.
    session.add(GiftCredit(gift_id=joint.id, donor_id=jane.id, name=jane.name, amount_cents=25000, kind=CreditKind.SPOUSE))
    session.commit()
    client = signed_in_client(app, session, "staff", "not-a-real-hash")

    reply = client.post("/staff/households", data={"donor_id": str(jane.id), "name": "Smith household",
                                                   "mailing_name": "The Smith Family"})
    assert reply.status_code == 302
    household = session.scalar(select(Household))
    assert (household.mailing_name, household.address_line1, household.postal_code) == ("The Smith Family", "1 Elm St", "01101")
    reply = client.post(f"/staff/donors/{john.id}/household", data={"household_id": str(household.id)})
    assert reply.status_code == 302

    page = client.get(f"/staff/households/{household.id}").get_data(as_text=True)
    assert 'data-household-total>$350.00<' in page
    assert "Jane Smith" in page and "$100.00" in page and "John Smith" in page and "$250.00" in page
    assert "is in <a" in client.get(f"/staff/donors/{john.id}").get_data(as_text=True)


def test_taking_a_member_out_is_recorded_and_keeps_the_household(app, session):
    household = Household(name="Lee household", mailing_name="The Lee Family")
    session.add(household)
    session.flush()
    ann = make_donor(session, name="Ann Lee", household_id=household.id)
    session.commit()
    client = signed_in_client(app, session, "staff", "not-a-real-hash")

    reply = client.post(f"/staff/donors/{ann.id}/household/remove", data={"back": "household"})
    assert reply.headers["Location"].endswith(f"/staff/households/{household.id}")
    session.expire_all()
    assert session.get(Donor, ann.id).household_id is None and session.get(Household, household.id) is not None
    row = session.scalar(select(AuditLog).where(AuditLog.action == "donor.household"))
    assert (row.before, row.after) == ({"household_id": household.id}, {"household_id": None})
    history = client.get(f"/staff/donors/{ann.id}").get_data(as_text=True)
    assert "changed the household of" in history and "Lee household" in history


def test_a_household_needs_a_name_and_a_mailing_name(app, session):
    client = signed_in_client(app, session, "staff", "not-a-real-hash")
    reply = client.post("/staff/households", data={"name": "", "mailing_name": "", "country": "USA"})
    assert reply.status_code == 400
    text = reply.get_data(as_text=True)
    assert "Please name the household" in text and "how envelopes are addressed" in text and "two-letter" in text
    assert session.scalars(select(Household)).all() == []


def test_the_mailing_csv_has_one_row_per_household_and_each_donor_in_none(arrange, staff_http):
    with arrange() as session:
        household = Household(name="Smith household", mailing_name="The Smith Family", address_line1="1 Elm St",
                              postal_code="01101")
        session.add(household)
        session.flush()
        make_donor(session, name="Jane Smith", household_id=household.id)
        make_donor(session, name="John Smith", household_id=household.id)
        make_donor(session, name="Rosa Parks", address_line1="9 Oak Ave", do_not_contact=True)
        gone = make_donor(session, name="Old Record")
        keep = make_donor(session, name="Kept Record")
        gone.merged_into_id = keep.id
    rows = rows_of(staff_http().get("/staff/households.csv"))
    assert [(r["mailing_name"], r["address_line1"]) for r in rows] == [
        ("The Smith Family", "1 Elm St"), ("Kept Record", ""), ("Rosa Parks", "9 Oak Ave")]
    assert rows[0]["members"] == "Jane Smith; John Smith" and rows[2]["do_not_contact"] == "yes"


def test_editing_a_household_shows_before_and_after_in_its_history(app, session):
    household = Household(name="Kim household", mailing_name="The Kims")
    session.add(household)
    session.commit()
    client = signed_in_client(app, session, "staff", "not-a-real-hash")
    form = {"name": "Kim household", "mailing_name": "The Kim Family", "address_line1": "3 Bay St", "country": "us"}

    assert client.post(f"/staff/households/{household.id}/edit", data={**form, "mailing_name": ""}).status_code == 400
    assert client.post(f"/staff/households/{household.id}/edit", data=form).status_code == 302
    session.expire_all()
    assert (household.mailing_name, household.address_line1, household.country) == ("The Kim Family", "3 Bay St", "US")
    page = client.get(f"/staff/households/{household.id}").get_data(as_text=True)
    assert "updated the household" in page and "<del>The Kims</del>" in page
