"""Sending the outbox: the SMTP conversation, retries, and the sender that runs inside the app.

Receipts, letters and invitations are written to the outbox in the transaction that makes them
(receipts.py, auth/users.py), so none is lost. A sender thread in each web process sends them
within a second or two of the commit that queued them (the commit wakes it) and looks every
POLL_SECONDS for retries that have come due; no cron job is needed. `flask send-receipts` does the
same once, as a backstop. Senders in several processes and on several servers share the work:
each message is claimed in its own write transaction (SELECT ... FOR UPDATE SKIP LOCKED on
PostgreSQL, BEGIN IMMEDIATE on SQLite) before it is sent.

Delivery is at-least-once, with the window for a duplicate made as small as we can: the claim
(SENDING) is committed before the SMTP conversation and the server's acceptance is recorded
(SENT) in the next statement, before anything else can fail. A message is sent twice only if the
process dies, or the database fails, between the server's "250 OK" and that commit; it then waits
in SENDING for STALE_CLAIM (far longer than any SMTP conversation) before it goes out again,
with the same Message-ID, which lets mail systems drop the copy. At-most-once would instead
lose a receipt whenever a worker died mid-send, and a donor asking for a lost receipt is worse
than a rare duplicate of it.

One bad message never stops the others: a server that can't be reached pauses the round (every
message would fail the same way), but a refusal of one message (a 5xx for its address or content)
fails that message only, and a 4xx retries it later with back-off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from typing import NamedTuple
from urllib.parse import urlsplit

from flask import Flask, current_app, has_app_context
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from . import audit
from .config import Settings
from .db import new_session, utcnow
from .models import MessageStatus, OutboxMessage
from .organisation import Organisation, current_organisation

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)
# A claim older than this belongs to a sender that died; SMTP timeouts keep real sends far shorter.
STALE_CLAIM = timedelta(minutes=10)
SMTP_TIMEOUT_SECONDS = 20
# How often the in-app sender looks for retries that came due (new mail wakes it at once).
POLL_SECONDS = 5.0
# After the server could not be reached, the in-app sender waits this long before trying again
# (rather than spending an attempt of the next message every poll).
UNAVAILABLE_PAUSE_SECONDS = 60.0
PAGE_SIZE = 100
ROUND_LIMIT = 100
# Mail about a person's own account: sent even while the organisation's identity is the demo's
# (an admin needs the invitation to reach the Settings page and fix it).
ACCOUNT_KINDS = ("invitation", "password_reset")
# The HTML body refers to the uploaded logo (always a PNG: organisation.check_logo re-encodes it)
# as <img src="cid:org-logo">; the sender attaches it. Or by URL: organisation.logo_url().
LOGO_CID = "org-logo"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0080-\u009f\u2028\u2029]+")


class ServerUnavailable(Exception):
    """The mail server can't be reached or talked to: no message can go out this round."""


class MessageRefused(Exception):
    """This message can't be sent as it is (refused address or content); `permanent` for 5xx."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


class SendRound(NamedTuple):
    """What one call of `send_due` did: messages accepted, and messages that failed this round."""

    sent: int
    failed: int


def header_text(value: str, limit: int = 300) -> str:
    """A value fit for a mail header: control characters and line breaks become spaces (a donor's
    name reaches subjects), runs of spaces collapse."""
    return " ".join(_CONTROL.sub(" ", value or "").split())[:limit]


def _recipient(raw: str) -> Address:
    text = header_text(raw, 254)
    try:
        return Address(addr_spec=text)
    except (ValueError, IndexError, HeaderParseError):
        raise MessageRefused(f"Not a valid email address: {text!r}", permanent=True) from None


def sender_address(mail_from: str, org: Organisation) -> Address:
    """MAIL_FROM as an address: "Name <addr>" keeps its name even with a comma in it (a plain
    header would read two addresses); a bare address is shown with the organisation's name."""
    text = header_text(mail_from) or "receipts@localhost"
    named = re.fullmatch(r"(.*?)\s*<([^<>]+)>", text)
    name, addr = (named.group(1).strip().strip('"'), named.group(2).strip()) if named else ("", text)
    try:
        return Address(display_name=name or header_text(org.name, 120), addr_spec=addr)
    except (ValueError, IndexError, HeaderParseError):
        raise ServerUnavailable(f"MAIL_FROM is not a usable address: {mail_from!r}") from None


def message_id(settings: Settings, message: OutboxMessage) -> str:
    """The same Message-ID on every attempt of a message, so a repeat can be recognised."""
    host = urlsplit(settings.base_url).hostname or "fundraiser.local"
    digest = hashlib.sha256(f"{message.dedupe_key}|{message.created_at.isoformat()}".encode()).hexdigest()[:16]
    return f"<outbox-{message.id}-{digest}@{host}>"


def held_reason(settings: Settings, org: Organisation) -> str | None:
    """Why documents may not go out now: production still using the demo organisation's identity."""
    demo = org.demo_fields() if settings.is_production else []
    if not demo:
        return None
    return (
        f"Held: the organisation's identity is still the demo's ({', '.join(demo)}). "
        "An admin fixes it on the Settings page; held mail goes out then."
    )[:500]


class Mailer:
    """Sends messages by SMTP over one connection per round, or writes them to the instance
    outbox folder when no SMTP server is set (development)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        # Set by send_due when the server could not be reached this round.
        self.unavailable = False

    def build(self, message: OutboxMessage, org: Organisation) -> EmailMessage:
        """The email for an outbox row: plain text, plus HTML (with the logo inline) when it has one."""
        s = self.settings
        email = EmailMessage()
        email["From"] = sender_address(s.mail_from, org)
        email["To"] = _recipient(message.to_email)
        email["Subject"] = header_text(message.subject)
        email["Message-ID"] = message_id(s, message)
        email.set_content(message.body_text)
        if message.body_html:
            email.add_alternative(message.body_html, subtype="html")
            logo = s.instance_path / org.logo_file if org.logo_file else None
            if f"cid:{LOGO_CID}" in message.body_html and logo is not None and logo.is_file():
                html_part = email.get_payload()[1]
                html_part.add_related(logo.read_bytes(), "image", "png", cid=f"<{LOGO_CID}>",
                                      filename="logo.png", disposition="inline")
        return email

    def send(self, message: OutboxMessage, org: Organisation) -> None:
        """Hand one message to the server; raises MessageRefused or ServerUnavailable."""
        email = self.build(message, org)
        if not self.settings.smtp_host:
            folder = self.settings.instance_path / "outbox"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{message.id:08d}-{message.kind}.eml").write_bytes(bytes(email))
            return
        reused = self._smtp is not None
        try:
            self._connection().send_message(email)
        except smtplib.SMTPServerDisconnected as exc:
            self.close()
            if not reused:
                raise ServerUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
            # The server may close an idle or refused connection: one fresh try for this message.
            try:
                self._connection().send_message(email)
            except Exception as again:
                raise _classified(again) from again
        except Exception as exc:
            raise _classified(exc) from exc

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        s = self.settings
        try:
            if s.smtp_security == "ssl":
                smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT_SECONDS,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
            try:
                if s.smtp_security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password)
            except BaseException:
                smtp.close()
                raise
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
        self._smtp = smtp
        return smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def _classified(exc: Exception) -> Exception:
    """An error from sending one message: the server is away, or it refused this message."""
    if isinstance(exc, (MessageRefused, ServerUnavailable)):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()] or [550]
        detail = "; ".join(f"{addr}: {code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
                           for addr, (code, text) in exc.recipients.items())
        return MessageRefused(f"Recipient refused ({detail})", permanent=min(codes) >= 500)
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        if exc.smtp_code == 421:  # "service not available, closing channel"
            return ServerUnavailable(f"{exc.smtp_code} {text}")
        return MessageRefused(f"{exc.__class__.__name__}: {exc.smtp_code} {text}", permanent=exc.smtp_code >= 500)
    if isinstance(exc, smtplib.SMTPServerDisconnected) or (
        isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)
    ):
        return ServerUnavailable(f"{exc.__class__.__name__}: {exc}")
    # Anything else is about this message (e.g. an address the server can't take without SMTPUTF8).
    return MessageRefused(f"{exc.__class__.__name__}: {exc}", permanent=True)


def _backoff(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** min(attempts, 10)), MAX_BACKOFF)


def _due(now, kinds: tuple[str, ...] | None):
    condition = and_(OutboxMessage.status == MessageStatus.PENDING, OutboxMessage.next_attempt_at <= now)
    return and_(condition, OutboxMessage.kind.in_(kinds)) if kinds is not None else condition


def send_due(mailer: Mailer, *, limit: int = 100, before_each: Callable[[], object] | None = None) -> SendRound:
    """Send what is due, one claim per transaction; returns what was sent and what failed.

    A server that can't be reached ends the round (the message it failed on retries later, the
    rest wait untouched); a message the server refuses, or that can't even be built, is marked
    on its own and the round goes on. While production still uses the demo identity, only
    account mail goes out and the rest waits with a note saying why. `before_each` runs before
    each message (the in-app sender's pause while Stripe's deliveries flood in).
    """
    sent = failed = 0
    release_stale_claims()
    org = current_organisation()
    held = held_reason(mailer.settings, org)
    if held:
        _note_held(held)
    kinds = ACCOUNT_KINDS if held else None
    try:
        for _ in range(limit):
            if before_each is not None:
                before_each()
            session: Session = new_session(write=True)
            try:
                now = utcnow()
                message = session.scalar(
                    select(OutboxMessage).where(_due(now, kinds)).order_by(OutboxMessage.id).limit(1)
                    .with_for_update(skip_locked=True)
                )
                if message is None:
                    break
                message.status = MessageStatus.SENDING
                message.attempts += 1
                message.next_attempt_at = now
                session.commit()
                try:
                    mailer.send(message, org)
                except ServerUnavailable as exc:
                    _give_back(session, message, str(exc))
                    mailer.unavailable = True
                    failed += 1
                    log.warning("Mail server unavailable; %s waits (attempt %s): %s", message.id, message.attempts, exc)
                    break
                except MessageRefused as exc:
                    if exc.permanent:
                        _mark_failed(session, message, str(exc))
                    else:
                        _give_back(session, message, str(exc))
                    failed += 1
                    log.warning("Email %s refused (%s): %s", message.id, "permanent" if exc.permanent else "will retry", exc)
                    continue
                except Exception as exc:  # one broken message must not stop the rest
                    log.exception("Email %s could not be sent", message.id)
                    _mark_failed(session, message, f"{exc.__class__.__name__}: {exc}")
                    failed += 1
                    continue
                # Accepted by the server: record it before anything else can fail (see module docstring).
                message.status = MessageStatus.SENT
                message.sent_at = utcnow()
                message.last_error = None
                session.commit()
                sent += 1
            finally:
                session.close()
    finally:
        mailer.close()
    return SendRound(sent, failed)


def _give_back(session: Session, message: OutboxMessage, error: str) -> None:
    message.status = MessageStatus.PENDING
    message.last_error = error[:500]
    message.next_attempt_at = utcnow() + _backoff(message.attempts)
    session.commit()


def _mark_failed(session: Session, message: OutboxMessage, error: str) -> None:
    message.status = MessageStatus.FAILED
    message.last_error = error[:500]
    session.commit()


def _note_held(reason: str) -> None:
    """Say on each held message why it waits (the outbox page shows it)."""
    session = new_session(write=True)
    try:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == MessageStatus.PENDING, OutboxMessage.kind.not_in(ACCOUNT_KINDS),
                   or_(OutboxMessage.last_error.is_(None), OutboxMessage.last_error != reason))
            .values(last_error=reason)
        )
        session.commit()
    finally:
        session.close()


def release_stale_claims() -> None:
    """A sender that died mid-send leaves its claim behind; hand such messages back after a while."""
    session: Session = new_session(write=True)
    try:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == MessageStatus.SENDING, OutboxMessage.next_attempt_at < utcnow() - STALE_CLAIM)
            .values(status=MessageStatus.PENDING)
        )
        session.commit()
    finally:
        session.close()


def anything_due(session: Session, settings: Settings) -> bool:
    """Whether a round would find work: a read, so an idle sender takes no write lock."""
    now = utcnow()
    kinds = ACCOUNT_KINDS if held_reason(settings, current_organisation()) else None
    stale = and_(OutboxMessage.status == MessageStatus.SENDING, OutboxMessage.next_attempt_at < now - STALE_CLAIM)
    return bool(session.scalar(select(exists().where(or_(_due(now, kinds), stale)))))


# ------------------------------------------------------------------------------ the console's view


def browse(session: Session, *, status: str | None = None, before_id: int | None = None,
           limit: int = PAGE_SIZE) -> list[OutboxMessage]:
    """Outbox messages newest first, optionally of one status, a page at a time."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    if before_id:
        query = query.where(OutboxMessage.id < before_id)
    return list(session.scalars(query))


def counts(session: Session) -> dict[str, int]:
    """How many messages are in each status (every status present, zero when none)."""
    found = dict(session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    return {status.value: found.get(status, 0) for status in MessageStatus}


def retry_failed(session: Session, actor: audit.Actor, message_ids: list[int] | None = None) -> int:
    """Put failed messages (these, or all) back in the queue to go out now; flushes and audits."""
    query = select(OutboxMessage).where(OutboxMessage.status == MessageStatus.FAILED).with_for_update()
    if message_ids is not None:
        query = query.where(OutboxMessage.id.in_(message_ids))
    messages = list(session.scalars(query))
    now = utcnow()
    for message in messages:
        message.status = MessageStatus.PENDING
        message.next_attempt_at = now
    session.flush()
    if messages:
        audit.record(session, actor, "mail.retry", "outbox", ",".join(str(m.id) for m in messages)[:100],
                     before={"status": MessageStatus.FAILED.value},
                     after={"status": MessageStatus.PENDING.value, "messages": [m.id for m in messages]})
    return len(messages)


# ------------------------------------------------------------------------------ the in-app sender


class MailSender:
    """One sender thread per process: woken by commits that queue mail, and every POLL_SECONDS.

    Started by the first request a process serves (so CLI commands, which send inline, never
    leave a thread behind mid-send), and again in a child process after a fork. Off when
    app.config["BACKGROUND_TASKS"] is false; under TESTING off unless a test sets it true, so a
    thread writing to the outbox never races tests about something else.
    """

    def __init__(self, app: Flask, poll_seconds: float = POLL_SECONDS) -> None:
        self._app = app
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._paused_until = 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._pid == os.getpid() and self._thread.is_alive()

    def start(self) -> None:
        if self.running or self._stop.is_set() or not self._app.config.get("BACKGROUND_TASKS", not self._app.testing):
            return
        with self._lock:
            if self.running or self._stop.is_set():
                return
            self._pid = os.getpid()
            self._wake.set()  # look at once: mail may have waited while no process was serving
            self._thread = threading.Thread(target=self._run, daemon=True, name="fundraiser-mail")
            self._thread.start()

    def wake(self, *, resume: bool = False) -> None:
        """New mail was committed: send it now (if this process runs a sender). `resume` also
        ends a pause after the server was unreachable (a person asked to try again)."""
        if resume:
            self._paused_until = 0.0
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._lock:  # a start() under way has finished: its thread is started, or none is
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=SMTP_TIMEOUT_SECONDS + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self._poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            if time.monotonic() < self._paused_until:
                continue
            try:
                with self._app.app_context():
                    settings = self._app.extensions["fundraiser.settings"]
                    if not woken:
                        session = new_session()
                        try:
                            if not anything_due(session, settings):
                                continue
                        finally:
                            session.close()
                    mailer = Mailer(settings)
                    done = send_due(mailer, limit=ROUND_LIMIT, before_each=self._give_way)
                if mailer.unavailable:
                    self._paused_until = time.monotonic() + UNAVAILABLE_PAUSE_SECONDS
                elif done.sent + done.failed >= ROUND_LIMIT:
                    self._wake.set()  # more may be due: carry on without waiting for the poll
            except Exception:  # the database may be away; the next round tries again
                log.exception("The mail sender's round failed; it tries again in %s s", self._poll_seconds)

    def _give_way(self) -> None:
        """While Stripe's deliveries flood into this process, wait for the flood to pass, at most
        a pause a message (payments/inbox.Inbox.give_way, as the ledger's applier does): answering
        Stripe comes first. Measured: composing receipts took a quarter of a worker's GIL time
        during a flood."""
        inbox = self._app.extensions.get("fundraiser.stripe_inbox")
        if inbox is not None:
            inbox.give_way()


def sender(app: Flask | None = None) -> MailSender:
    return (app or current_app).extensions["fundraiser.mail"]


def send_soon() -> SendRound | None:
    """After queuing mail outside a request: wake this process's sender, or (CLI, tests without
    background tasks) send inline."""
    running = sender()
    if running.running:
        running.wake()
        return None
    return send_due(Mailer(current_app.extensions["fundraiser.settings"]))


def mark_queued(session: Session) -> None:
    """Wake the sender when this session commits: messages were queued (by Core inserts too)."""
    session.info["fundraiser.mail_queued"] = True


def _queued_mail(session: Session, _flush_context, _instances) -> None:
    if any(isinstance(obj, OutboxMessage) for obj in session.new):
        mark_queued(session)


def _after_commit(session: Session) -> None:
    if session.info.pop("fundraiser.mail_queued", False) and has_app_context():
        mail_sender = current_app.extensions.get("fundraiser.mail")
        if mail_sender is not None:
            mail_sender.wake()


def _after_rollback(session: Session) -> None:
    session.info.pop("fundraiser.mail_queued", None)


def init_app(app: Flask) -> None:
    """One sender per app, started by the first request; commits that queue mail wake it."""
    from sqlalchemy import event

    app.extensions["fundraiser.mail"] = MailSender(app)
    app.before_request(lambda: sender(app).start())
    if not event.contains(Session, "before_flush", _queued_mail):
        event.listen(Session, "before_flush", _queued_mail)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)

