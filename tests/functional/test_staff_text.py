"""Staff forms refuse donor text with control characters (a header injection, NUL, U+2028) with a
message on the field, and store nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from fundraiser.models import Donor, Gift, User
from tests.factories import make_campaign
from tests.functional.staff_helpers import sign_in_as

INJECTIONS = ["Eve\r\nBcc: victim@example.com", "Eve\x00", "Eve\u2028Bcc: victim@example.com"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_the_donor_form_refuses_control_characters(app, session, value):
    client = sign_in_as(app, session, "staff")
    response = client.post("/staff/donors/new", data={"kind": "person", "name": value, "email": "eve@example.org"})
    assert response.status_code in (400, 422)
    page = response.get_data(as_text=True)
    # NUL is refused at the door (400, for every request); the rest by the form, on the field.
    assert "Please keep this on one line." in page or "control characters" in page or "NUL character" in page
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Donor)) == 0


def test_donor_notes_keep_their_line_breaks(app, session):
    client = sign_in_as(app, session, "staff")
    response = client.post("/staff/donors/new", data={"kind": "person", "name": "Pat", "notes": "Met at the fair.\r\nLikes email."})
    assert response.status_code == 302
    session.rollback()
    assert session.scalar(select(Donor)).notes == "Met at the fair.\r\nLikes email."


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_new_donor_on_a_gift_is_refused_with_control_characters(app, session, value):
    campaign = make_campaign(session)
    session.commit()
    client = sign_in_as(app, session, "staff")
    response = client.post("/staff/gifts/new", data={
        "campaign_id": str(campaign.id), "method": "check", "amount": "25", "new_donor_name": value,
        "received_on": "2026-11-02"})
    assert response.status_code in (400, 422)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Gift)) == 0


def test_an_invitation_name_with_a_header_injection_is_refused(app, session):
    client = sign_in_as(app, session, "admin")
    response = client.post("/staff/users", data={
        "email": "new@example.org", "name": "New\r\nBcc: victim@example.com", "role": "staff"})
    assert response.status_code in (400, 422)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(User)) == 1
