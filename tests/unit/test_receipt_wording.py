"""Receipt wording admins edit: checked when saved, sanitised when rendered, and never able to
remove the lines the law asks a receipt to state."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fundraiser import receipt_wording, receipts
from fundraiser.audit import Actor
from fundraiser.models import AuditLog, GiftMethod
from fundraiser.receipt_wording import ReceiptKind, WordingError
from fundraiser.settings import current_settings
from tests.factories import give, make_campaign, make_donor

ACTOR = Actor(None, "127.0.0.1")


def _error(kind, subject="Thanks, {donor_name}", body="Dear {donor_name}, thank you."):
    with pytest.raises(WordingError) as caught:
        receipt_wording.validate(kind, subject, body)
    return caught.value.errors


def test_an_unknown_placeholder_is_refused_with_the_ones_that_exist():
    errors = _error(ReceiptKind.ONE_TIME, body="Dear {first_name}, thank you.")
    assert errors["body_md"].startswith("Message: “{first_name}” is not a placeholder we know. You can use: {donor_name}")
    assert "{amount}" in errors["body_md"]


def test_attribute_lookups_in_placeholders_are_refused():
    errors = _error(ReceiptKind.ONE_TIME, subject="{donor_name.__class__}")
    assert "is not a placeholder we know" in errors["subject"]


def test_property_receipts_refuse_the_amount_placeholder():
    for kind in (ReceiptKind.IN_KIND, ReceiptKind.NONCASH):
        errors = _error(kind, subject="Your {amount} gift")
        assert "we never state a value for gifts of property" in errors["subject"]
    assert receipt_wording.validate(ReceiptKind.ONE_TIME, "Your {amount} gift", "Thanks")[0] == "Your {amount} gift"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Dear {donor_name, thanks", "stray brace"),
        ("Dear { donor_name }", "without spaces"),
        ("Dear <b>{donor_name}</b>", "HTML tags can't be used"),
        ("<script>alert(1)</script>", "HTML tags can't be used"),
        ("", "Please write the message"),
        ("x" * 5001, "keep the message to 5000 characters"),
    ],
)
def test_wording_that_cannot_be_saved_says_why(body, message):
    assert message in _error(ReceiptKind.OFFLINE, body=body)["body_md"]


def test_limited_markdown_renders_and_values_are_escaped():
    html, text = receipt_wording.render_body(
        "Dear {donor_name},\n\n**Thank you** for *{campaign}*.\n\n- one\n- two\n\n[Our site](https://example.org)",
        {"donor_name": "<b>Rosa</b> & Co", "campaign": "Spring_Appeal *now*"},
    )
    assert "<p>Dear &lt;b&gt;Rosa&lt;/b&gt; &amp; Co,</p>" in html
    assert "<strong>Thank you</strong> for <em>Spring_Appeal *now*</em>" in html
    assert "<li>one</li>" in html and 'href="https://example.org"' in html
    assert text == (
        "Dear <b>Rosa</b> & Co,\n\nThank you for Spring_Appeal *now*.\n\n- one\n- two\n\n"
        "Our site (https://example.org)"
    )


def test_dangerous_links_are_dropped_even_if_stored_without_the_check():
    html, _text = receipt_wording.render_body("[click](javascript:alert(1)) ![x](https://t.example/p.gif)", {})
    assert "javascript:" not in html and "<img" not in html


def test_saving_keeps_an_audit_entry_and_receipts_use_the_new_wording(session):
    saved = receipt_wording.save(
        session, ACTOR, ReceiptKind.OFFLINE, "Gift received, {donor_name}!", "Hi {donor_name}, *thanks* for {amount}."
    )
    assert not saved.is_default
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "receipt_wording.update"))
    assert entry.object_id == "offline" and entry.after["subject"] == "Gift received, {donor_name}!"
    donor = make_donor(session, name="Rosa Parks", email="rosa@example.org")
    gift = give(session, make_campaign(session), 4_000, donor=donor, method=GiftMethod.CHECK)
    [message] = receipts.queue_for_gift(session, gift)
    assert message.subject == "Gift received, Rosa Parks!"
    assert message.body_text.startswith("Hi Rosa Parks, thanks for $40.00.\n")
    assert "<p>Hi Rosa Parks, <em>thanks</em> for $40.00.</p>" in message.body_html


def test_the_shortest_wording_still_carries_every_required_line(session):
    """An admin can't remove what IRS Publication 1771 asks a receipt to state."""
    receipt_wording.save(session, ACTOR, ReceiptKind.OFFLINE, "Thanks", "Thanks!")
    donor = make_donor(session, name="Rosa Parks", email="rosa@example.org")
    gift = give(session, make_campaign(session, title="Spring Appeal"), 4_000, donor=donor, method=GiftMethod.CASH)
    [message] = receipts.queue_for_gift(session, gift)
    for line in (
        "Amount: $40.00", "Date received: ", "For: Spring Appeal", "Donor: Rosa Parks", f"Receipt number: {gift.id}",
        "No goods or services were provided in exchange for this contribution.",
        "Your gift is made to Players Philanthropy Fund, Inc. for the benefit of End Restraint and Seclusion Maryland",
        "Players Philanthropy Fund, Inc., Tax ID (EIN): 27-6601178",
    ):
        assert line in message.body_text


def test_every_kind_has_a_default_that_passes_its_own_checks_and_a_preview(app):
    with app.app_context():
        for kind in ReceiptKind:
            wording = receipt_wording.default(kind)
            assert receipt_wording.validate(kind, wording.subject, wording.body_md) == (wording.subject, wording.body_md)
            composed = receipts.preview(kind, wording, current_settings())
            assert "27-6601178" in composed.text and "{" not in composed.text and "{" not in composed.subject
