"""Receipts: what each kind says, and delivery through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from fundraiser import mail, receipts
from fundraiser.db import new_session, utcnow
from fundraiser.models import DonorKind, MessageStatus, OutboxMessage
from fundraiser.settings import current_settings
from tests.factories import give, make_campaign, make_donor
from tests.netutil import free_port, start_smtp


@pytest.fixture
def smtp_port():
    return free_port()


@pytest.fixture
def smtp_app(make_app, smtp_port):
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_SECURITY="none",
                   MAIL_FROM="Receipts <receipts@example.org>")
    app.config["BACKGROUND_TASKS"] = False
    return app


def send(app) -> tuple[int, int]:
    with app.app_context():
        return mail.send_due(mail.Mailer(current_settings()))


def _gift(session, **kwargs):
    campaign = make_campaign(session, title="Five Year Anniversary Fundraiser")
    donor = make_donor(session, name="Rosa Parks", email="rosa@example.org", **kwargs.pop("donor", {}))
    return give(session, campaign, kwargs.pop("amount", 12_500), donor=donor, **kwargs)


def test_receipt_is_delivered_once_with_everything_the_irs_asks_for(smtp_app, smtp_port):
    with smtp_app.app_context():
        session = new_session()
        gift = _gift(session, dedication_kind="honour", dedication_name="Ms. Alvarez",
                     dedication_notify_email="alvarez@example.org", is_anonymous=True)
        receipts.queue_for_gift(session, gift)
        session.commit()
        session.close()
    controller, inbox = start_smtp(smtp_port)
    try:
        assert send(smtp_app) == (2, 0)
        assert send(smtp_app) == (0, 0)
    finally:
        controller.stop()
    receipt, notice = sorted(inbox.messages, key=lambda m: m["To"] != "rosa@example.org")
    text = receipt.get_content()
    assert receipt["To"] == "rosa@example.org" and receipt["From"] == "Receipts <receipts@example.org>"
    for expected in ("$125.00", "Five Year Anniversary Fundraiser", "End Restraint and Seclusion Maryland",
                     "27-6601178", "fiscally sponsored", "No goods or services were provided", "in honor of Ms. Alvarez"):
        assert expected in text
    assert notice["To"] == "alvarez@example.org"
    assert "Someone who cares" in notice.get_content() and "$125.00" not in notice.get_content()


def test_smtp_down_keeps_receipts_until_it_returns_and_sends_each_once(smtp_app, smtp_port):
    with smtp_app.app_context():
        session = new_session()
        receipts.queue_for_gift(session, _gift(session))
        session.commit()
        session.close()
    assert send(smtp_app) == (0, 1)  # nothing listens on the port: a real connection refusal
    with smtp_app.app_context():
        session = new_session()
        message = session.scalar(select(OutboxMessage))
        assert message.status == MessageStatus.PENDING and message.attempts == 1
        assert "ConnectionRefusedError" in message.last_error
        assert message.next_attempt_at > utcnow()
        # Time passes: the retry is due.
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        session.commit()
        session.close()
    controller, inbox = start_smtp(smtp_port)
    try:
        assert send(smtp_app) == (1, 0)
        assert send(smtp_app) == (0, 0)
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


def test_a_sender_that_died_mid_send_hands_the_message_back(smtp_app, smtp_port):
    with smtp_app.app_context():
        session = new_session()
        receipts.queue_for_gift(session, _gift(session))
        session.execute(update(OutboxMessage).values(status=MessageStatus.SENDING,
                                                     next_attempt_at=utcnow() - timedelta(minutes=30)))
        session.commit()
        session.close()
    controller, inbox = start_smtp(smtp_port)
    try:
        assert send(smtp_app) == (1, 0)
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


def test_without_smtp_messages_are_written_to_the_outbox_folder(app, session):
    app.config["BACKGROUND_TASKS"] = False
    receipts.queue_for_gift(session, _gift(session))
    session.commit()
    assert send(app) == (1, 0)
    [eml] = (current_settings().instance_path / "outbox").glob("*.eml")
    assert "No goods or services were provided" in eml.read_text()


def _text(session, **kwargs) -> str:
    gift = _gift(session, **kwargs)
    [message] = receipts.queue_for_gift(session, gift)
    return message.body_text


def test_daf_grant_is_acknowledged_without_a_deduction_claim(session):
    text = _text(session, method="daf", donor={"kind": DonorKind.ORGANISATION})
    assert "donor-advised fund" in text and "do not claim this gift" in text


def test_in_kind_gift_is_described_without_a_value_from_us(session):
    text = _text(session, method="in_kind", description="40 copies of 'The Explosive Child'", amount=80_000)
    assert "40 copies of 'The Explosive Child'" in text
    assert "$800.00" not in text and "We do not state a value" in text


def test_goods_received_state_their_value_and_the_deductible_part(session):
    text = _text(session, amount=5000, goods_value_cents=1200, channel="event", method="cash")
    assert "estimated fair market value of $12.00" in text and "$38.00" in text
    assert "No goods or services" not in text


def test_gift_without_an_email_gets_no_receipt_to_nowhere(session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 2000)
    assert receipts.queue_for_gift(session, gift) == []


def test_manage_tokens_cannot_be_forged(app):
    with app.app_context():
        settings = current_settings()
        token = receipts.manage_token(settings, 42)
        assert receipts.read_manage_token(settings, token) == receipts.ManageToken(42, expired=False)
        assert receipts.read_manage_token(settings, token[:-2] + "xx") is None
