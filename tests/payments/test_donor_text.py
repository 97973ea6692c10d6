"""Donor text cannot carry control characters into the database or a mail header (issue 18).

Attack payloads: a CRLF followed by a Bcc: header, NUL (PostgreSQL refuses it in text), and
Unicode's line separator U+2028, in the donate form, staff forms and Stripe metadata.
"""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from fundraiser import donations, mail
from fundraiser.config import load_settings
from fundraiser.donations import FormErrors
from fundraiser.models import Donor, Gift, OutboxMessage
from fundraiser.settings import current_settings
from fundraiser.text import clean, problem
from tests.factories import make_campaign
from tests.payments import stripe_shapes as s

INJECTIONS = ["Eve\r\nBcc: victim@example.com", "Eve\x00", "Eve\u2028Bcc: victim@example.com", "Eve\x85", "Eve\x1b[31m"]
GOOD = {"amount": "5000", "frequency": "once", "name": "Dana Donor", "email": "dana@example.org",
        "show_name": "no", "show_amount": "yes"}


@pytest.mark.parametrize("value", INJECTIONS)
def test_single_line_text_with_control_characters_is_refused_and_cleaned(value):
    assert problem(value) is not None
    cleaned = clean(value)
    assert not any(ch in cleaned for ch in "\r\n\x00\u2028\x85\x1b")
    assert cleaned.startswith("Eve")


def test_multi_line_text_keeps_its_line_breaks_but_not_other_controls():
    assert problem("Thank you,\r\nDana\tand family", multiline=True) is None
    assert clean("Thank you,\r\nDana", multiline=True) == "Thank you,\nDana"
    assert problem("Thank you\x00", multiline=True) is not None
    assert clean("a\x00b\x07c", multiline=True) == "abc"


@pytest.mark.parametrize("field", ["name", "email", "dedication_name", "dedication_notify_email"])
@pytest.mark.parametrize("value", INJECTIONS)
def test_the_donate_form_refuses_control_characters_with_a_message(session, tmp_path, field, value):
    campaign = make_campaign(session)
    form = {**GOOD, "dedication_kind": "honour", "dedication_name": "Sam", field: value}
    result = donations.parse_donation(form, campaign, load_settings({}, tmp_path))
    assert isinstance(result, FormErrors)
    assert field in result.errors
    assert "one line" in result.errors[field] or "control characters" in result.errors[field] \
        or "valid email" in result.errors[field]


def test_a_comment_may_have_line_breaks_but_not_nul(session, tmp_path):
    campaign = make_campaign(session)
    settings = load_settings({}, tmp_path)
    ok = donations.parse_donation({**GOOD, "comment": "For Sam,\r\nwith love"}, campaign, settings)
    assert not isinstance(ok, FormErrors) and ok.comment == "For Sam,\nwith love"
    bad = donations.parse_donation({**GOOD, "comment": "For Sam\x00"}, campaign, settings)
    assert isinstance(bad, FormErrors) and "control characters" in bad.errors["comment"]


def test_the_donate_endpoint_answers_400_with_the_field_message(app, client, session):
    campaign = make_campaign(session)
    session.commit()
    response = client.post(f"/api/campaigns/{campaign.slug}/donations",
                           json={**GOOD, "name": "Eve\r\nBcc: victim@example.com"})
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"]["name"] == "Please keep this on one line."


def test_webhook_metadata_is_stripped_before_it_reaches_the_donor_or_a_mail_header(app, deliver, session, tmp_path):
    campaign = make_campaign(session)
    session.commit()
    metadata = {
        "campaign_id": str(campaign.id), "frequency": "once", "show_name": "yes", "show_amount": "no",
        "donor_name": "Eve\r\nBcc: victim@example.com\x00",
        "dedication_kind": "honour", "dedication_name": "Sam\u2028Bcc: victim@example.com",
        "dedication_notify_email": "friend@example.org\r\nBcc: victim@example.com",
        "comment": "Line one\r\nline two\x00",
    }
    pi = s.payment_intent(2500, metadata=metadata, email="eve@example.org")
    assert deliver(s.event("payment_intent.succeeded", pi)).status_code == 200
    session.rollback()
    gift = session.scalar(select(Gift))
    assert gift.donor.name == "Eve Bcc: victim@example.com"
    assert gift.dedication_name == "Sam Bcc: victim@example.com"
    assert gift.public_comment == "Line one\nline two"
    assert gift.dedication_notify_email is None  # not an address once cleaned: no notice is sent
    with app.app_context():
        mail.send_due(mail.Mailer(current_settings()))
    outbox = tmp_path / "instance" / "outbox"
    messages = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(outbox.glob("*.eml"))]
    assert messages, "the receipt was written"
    for message in messages:
        assert message["Bcc"] is None
        assert all("\n" not in str(value) and "\r" not in str(value) for value in message.values())
    session.rollback()
    assert all(m.to_email != "victim@example.com" for m in session.scalars(select(OutboxMessage)))


def test_a_donor_created_from_any_path_has_clean_text(session):
    from fundraiser.donors import find_or_create_donor

    donor = find_or_create_donor(session, email="Pat@Example.org\r\n", name="Pat\u2028Bcc: x@example.com\x00")
    session.flush()
    assert donor.name == "Pat Bcc: x@example.com" and donor.email == "pat@example.org"
    assert session.scalar(select(Donor).where(Donor.email == "pat@example.org")) is donor
