"""Likely duplicates are shown before a donor is created (the donor form and the gift form's new
donor), and the donor search finds partial names, email fragments and near misses on both databases."""


from sqlalchemy import func, select

from fundraiser import donors, gifts
from fundraiser.models import Donor, Gift
from tests.factories import local_today, make_campaign, make_donor
from tests.functional.staff_helpers import signed_in_client


def test_the_donor_form_warns_of_a_close_name_at_the_same_postal_code_before_creating(app, session):
    known = make_donor(session, name="Jonathan Smith", email=None, postal_code="02139")
    session.commit()
    client = signed_in_client(app, session, "staff", "not-a-real-hash")
    form = {"name": "Jonathon Smith", "kind": "person", "postal_code": "02139 "}

    reply = client.post("/staff/donors/new", data=form)
    page = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "This may be a donor you already have" in page
    assert f'href="/staff/donors/{known.id}"' in page and 'value="Jonathon Smith"' in page
    assert session.scalar(select(func.count()).select_from(Donor)) == 1

    reply = client.post("/staff/donors/new", data={**form, "create_anyway": "yes"})
    assert reply.status_code == 302
    assert session.scalar(select(func.count()).select_from(Donor)) == 2


def test_the_gift_forms_new_donor_is_checked_too_and_nothing_is_saved_until_staff_choose(app, session):
    campaign = make_campaign(session)
    make_donor(session, name="J. Smith", email=None, address_line1="12 High Street")
    session.commit()
    client = signed_in_client(app, session, "staff", "not-a-real-hash")
    form = {"token": gifts.new_submission_token(), "campaign_id": str(campaign.id), "received_on": local_today().isoformat(),
            "method": "check", "amount": "40", "new_donor_name": "John Smith", "new_donor_kind": "person",
            "new_donor_address_line1": "12 high street"}

    page = client.post("/staff/gifts/new", data=form).get_data(as_text=True)
    assert "This may be a donor you already have" in page and "J. Smith" in page
    assert session.scalars(select(Gift)).all() == []

    assert client.post("/staff/gifts/new", data={**form, "create_anyway": "yes"}).status_code == 302
    assert session.scalar(select(Donor).where(Donor.name == "John Smith")).address_line1 == "12 high street"


def test_likely_duplicates_match_email_or_close_name_at_one_address_only(session):
    same_email = make_donor(session, name="Mary Jones", email="mary@example.org")
    elsewhere = make_donor(session, name="Mary Jones", email=None, postal_code="90210")
    found = donors.likely_duplicates(session, name="Mary Jones", email=" MARY@example.org", postal_code="10001")
    assert [d.id for d in found] == [same_email.id]
    assert donors.likely_duplicates(session, name="Marie Jones", postal_code="90210") == [elsewhere]
    assert donors.likely_duplicates(session, name="Peter Jones", postal_code="90210") == []


def test_search_finds_partial_names_near_misses_and_email_fragments(app, session):
    john = make_donor(session, name="John Smith", email="jsmith@example.org")
    smithers = make_donor(session, name="Waylon Smithers", email="ws@plant.example")
    make_donor(session, name="Jane Doe", email="jane@elsewhere.example")
    session.commit()

    assert [d.id for d in donors.find(session, "smi")] == [john.id, smithers.id]
    assert [d.id for d in donors.find(session, "Jonh Smtih")] == [john.id]
    assert [d.id for d in donors.find(session, "plant.exa")] == [smithers.id]
    assert donors.find(session, "Xyz Qwv") == []
    # The gift form's lookup and the staff list use the same search.
    assert [d.id for d in gifts.find_donors(session, "jonh")] == [john.id]
    client = signed_in_client(app, session, "staff", "not-a-real-hash")
    assert [d["id"] for d in client.get("/staff/donors/search.json?q=Smtih").get_json()] == [john.id, smithers.id]
    assert "John Smith" in client.get("/staff/donors?q=jhon+smith").get_data(as_text=True)
