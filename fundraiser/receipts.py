"""What each kind of receipt says, queued in the outbox in the same transaction as its gift.

A receipt written with its gift can't be lost; mail.py sends it after the commit (never delaying
the webhook's answer) and retries it when the mail server is away.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from .config import Settings
from .db import utcnow
from .models import (
    Campaign,
    Gift,
    GiftMethod,
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

