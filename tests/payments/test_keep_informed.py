""""Keep me informed": an optional tick on the donate form, carried to Stripe and back, recorded on
the donor with its date when the gift is, and downloaded by staff as the newsletter list."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from sqlalchemy import select

from fundraiser import donations
from fundraiser.config import load_settings
from fundraiser.models import DonationAttempt, Donor
from fundraiser.payments import stripe as adapter
from tests.factories import make_campaign, make_donor
from tests.payments import stripe_shapes as s
from tests.payments.test_donate_form import GOOD, RecordingCheckout

MAY_1 = int(datetime(2026, 5, 1, 15, 30, tzinfo=UTC).timestamp())
JUNE_1 = int(datetime(2026, 6, 1, 9, 0, tzinfo=UTC).timestamp())


def test_keep_informed_is_off_unless_the_donor_ticks_it(session, tmp_path):
    campaign = make_campaign(session)
    settings = load_settings({}, tmp_path)
    assert donations.parse_donation(GOOD, campaign, settings).keep_informed is False
    assert donations.parse_donation({**GOOD, "keep_informed": "yes"}, campaign, settings).keep_informed is True


def test_the_donate_form_offers_the_box_unticked(client, session):
    campaign = make_campaign(session)
    session.commit()
    html = client.get(f"/campaigns/{campaign.slug}").get_data(as_text=True)
    box = html[html.index('name="keep_informed"') - 40:html.index('name="keep_informed"') + 60]
    assert 'type="checkbox"' in box and "checked" not in box
    assert "Keep me informed" in html


def test_consent_travels_through_stripe_and_is_dated_by_the_gift(client, session, monkeypatch, deliver):
    campaign = make_campaign(session)
    session.commit()
    recorder = RecordingCheckout()
    monkeypatch.setattr(adapter, "_client", recorder)
    assert client.post(f"/campaigns/{campaign.slug}/donate", data={**GOOD, "keep_informed": "yes"}).status_code == 303
    [(params, _)] = recorder.calls
    metadata = params["payment_intent_data"]["metadata"]
    assert metadata["keep_informed"] == "yes" and params["metadata"] == metadata
    attempt = session.scalar(select(DonationAttempt))
    assert attempt.choices["keep_informed"] is True

    first = {**s.payment_intent(5000, metadata=metadata), "created": MAY_1}
    assert deliver(s.event("payment_intent.succeeded", first, created=MAY_1)).status_code == 200
    # A later gift with the box ticked again leaves the first consent's date as it was.
    again = {**s.payment_intent(2500, metadata=metadata), "created": JUNE_1}
    assert deliver(s.event("payment_intent.succeeded", again, created=JUNE_1)).status_code == 200
    # A gift without the tick records no consent for its donor.
    plain = {**metadata, "donor_email": "quiet@example.org", "donor_name": "Quiet Donor"}
    del plain["keep_informed"]
    assert deliver(s.event("payment_intent.succeeded", s.payment_intent(2500, metadata=plain))).status_code == 200
    session.rollback()  # a fresh snapshot: SQLite keeps a read transaction's view until it ends
    dana = session.scalar(select(Donor).where(Donor.email == "dana@example.org"))
    quiet = session.scalar(select(Donor).where(Donor.email == "quiet@example.org"))
    assert dana.newsletter_consent_at == datetime(2026, 5, 1, 15, 30, tzinfo=UTC)
    assert quiet.newsletter_consent_at is None


def test_staff_download_the_consented_list_from_a_running_server(staff_http, arrange):
    with arrange() as session:
        make_donor(session, name="Zoë Ångström", email="zoe@example.org",
                   newsletter_consent_at=datetime(2026, 5, 1, 15, 30, tzinfo=UTC))
        make_donor(session, name="=HYPERLINK(\"http://evil\")", email="evil@example.org",
                   newsletter_consent_at=datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
        make_donor(session, name="Never Asked", email="never@example.org")
        make_donor(session, name="Changed Mind", email="stop@example.org", do_not_contact=True,
                   newsletter_consent_at=datetime(2026, 4, 1, tzinfo=UTC))
    reply = staff_http().get("/staff/donors/newsletter.csv")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/csv")
    assert reply.body.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 byte-order mark"
    rows = list(csv.DictReader(io.StringIO(reply.body.decode("utf-8-sig"))))
    assert [(r["name"], r["email"], r["consented_at"]) for r in rows] == [
        ("Zoë Ångström", "zoe@example.org", "2026-05-01T11:30:00-04:00"),
        ("'=HYPERLINK(\"http://evil\")", "evil@example.org", "2026-06-01T05:00:00-04:00"),
    ]
