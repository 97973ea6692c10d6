"""What each kind of receipt says, and the outbox that delivers it.

A receipt is written to the outbox in the same transaction as its gift, so it can't be lost; a
sender drains the outbox after the commit (never delaying the webhook's answer), retrying with
backoff when the mail server is away. Each message is claimed before it is sent and marked sent
after, so a healthy run sends it exactly once.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .config import Settings
from .db import new_session, utcnow
from .models import (
    Campaign,
    Gift,
    GiftMethod,
    MessageStatus,
    OutboxMessage,
    RecurringPlan,
)
from .money import format_money
from .organisation import current_organisation

log = logging.getLogger(__name__)

NO_GOODS = "No goods or services were provided in exchange for this contribution."
METHOD_LABELS = {
    GiftMethod.CARD: "card", GiftMethod.BANK: "bank transfer", GiftMethod.CHECK: "check",
    GiftMethod.CASH: "cash", GiftMethod.STOCK: "stock", GiftMethod.IN_KIND: "in-kind gift",
    GiftMethod.DAF: "donor-advised fund grant", GiftMethod.OTHER: "other",
}
MAX_BACKOFF = timedelta(hours=6)
STALE_CLAIM = timedelta(minutes=10)


def manage_token(settings: Settings, plan_id: int) -> str:
    """A signed, unguessable token for a plan's manage link (the link opens Stripe's billing portal)."""
    return URLSafeSerializer(settings.secret_key, salt="manage-plan").dumps(plan_id)


def plan_from_token(settings: Settings, token: str) -> int | None:
    try:
        value = URLSafeSerializer(settings.secret_key, salt="manage-plan").loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


def receipt_text(gift: Gift, campaign: Campaign | None, plan: RecurringPlan | None, settings: Settings, *, donor_name: str) -> tuple[str, str]:
    """Subject and body of the receipt for a gift, worded for its kind."""
    org = current_organisation()
    amount = format_money(gift.amount_cents, gift.currency, settings.locale)
    day = gift.received_at.astimezone(settings.tz).strftime("%B %-d, %Y")
    purpose = campaign.title if campaign else "our general work"
    lines = [
        f"Dear {donor_name},",
        "",
        f"Thank you for your gift to {org.name}. This is your receipt; please keep it for your tax records.",
        "",
        f"Amount: {amount}" if gift.method != GiftMethod.IN_KIND else f"Gift: {gift.description or 'in-kind gift'}",
        f"Date received: {day}",
        f"For: {purpose}",
        f"Method: {METHOD_LABELS[gift.method]}",
        f"Receipt number: {gift.id}",
        "",
    ]
    if gift.method == GiftMethod.DAF:
        lines += [
            "This grant came from a donor-advised fund. The fund's sponsoring organization has already "
            "received the tax deduction, so please do not claim this gift as a charitable deduction on "
            "your own return.",
            NO_GOODS,
        ]
    elif gift.method == GiftMethod.IN_KIND:
        lines += [
            f"We gratefully acknowledge your in-kind gift: {gift.description or 'as described above'}. "
            "We do not state a value for gifts of property; the donor is responsible for determining it.",
            NO_GOODS,
        ]
    elif gift.goods_value_cents:
        goods = format_money(gift.goods_value_cents, gift.currency, settings.locale)
        deductible = format_money(gift.amount_cents - gift.goods_value_cents, gift.currency, settings.locale)
        lines += [
            f"In exchange for your contribution you received goods or services with an estimated fair market "
            f"value of {goods}. The amount of your contribution that is deductible for federal income tax "
            f"purposes is limited to the excess of your contribution over that value: {deductible}.",
        ]
    else:
        lines.append(NO_GOODS)
    if plan is not None:
        link = f"{settings.base_url}/giving/manage/{manage_token(settings, plan.id)}"
        lines += [
            "",
            f"This is a monthly gift of {format_money(plan.amount_cents, plan.currency, settings.locale)}, "
            "charged each month on the same day until you cancel. You'll get a receipt for every payment.",
            f"To update your card or cancel, visit: {link}",
        ]
    if gift.dedication_kind and gift.dedication_name:
        honour = "in honor of" if gift.dedication_kind == "honour" else "in memory of"
        lines += ["", f"Your gift was made {honour} {gift.dedication_name}."]
    lines += [
        "",
        org.legal_name,
        org.sponsor_statement,
        f"{org.charity_name}, Tax ID (EIN): {org.charity_ein}",
    ]
    subject = f"Your receipt: {amount} to {org.name}" if gift.method != GiftMethod.IN_KIND else f"Your receipt from {org.name}"
    return subject, "\n".join(lines) + "\n"


def dedication_text(gift: Gift, settings: Settings, *, donor_name: str, show_donor: bool) -> tuple[str, str]:
    org = current_organisation()
    honour = "in honor of" if gift.dedication_kind == "honour" else "in memory of"
    giver = donor_name if show_donor else "Someone who cares"
    body = (
        f"{giver} made a gift to {org.name} {honour} {gift.dedication_name}.\n\n"
        "The amount is private. We wanted you to know.\n\n"
        f"{org.legal_name}\n"
    )
    return f"A gift {honour} {gift.dedication_name}", body


def queue_for_gift(session: Session, gift: Gift, *, resend: bool = False) -> list[OutboxMessage]:
    """Put the gift's receipt (and any dedication notice) in the outbox, in the caller's transaction."""
    from .settings import current_settings

    settings = current_settings()
    donor = gift.donor
    if donor is None or not donor.email:
        return []
    campaign = session.get(Campaign, gift.campaign_id) if gift.campaign_id else None
    plan = session.get(RecurringPlan, gift.recurring_plan_id) if gift.recurring_plan_id else None
    subject, body = receipt_text(gift, campaign, plan, settings, donor_name=donor.name)
    if resend:
        count = session.scalar(select(OutboxMessage.id).where(OutboxMessage.gift_id == gift.id).order_by(OutboxMessage.id.desc()).limit(1)) or 0
        key = f"receipt:{gift.id}:resend:{count + 1}:{utcnow().timestamp()}"
    else:
        key = f"receipt:{gift.id}"
        if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)) is not None:
            return []
    messages = [OutboxMessage(gift_id=gift.id, kind="receipt", dedupe_key=key, to_email=donor.email, subject=subject, body_text=body)]
    if gift.dedication_notify_email and gift.dedication_name and not resend:
        subject, body = dedication_text(gift, settings, donor_name=donor.name, show_donor=not gift.is_anonymous)
        messages.append(
            OutboxMessage(gift_id=gift.id, kind="dedication", dedupe_key=f"dedication:{gift.id}",
                          to_email=gift.dedication_notify_email, subject=subject, body_text=body)
        )
    session.add_all(messages)
    session.flush()
    return messages


class Mailer:
    """Sends one message by SMTP, or writes it to the instance outbox folder when no SMTP is set."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: OutboxMessage) -> None:
        s = self.settings
        email = EmailMessage()
        email["From"] = s.mail_from or f"{current_organisation().name} <receipts@localhost>"
        email["To"] = message.to_email
        email["Subject"] = message.subject
        # A stable Message-ID lets mail systems drop a duplicate if a send is ever repeated.
        email["Message-ID"] = make_msgid(idstring=f"outbox-{message.id}", domain="fundraiser.local")
        email.set_content(message.body_text)
        if not s.smtp_host:
            folder = s.instance_path / "outbox"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{message.id:08d}-{message.kind}.eml").write_bytes(bytes(email))
            return
        if s.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=20, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=20)
        with smtp:
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
            smtp.send_message(email)


def send_due(mailer: Mailer, *, limit: int = 100) -> tuple[int, int]:
    """Send what is due, one message per transaction; returns (sent, failed this round).

    Claims are write transactions from the start (SQLite: BEGIN IMMEDIATE), so two senders never
    both claim a message and a claim never fails on a stale read snapshot.
    """
    sent = failed = 0
    _release_stale_claims()
    for _ in range(limit):
        session: Session = new_session(write=True)
        try:
            now = utcnow()
            message = session.scalar(
                select(OutboxMessage)
                .where(OutboxMessage.status == MessageStatus.PENDING, OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if message is None:
                return sent, failed
            message.status = MessageStatus.SENDING
            message.attempts += 1
            message.next_attempt_at = now
            session.commit()
            try:
                mailer.send(message)
            except (OSError, smtplib.SMTPException) as exc:
                message.status = MessageStatus.PENDING
                message.last_error = f"{exc.__class__.__name__}: {exc}"[:500]
                message.next_attempt_at = utcnow() + min(timedelta(minutes=2 ** min(message.attempts, 10)), MAX_BACKOFF)
                session.commit()
                failed += 1
                log.warning("Email %s not sent (attempt %s): %s", message.id, message.attempts, exc)
                # The server is likely down for everyone; try the rest later.
                return sent, failed
            message.status = MessageStatus.SENT
            message.sent_at = utcnow()
            message.last_error = None
            session.commit()
            sent += 1
        finally:
            session.close()
    return sent, failed


def _release_stale_claims() -> None:
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
