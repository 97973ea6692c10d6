"""The outbox sender against a real SMTP server (aiosmtpd): refusals of one message don't stop the
others, a server that is down leaves everything waiting, HTML with an inline logo, the demo
identity held back in production, and mail that goes out by itself from a running server."""

from __future__ import annotations

import http.cookiejar
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from fundraiser import mail
from fundraiser.audit import Actor
from fundraiser.auth.users import create_user
from fundraiser.db import new_session, utcnow
from fundraiser.models import MessageStatus, OutboxMessage
from fundraiser.organisation import update_organisation
from fundraiser.settings import current_settings
from tests.conftest import app_config
from tests.netutil import Inbox, PickyServer, start_smtp, wait_for

PASSWORD = "a very good password"


def queue(app, *messages: dict) -> list[int]:
    """Commit outbox rows as the app writes them (kind receipt unless given)."""
    with app.app_context():
        session = new_session()
        rows = []
        for n, fields in enumerate(messages):
            values = {"kind": "receipt", "subject": f"Your receipt {n}", "body_text": f"Thank you {n}.\n", **fields}
            values.setdefault("dedupe_key", f"test:{values['to_email']}:{n}:{time.monotonic_ns()}")
            rows.append(OutboxMessage(**values))
        session.add_all(rows)
        session.commit()
        ids = [row.id for row in rows]
        session.close()
    return ids


def send(app) -> tuple[int, int]:
    with app.app_context():
        return mail.send_due(mail.Mailer(current_settings()))


def outbox(app) -> dict[str, OutboxMessage]:
    with app.app_context():
        session = new_session()
        rows = {m.to_email: m for m in session.scalars(select(OutboxMessage))}
        session.close()
    return rows


def test_a_refused_recipient_fails_alone_and_the_others_are_delivered(smtp_app, smtp_port):
    queue(smtp_app,
          {"to_email": "ann@example.org"},
          {"to_email": "gone@example.org"},
          {"to_email": "busy@example.org"},
          {"to_email": "spam@example.org", "subject": "Rejected content"},
          {"to_email": "bea@example.org"})
    handler = PickyServer(
        refuse={"gone@example.org": "550 5.1.1 No such user here", "busy@example.org": "451 4.3.0 Mailbox busy, try later"},
        refuse_subject={"Rejected content": "554 5.7.1 Message content rejected"},
    )
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        assert send(smtp_app) == (2, 3)
        assert send(smtp_app) == (0, 0)  # nothing more is due: failures aren't hammered
    finally:
        controller.stop()
    assert sorted(m["To"] for m in handler.messages) == ["ann@example.org", "bea@example.org"]
    rows = outbox(smtp_app)
    assert rows["ann@example.org"].status == MessageStatus.SENT and rows["ann@example.org"].sent_at
    gone = rows["gone@example.org"]
    assert gone.status == MessageStatus.FAILED and "550" in gone.last_error and "No such user" in gone.last_error
    busy = rows["busy@example.org"]
    assert busy.status == MessageStatus.PENDING and "451" in busy.last_error and busy.next_attempt_at > utcnow()
    spam = rows["spam@example.org"]
    assert spam.status == MessageStatus.FAILED and "554" in spam.last_error


def test_bad_addresses_and_header_injection_fail_that_message_only(smtp_app, smtp_port):
    queue(smtp_app,
          {"to_email": "not an address"},
          {"to_email": "eve@example.org\r\nBcc: everyone@example.org"},
          {"to_email": "cal@example.org", "subject": "Your receipt, Cal\r\nBcc: everyone@example.org\x07\tthanks"})
    controller, inbox = start_smtp(smtp_port)
    try:
        assert send(smtp_app) == (1, 2)
    finally:
        controller.stop()
    [delivered] = inbox.messages
    assert delivered["To"] == "cal@example.org" and delivered["Bcc"] is None
    assert delivered["Subject"] == "Your receipt, Cal Bcc: everyone@example.org thanks"
    rows = outbox(smtp_app)
    assert rows["not an address"].status == MessageStatus.FAILED
    assert "Not a valid email address" in rows["not an address"].last_error


def test_a_server_that_is_down_leaves_every_message_waiting(smtp_app):
    queue(smtp_app, {"to_email": "ann@example.org"}, {"to_email": "bea@example.org"}, {"to_email": "cy@example.org"})
    assert send(smtp_app) == (0, 1)  # nothing listens: the round stops at the first message
    rows = outbox(smtp_app)
    assert all(m.status == MessageStatus.PENDING for m in rows.values())
    assert "ConnectionRefusedError" in rows["ann@example.org"].last_error
    assert rows["ann@example.org"].next_attempt_at > utcnow()
    # The others were not tried (no attempt spent on them) and stay due.
    assert rows["bea@example.org"].attempts == rows["cy@example.org"].attempts == 0


def test_send_receipts_command_exits_zero_when_a_message_is_refused(smtp_app, smtp_port):
    queue(smtp_app, {"to_email": "gone@example.org"}, {"to_email": "ann@example.org"})
    controller = Controller(PickyServer(refuse={"gone@example.org": "550 No such user"}), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        result = smtp_app.test_cli_runner().invoke(args=["send-receipts"])
    finally:
        controller.stop()
    assert result.exit_code == 0, result.output
    assert "Sent 1 message(s). 1 not sent" in result.output


def test_html_mail_carries_a_text_part_and_the_logo_inline(smtp_app, smtp_port):
    with smtp_app.app_context():
        settings = current_settings()
        (settings.instance_path / "branding").mkdir(parents=True, exist_ok=True)
        (settings.instance_path / "branding" / "logo-1.png").write_bytes(b"\x89PNG\r\n\x1a\nlogo-bytes")
        session = new_session()
        update_organisation(session, settings, {"logo_file": "branding/logo-1.png"}, Actor(None))
        session.commit()
        session.close()
    queue(smtp_app, {"to_email": "ann@example.org", "body_html": '<p><img src="cid:org-logo" alt="Logo"> Thank you.</p>'})
    controller, inbox = start_smtp(smtp_port)
    try:
        assert send(smtp_app) == (1, 0)
    finally:
        controller.stop()
    [message] = inbox.messages
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().strip() == "Thank you 0."
    html = message.get_body(("html",))
    assert "cid:org-logo" in html.get_content()
    [logo] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert logo["Content-ID"] == "<org-logo>" and logo.get_content() == b"\x89PNG\r\n\x1a\nlogo-bytes"
    assert message["Message-ID"].startswith("<outbox-") and message["Message-ID"].endswith("@127.0.0.1>")


def test_message_id_is_the_same_on_every_attempt(smtp_app, smtp_port):
    [message_id] = queue(smtp_app, {"to_email": "ann@example.org"})
    controller = Controller(PickyServer(refuse={"ann@example.org": "451 later"}), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        with smtp_app.app_context():
            session = new_session()
            row = session.get(OutboxMessage, message_id)
            first = mail.message_id(current_settings(), row)
            session.close()
        send(smtp_app)
        with smtp_app.app_context():
            session = new_session()
            row = session.get(OutboxMessage, message_id)
            assert row.attempts == 1 and mail.message_id(current_settings(), row) == first
            session.close()
    finally:
        controller.stop()


def test_production_holds_documents_under_the_demo_identity_but_not_account_mail(make_app, smtp_port):
    app = make_app(FUNDRAISER_ENV="production", BASE_URL="https://give.example.org", AUTO_SEED_DEMO="false",
                   SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_SECURITY="none", MAIL_FROM="r@example.org")
    app.config["BACKGROUND_TASKS"] = False
    queue(app, {"to_email": "donor@example.org"}, {"to_email": "new@example.org", "kind": "invitation"})
    controller, inbox = start_smtp(smtp_port)
    try:
        assert send(app) == (1, 0)
        assert [m["To"] for m in inbox.messages] == ["new@example.org"]
        held = outbox(app)["donor@example.org"]
        assert held.status == MessageStatus.PENDING and held.attempts == 0
        assert "ORG_NAME" in held.last_error and "Settings page" in held.last_error
        with app.app_context():
            session = new_session()
            update_organisation(session, current_settings(), {
                "name": "Friends of the Library", "legal_name": "Friends of the Library, Inc.",
                "mailing_address": "1 Main St\nTowson, MD 21204", "contact_email": "hello@friends.example",
                "contact_phone": "(410) 555-0199"}, Actor(None))
            session.commit()
            session.close()
        assert send(app) == (1, 0)
    finally:
        controller.stop()
    assert [m["To"] for m in inbox.messages] == ["new@example.org", "donor@example.org"]
    assert outbox(app)["donor@example.org"].last_error is None


def _signed_in_opener(base: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = urllib.parse.urlencode({"email": "admin@example.org", "password": PASSWORD}).encode()
    opener.open(base + "/login", data=form, timeout=10)
    return opener


def test_mail_goes_out_by_itself_from_a_running_server(make_app, smtp_port):
    """No cron, no outer app context: a request queues an invitation and the server's own sender
    delivers it within seconds; a message queued by another server is found by polling."""
    from tests.conftest import LiveServer

    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_SECURITY="none", MAIL_FROM="r@example.org")
    app.config["BACKGROUND_TASKS"] = True
    with app.app_context():
        session = new_session()
        create_user(session, "admin@example.org", "admin", PASSWORD)
        session.commit()
        session.close()
    controller, inbox = start_smtp(smtp_port)
    server = LiveServer(app).start()
    try:
        opener = _signed_in_opener(server.url)
        started = time.monotonic()
        form = urllib.parse.urlencode({"email": "val@example.org", "name": "Val", "role": "staff"}).encode()
        assert opener.open(server.url + "/staff/users", data=form, timeout=10).status == 200
        wait_for(lambda: inbox.messages, timeout=4, what="the invitation to arrive")
        woken_after = time.monotonic() - started
        assert woken_after < mail.POLL_SECONDS  # the commit woke the sender; it did not wait to poll
        assert inbox.messages[0]["To"] == "val@example.org"

        # Another server (here: another app on the same database) queues a receipt; this one's poller sends it.
        other = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_SECURITY="none")
        other.config["BACKGROUND_TASKS"] = False
        queue(other, {"to_email": "donor@example.org"})
        wait_for(lambda: len(inbox.messages) == 2, timeout=mail.POLL_SECONDS + 5, what="the polled receipt")
        assert inbox.messages[1]["To"] == "donor@example.org"
    finally:
        server.stop()
        controller.stop()
    rows = outbox(app)
    assert rows["val@example.org"].status == rows["donor@example.org"].status == MessageStatus.SENT
    assert rows["val@example.org"].attempts == rows["donor@example.org"].attempts == 1


def test_stale_claims_go_back_only_after_the_stale_time(smtp_app, smtp_port):
    """A worker that died after claiming: a recent claim is left alone (it may still be sending)."""
    queue(smtp_app,
          {"to_email": "recent@example.org", "status": MessageStatus.SENDING, "next_attempt_at": utcnow() - timedelta(minutes=1)},
          {"to_email": "stale@example.org", "status": MessageStatus.SENDING,
           "next_attempt_at": utcnow() - mail.STALE_CLAIM - timedelta(minutes=1)})
    controller, inbox = start_smtp(smtp_port)
    try:
        assert send(smtp_app) == (1, 0)
    finally:
        controller.stop()
    assert [m["To"] for m in inbox.messages] == ["stale@example.org"]
    assert outbox(smtp_app)["recent@example.org"].status == MessageStatus.SENDING


@pytest.mark.parametrize(("mail_from", "expected"), [
    ("Together, We Can End Restraint and Seclusion <receipts@example.org>",
     '"Together, We Can End Restraint and Seclusion" <receipts@example.org>'),
    ("receipts@example.org", '"Together, We Can End Restraint and Seclusion" <receipts@example.org>'),
])
def test_the_sender_name_survives_a_comma_and_defaults_to_the_organisation(make_app, smtp_port, mail_from, expected):
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_SECURITY="none", MAIL_FROM=mail_from)
    app.config["BACKGROUND_TASKS"] = False
    queue(app, {"to_email": "ann@example.org"})
    controller, inbox = start_smtp(smtp_port)
    try:
        assert send(app) == (1, 0)
    finally:
        controller.stop()
    [message] = inbox.messages
    assert str(message["From"]) == expected and len(message["From"].addresses) == 1


def test_the_retry_button_sends_a_failed_message_again_at_once(make_app, smtp_port):
    from tests.conftest import LiveServer

    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_SECURITY="none", MAIL_FROM="r@example.org")
    app.config["BACKGROUND_TASKS"] = True
    with app.app_context():
        session = new_session()
        create_user(session, "admin@example.org", "admin", PASSWORD)
        session.commit()
        session.close()
    handler = PickyServer(refuse={"ann@example.org": "550 5.2.1 Mailbox disabled"})
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    server = LiveServer(app).start()
    try:
        opener = _signed_in_opener(server.url)
        [message_id] = queue(app, {"to_email": "ann@example.org"})
        wait_for(lambda: outbox(app)["ann@example.org"].status == MessageStatus.FAILED, timeout=4, what="the refusal")
        page = opener.open(server.url + "/staff/mail?status=failed", timeout=10).read().decode()
        assert "550 5.2.1 Mailbox disabled" in page and "Retry all failed (1)" in page
        handler.refuse.clear()  # the donor fixed their mailbox
        form = urllib.parse.urlencode({"message_id": message_id}).encode()
        assert opener.open(server.url + "/staff/mail/retry", data=form, timeout=10).status == 200
        wait_for(lambda: handler.messages, timeout=4, what="the retried message")
    finally:
        server.stop()
        controller.stop()
    row = outbox(app)["ann@example.org"]
    assert row.status == MessageStatus.SENT and row.attempts == 2 and row.last_error is None


def test_an_unexpected_error_fails_that_message_and_the_round_goes_on(make_app):
    """Without SMTP messages are written as files; one that can't be written (its kind names a
    folder that doesn't exist) is marked failed with the error, and the others are still written."""
    app = make_app()
    app.config["BACKGROUND_TASKS"] = False
    queue(app, {"to_email": "ann@example.org"}, {"to_email": "bad@example.org", "kind": "letter/2026"},
          {"to_email": "bea@example.org"})
    assert send(app) == (2, 1)
    rows = outbox(app)
    assert rows["bad@example.org"].status == MessageStatus.FAILED
    assert rows["bad@example.org"].last_error.startswith("FileNotFoundError")
    assert rows["ann@example.org"].status == rows["bea@example.org"].status == MessageStatus.SENT
    with app.app_context():
        assert len(list((current_settings().instance_path / "outbox").glob("*.eml"))) == 2


class KillingServer(Inbox):
    """Accepts every message, except that while one for `victim` is being handed over it kills
    the sending process (SIGKILL: no clean-up runs) and refuses that message."""

    def __init__(self, victim: str) -> None:
        super().__init__()
        self.victim = victim
        self.sender_pid = 0
        self.interrupted: list = []

    async def handle_DATA(self, server, session, envelope):
        if self.victim in envelope.rcpt_tos and self.sender_pid:
            os.kill(self.sender_pid, signal.SIGKILL)
            self.sender_pid = 0
            self.interrupted.append(message_from_bytes(envelope.content, policy=policy.default))
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


def test_a_message_the_server_accepted_is_not_sent_again_after_the_worker_dies(smtp_app, smtp_port, database_url, tmp_path):
    """`send-receipts` is killed while handing over its second message: the first, accepted, was
    already recorded as sent and never goes out again; the interrupted one waits out its claim and
    then goes out with the same Message-ID; the third is sent by the next worker."""
    queue(smtp_app, {"to_email": "ann@example.org"}, {"to_email": "bea@example.org"}, {"to_email": "cy@example.org"})
    handler = KillingServer(victim="bea@example.org")
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        env = {**os.environ, **app_config(database_url, tmp_path / "instance"), "SMTP_HOST": "127.0.0.1",
               "SMTP_PORT": str(smtp_port), "SMTP_SECURITY": "none", "MAIL_FROM": "Receipts <receipts@example.org>"}
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "send-receipts"],
                                  cwd=Path(__file__).resolve().parents[2], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        handler.sender_pid = worker.pid
        assert worker.wait(timeout=60) == -signal.SIGKILL
        rows = outbox(smtp_app)
        assert rows["ann@example.org"].status == MessageStatus.SENT
        assert rows["bea@example.org"].status == MessageStatus.SENDING
        assert rows["cy@example.org"].status == MessageStatus.PENDING
        assert send(smtp_app) == (1, 0)  # the next worker: Cy only (Bea's claim may still be sending)
        with smtp_app.app_context():
            session = new_session()
            session.get(OutboxMessage, rows["bea@example.org"].id).next_attempt_at = utcnow() - mail.STALE_CLAIM - timedelta(seconds=1)
            session.commit()
            session.close()
        assert send(smtp_app) == (1, 0)
    finally:
        controller.stop()
    assert [m["To"] for m in handler.messages] == ["ann@example.org", "cy@example.org", "bea@example.org"]
    assert handler.messages[2]["Message-ID"] == handler.interrupted[0]["Message-ID"]


def test_the_sender_waits_while_stripe_deliveries_flood_in(make_app, smtp_port, monkeypatch):
    """Answering Stripe comes first: while deliveries flood into this process, receipts wait (up
    to inbox.FLOOD_PAUSE_SECONDS each) and go out as soon as the flood has passed."""
    from threading import Thread

    from fundraiser.payments import inbox as inbox_module
    from tests.payments import stripe_shapes as s
    from tests.payments.test_inbox import HeldInbox, verified_row

    monkeypatch.setattr(inbox_module, "FLOOD_WAITING", 1)  # one delivery in flight is a flood here
    monkeypatch.setattr(inbox_module, "FLOOD_PAUSE_SECONDS", 30)
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_SECURITY="none", MAIL_FROM="r@example.org")
    app.config["BACKGROUND_TASKS"] = True
    deliveries = HeldInbox(app.extensions["fundraiser.statement_engine"])
    app.extensions["fundraiser.stripe_inbox"] = deliveries
    deliveries.release.clear()
    delivery = Thread(target=deliveries.store, args=(verified_row(s.event("payment_intent.succeeded", s.payment_intent(4300))),))
    delivery.start()
    controller, smtp = start_smtp(smtp_port)
    try:
        wait_for(deliveries.flooded, timeout=2, what="the delivery in flight")
        mail.sender(app).start()
        queue(app, {"to_email": "donor@example.org"})
        mail.sender(app).wake()
        time.sleep(1.0)
        assert smtp.messages == []  # held back while the delivery waits
        deliveries.release.set()
        delivery.join(5)
        wait_for(lambda: smtp.messages, timeout=5, what="the receipt after the flood")
    finally:
        deliveries.release.set()
        controller.stop()
    assert smtp.messages[0]["To"] == "donor@example.org"
