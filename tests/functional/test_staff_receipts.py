"""Receipts in the staff console: admins edit and preview each kind's wording; the gift page sends
corrected and repeated receipts with today's figures and refuses them for void or refunded gifts;
a donor merge and event proceeds send the right paper to the right donor."""

from html import unescape

from sqlalchemy import func, select

from fundraiser import ledger, receipts
from fundraiser.models import AuditLog, DonorKind, Gift, GiftMethod, OutboxMessage, ReceiptWording
from tests.factories import give, local_today, make_campaign, make_donor, make_event
from tests.functional.staff_helpers import sign_in_as


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def test_admin_edits_wording_with_a_preview_and_clear_refusals(app, session):
    client = sign_in_as(app, session, "admin")
    listing = text_of(client.get("/staff/receipts"))
    for label in ("One-time online gift", "Monthly, quarterly or yearly gift (each payment)", "Check, cash or bank transfer",
                  "Donor-advised fund grant", "Stock and other property", "In-kind gift (goods or services)",
                  "Gift with goods or services received", "Event proceeds passed on by a host"):
        assert label in listing
    page = client.get("/staff/receipts/offline")
    assert page.status_code == 200
    assert "Your receipt: $125.00 to Together, We Can End Restraint and Seclusion" in text_of(page)  # sample gift
    assert "'unsafe-hashes'" in page.headers["Content-Security-Policy"]

    refused = client.post("/staff/receipts/offline", data={
        "subject": "Thanks {first_name}", "body_md": "Dear {donor_name}", "action": "save"})
    assert refused.status_code == 400
    assert "“{first_name}” is not a placeholder we know. You can use: {donor_name}" in text_of(refused)
    assert 'value="Thanks {first_name}"' in text_of(refused)  # what was typed stays
    in_kind = client.post("/staff/receipts/in_kind", data={
        "subject": "Your {amount} gift", "body_md": "Thanks", "action": "preview"})
    assert in_kind.status_code == 400 and "we never state a value for gifts of property" in text_of(in_kind)

    preview = client.post("/staff/receipts/offline", data={
        "subject": "Bless you, {donor_name}", "body_md": "We got your **{amount}** check.", "action": "preview"})
    html = text_of(preview)
    assert preview.status_code == 200
    assert "Bless you, Jordan Rivera" in html and "We got your $125.00 check." in html
    assert "<strong>$125.00</strong>" in html  # inside the preview frame's document
    assert "Players Philanthropy Fund, Inc., Tax ID (EIN): 27-6601178" in html
    assert session.scalar(select(func.count()).select_from(ReceiptWording)) == 0  # a preview saves nothing

    saved = client.post("/staff/receipts/offline", data={
        "subject": "Bless you, {donor_name}", "body_md": "We got your **{amount}** check.", "action": "save"},
        follow_redirects=True)
    assert "Saved the wording of check, cash or bank transfer receipts" in text_of(saved)
    assert session.get(ReceiptWording, "offline").subject == "Bless you, {donor_name}"
    assert session.scalar(select(AuditLog).where(AuditLog.action == "receipt_wording.update")).object_id == "offline"
    assert "edited" in text_of(client.get("/staff/receipts"))

    default = client.post("/staff/receipts/offline", data={"action": "default"})
    assert "Your receipt: {amount} to {org_name}" in text_of(default)
    assert session.get(ReceiptWording, "offline").subject == "Bless you, {donor_name}"  # until saved
    assert client.get("/staff/receipts/nonsense").status_code == 404


def test_staff_accounts_cannot_change_receipt_wording(app, session):
    client = sign_in_as(app, session, "staff")
    assert client.get("/staff/receipts").status_code == 403
    assert client.post("/staff/receipts/offline", data={"subject": "x", "body_md": "y", "action": "save"}).status_code == 403


def _receipted_gift(session, amount=12_500, **kwargs):
    donor = make_donor(session, name="Rosa Parks", email="rosa@example.org")
    gift = give(session, make_campaign(session), amount, donor=donor, **kwargs)
    receipts.queue_for_gift(session, gift)
    session.commit()
    return gift


def _last_receipt(session) -> OutboxMessage:
    return session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()


def test_correcting_the_amount_sends_a_corrected_receipt(app, session):
    gift = _receipted_gift(session, amount=1_500)
    client = sign_in_as(app, session, "staff")
    page = client.post(f"/staff/gifts/{gift.id}/correct", data={"amount": "150", "reason": "Typed $15"},
                       follow_redirects=True)
    assert f"Corrected receipt {gift.id}-2 is on its way to rosa@example.org." in text_of(page)
    message = _last_receipt(session)
    assert "Amount: $150.00" in message.body_text and f"replaces receipt {gift.id}" in message.body_text
    assert f"Receipt {gift.id}-2 to rosa@example.org" in text_of(client.get(f"/staff/gifts/{gift.id}"))


def test_resend_after_a_partial_refund_uses_the_amount_kept(app, session):
    gift = _receipted_gift(session, amount=12_500, method=GiftMethod.CARD, channel="online")
    ledger.refund_gift(session, gift, 2_500, reason="Part refund")
    session.commit()
    client = sign_in_as(app, session, "staff")
    done = client.post(f"/staff/gifts/{gift.id}/resend", follow_redirects=True)
    assert f"The receipt for gift {gift.id} is on its way to rosa@example.org." in text_of(done)
    assert "Amount: $100.00" in _last_receipt(session).body_text


def test_void_and_fully_refunded_gifts_have_no_resend_button_and_the_post_is_refused(app, session):
    voided = _receipted_gift(session)
    client = sign_in_as(app, session, "staff")
    client.post(f"/staff/gifts/{voided.id}/void", data={"reason": "Entered twice", "confirm": "yes"})
    donor = make_donor(session, name="Ann Archer", email="ann@example.org")
    refunded = give(session, make_campaign(session), 5_000, donor=donor)
    receipts.queue_for_gift(session, refunded)
    ledger.refund_gift(session, refunded, 5_000)
    session.commit()
    before = session.scalar(select(func.count()).select_from(OutboxMessage))
    for gift, reason in ((voided, "was voided"), (refunded, "refunded in full")):
        page = text_of(client.get(f"/staff/gifts/{gift.id}"))
        assert "Re-send receipt" not in page and reason in page
        refused = client.post(f"/staff/gifts/{gift.id}/resend")
        assert refused.status_code == 400 and f"Gift {gift.id} " in text_of(refused) and reason in text_of(refused)
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == before


def test_merging_donors_sends_the_kept_donor_a_receipt_and_tells_staff(app, session):
    dupe = make_donor(session, name="R. Parks", email="rparks@old.example")
    keep = make_donor(session, name="Rosa Parks", email="rosa@new.example")
    gift = give(session, make_campaign(session), 5_000, donor=dupe)
    receipts.queue_for_gift(session, gift)
    session.commit()
    client = sign_in_as(app, session, "staff")
    page = client.post(f"/staff/donors/{keep.id}/merge", data={"donor_id": dupe.id, "confirm": "yes"},
                       follow_redirects=True)
    html = text_of(page)
    assert f"The earlier donor already had a receipt for gift {gift.id} (receipt {gift.id}, sent to rparks@old.example" in html
    assert f"New receipts went to the donor now credited: {gift.id}-2." in html
    message = _last_receipt(session)
    assert message.to_email == "rosa@new.example" and "Dear Rosa Parks" in message.body_text


def test_event_proceeds_are_acknowledged_unless_marked_the_hosts_own_gift(app, session):
    campaign = make_campaign(session, title="Five Year Anniversary")
    host = make_donor(session, name="Keystone RV", email="team@keystone.example", kind=DonorKind.ORGANISATION)
    event = make_event(session, campaign, name="Holiday Cookie Walk", host_name="Keystone RV team", host_donor_id=host.id)
    session.commit()
    client = sign_in_as(app, session, "staff")
    form = {"amount": "412.50", "method": "cash", "received_on": local_today().isoformat()}
    client.post(f"/staff/events/{event.id}/proceeds", data={**form, "token": "proceeds-1"})
    client.post(f"/staff/events/{event.id}/proceeds", data={**form, "token": "proceeds-2", "hosts_own_gift": "yes"})
    passed_on, own = session.scalars(select(Gift).order_by(Gift.id)).all()
    assert (passed_on.proceeds_are_hosts_gift, own.proceeds_are_hosts_gift) == (False, True)
    texts = {m.gift_id: m.body_text for m in session.scalars(select(OutboxMessage))}
    assert "is not a receipt for a charitable deduction by Keystone RV team" in texts[passed_on.id]
    assert "Proceeds received: $412.50" in texts[passed_on.id]
    assert "Amount: $412.50" in texts[own.id] and "No goods or services were provided" in texts[own.id]
    assert "not a receipt" not in texts[own.id]
    assert "host's own gift" in text_of(client.get(f"/staff/events/{event.id}"))
