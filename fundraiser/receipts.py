"""What each kind of receipt says, queued in the outbox in the same transaction as its gift.

A receipt written with its gift can't be lost; mail.py sends it after the commit (never delaying
the webhook's answer) and retries it when the mail server is away.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from .config import Settings
from .db import utcnow
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

NO_GOODS = "No goods or services were provided in exchange for this contribution."
METHOD_LABELS = {
    GiftMethod.CARD: "card", GiftMethod.BANK: "bank transfer", GiftMethod.CHECK: "check",
    GiftMethod.CASH: "cash", GiftMethod.STOCK: "stock", GiftMethod.IN_KIND: "in-kind gift",
    GiftMethod.DAF: "donor-advised fund grant", GiftMethod.OTHER: "other",
}
# What online payment methods are called on receipts, by Stripe's payment_method_details type
# (plus the card's wallet): a bank debit or a wallet is named as such, not "card".
DETAIL_LABELS = {
    "card": "card", "card:apple_pay": "Apple Pay", "card:google_pay": "Google Pay", "card:link": "Link",
    "card:samsung_pay": "Samsung Pay", "link": "Link", "us_bank_account": "ACH debit", "ach_debit": "ACH debit",
    "sepa_debit": "SEPA Direct Debit", "bacs_debit": "Bacs Direct Debit", "acss_debit": "pre-authorized debit",
    "au_becs_debit": "BECS Direct Debit", "cashapp": "Cash App Pay", "paypal": "PayPal", "amazon_pay": "Amazon Pay",
}
# How long a manage link works: a receipt's for a month, a failed-payment notice's for a few days.
RECEIPT_LINK_DAYS = 30
NOTICE_LINK_DAYS = 5
# New manage links emailed on request, per plan per hour (the expired-link page asks for them).
MANAGE_LINKS_PER_HOUR = 3


def method_label(gift: Gift) -> str:
    """How the donor paid, as receipts and statements say it: "Apple Pay", "ACH debit", "check"."""
    detail = gift.payment_method_detail
    if detail:
        return DETAIL_LABELS.get(detail) or DETAIL_LABELS.get(detail.split(":")[0]) or detail.replace("_", " ")
    return METHOD_LABELS[gift.method]


@dataclass(frozen=True)
class ManageToken:
    plan_id: int
    expired: bool


def _manage_serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="manage-plan:timed")


def manage_token(settings: Settings, plan_id: int, *, days: int = RECEIPT_LINK_DAYS) -> str:
    """A signed token for a plan's manage link that stops working after `days` (the link opens
    Stripe's billing portal; a forwarded or leaked email does not open it forever)."""
    return _manage_serializer(settings).dumps([plan_id, days])


def read_manage_token(settings: Settings, token: str) -> ManageToken | None:
    """The plan a manage link is for and whether it has expired; None if it is not ours."""
    try:
        value, signed_at = _manage_serializer(settings).loads(token, return_timestamp=True)
    except BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)):
        return None
    plan_id, days = value
    return ManageToken(plan_id, utcnow() - signed_at > timedelta(days=days))


def manage_url(settings: Settings, plan_id: int, *, days: int) -> str:
    return f"{settings.base_url}/giving/manage/{manage_token(settings, plan_id, days=days)}"


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
        f"Method: {method_label(gift)}",
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
        link = manage_url(settings, plan.id, days=RECEIPT_LINK_DAYS)
        lines += [
            "",
            f"This is a monthly gift of {format_money(plan.amount_cents, plan.currency, settings.locale)}, "
            "charged each month on the same day until you cancel. You'll get a receipt for every payment.",
            (f"To update your card, change your amount or cancel, visit (link valid for {RECEIPT_LINK_DAYS} days; "
             f"after that it offers to email you a new one): {link}"),
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


def refresh_pending_receipt(gift: Gift) -> None:
    """Rewrite a gift's receipt that is still waiting to go out (e.g. once Stripe says it was
    paid with Apple Pay); a sent receipt is never changed."""
    from .settings import current_settings

    session = object_session(gift)
    if session is None or gift.id is None or gift.donor is None:
        return
    message = session.scalar(select(OutboxMessage).where(
        OutboxMessage.dedupe_key == f"receipt:{gift.id}", OutboxMessage.status == MessageStatus.PENDING
    ))
    if message is None:
        return
    campaign = session.get(Campaign, gift.campaign_id) if gift.campaign_id else None
    plan = session.get(RecurringPlan, gift.recurring_plan_id) if gift.recurring_plan_id else None
    message.subject, message.body_text = receipt_text(gift, campaign, plan, current_settings(), donor_name=gift.donor.name)


def payment_failed_text(plan: RecurringPlan, settings: Settings, *, donor_name: str, action_required: bool,
                        pay_url: str | None) -> tuple[str, str]:
    """The email to a monthly donor whose instalment did not go through."""
    amount = format_money(plan.amount_cents, plan.currency, settings.locale)
    link = manage_url(settings, plan.id, days=NOTICE_LINK_DAYS)
    if action_required:
        first = (f"Your bank asked you to confirm this month's gift of {amount} to {current_organisation().name}, so it "
                 "hasn't gone through yet.")
        steps = [f"To confirm it, open: {pay_url}"] if pay_url else []
        steps.append(f"To update your card instead, open this link within {NOTICE_LINK_DAYS} days: {link}")
    else:
        first = (f"This month's gift of {amount} to {current_organisation().name} didn't go through, so nothing was charged. "
                 "Usually the card has expired or was replaced.")
        steps = [f"To update your card, open this link within {NOTICE_LINK_DAYS} days: {link}"]
    lines = [
        f"Dear {donor_name},", "", first, "", *steps, "",
        ("We'll try the payment again over the next few days. If you'd rather stop your monthly gift, the same "
         "link lets you cancel it."), "", "Thank you for your support.", "", current_organisation().legal_name,
    ]
    return f"Your monthly gift to {current_organisation().name} didn't go through", "\n".join(lines) + "\n"


def queue_payment_failed(session: Session, plan: RecurringPlan, *, invoice_id: str, action_required: bool,
                         fallback_email: str | None, pay_url: str | None = None) -> bool:
    """Queue the failed-instalment email, once per invoice (Stripe retries a failed invoice and
    reports each attempt); False if already queued or there is nowhere to send it."""
    from .settings import current_settings

    donor = plan.donor
    email = (donor.email if donor else None) or fallback_email
    key = f"payment-failed:{invoice_id}"
    if not email or session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)) is not None:
        return False
    subject, body = payment_failed_text(plan, current_settings(), donor_name=donor.name if donor else "friend",
                                        action_required=action_required, pay_url=pay_url)
    session.add(OutboxMessage(kind="payment-failed", dedupe_key=key, to_email=email, subject=subject, body_text=body))
    session.flush()
    return True


def queue_manage_link(session: Session, plan: RecurringPlan, settings: Settings) -> bool:
    """Email a fresh manage link to the address on the plan (never to one typed by a visitor);
    False when there is none or MANAGE_LINKS_PER_HOUR were sent in the last hour."""
    donor = plan.donor
    if donor is None or not donor.email:
        return False
    prefix = f"manage-link:{plan.id}:"
    recent = session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.dedupe_key.startswith(prefix, autoescape=True), OutboxMessage.created_at > utcnow() - timedelta(hours=1)
    ))
    if recent >= MANAGE_LINKS_PER_HOUR:
        return False
    link = manage_url(settings, plan.id, days=NOTICE_LINK_DAYS)
    body = "\n".join([
        f"Dear {donor.name},", "",
        (f"Here is a new link to manage your monthly gift of {format_money(plan.amount_cents, plan.currency, settings.locale)} "
         f"to {current_organisation().name} (update your card, change the amount, or cancel). It works for {NOTICE_LINK_DAYS} days:"),
        link, "", "If you didn't ask for this link, you can ignore this email.", "", current_organisation().legal_name,
    ]) + "\n"
    session.add(OutboxMessage(kind="manage-link", dedupe_key=f"{prefix}{uuid.uuid4().hex}", to_email=donor.email,
                              created_at=utcnow(), next_attempt_at=utcnow(),
                              subject=f"Your link to manage your monthly gift to {current_organisation().name}", body_text=body))
    session.flush()
    return True
