"""Online giving rules: what a donor may submit, the fee they may cover, and starting a payment."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import text
from .config import Settings
from .donors import check_email
from .models import (
    AttemptStatus,
    Campaign,
    DedicationKind,
    DonationAttempt,
    DonationFrequency,
    Gift,
    PlanStatus,
    RecurringPlan,
)
from .money import MoneyError, format_input, format_money, parse_amount
from .networks import network_of
from .payments import stripe as stripe_adapter
from .recurring import SCHEDULES, plan_for_subscription, stripe_recurring

# How each frequency is named in the form's questions and in Stripe descriptions.
FREQUENCY_WORDS = {
    DonationFrequency.MONTHLY: "Monthly", DonationFrequency.QUARTERLY: "Quarterly", DonationFrequency.YEARLY: "Yearly",
}

COMMENT_MAX = 500
NAME_MAX = 200


def fee_to_cover(amount_cents: int, percent_bps: int, fixed_cents: int) -> int:
    """What to add so that, after the processor takes percent + fixed of the total, `amount` remains.

    total = ceil((amount + fixed) / (1 - percent)), in integer arithmetic (no floats, rounded up).
    """
    numerator = (amount_cents + fixed_cents) * 10_000
    denominator = 10_000 - percent_bps
    total = -(-numerator // denominator)
    return total - amount_cents


@dataclass
class DonationRequest:
    """A validated donate form."""

    amount_cents: int
    fee_covered_cents: int
    frequency: DonationFrequency
    donor_name: str
    donor_email: str
    show_name: bool
    show_amount: bool
    dedication_kind: DedicationKind | None = None
    dedication_name: str | None = None
    dedication_notify_email: str | None = None
    comment: str | None = None
    # "Keep me informed": consent to the newsletter, recorded on the donor when the gift is.
    keep_informed: bool = False

    @property
    def total_cents(self) -> int:
        return self.amount_cents + self.fee_covered_cents


@dataclass
class FormErrors:
    """Per-field messages for the donor, plus the values to put back in the form."""

    errors: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)


def _yes_no(form: Mapping[str, str], name: str, question: str, errors: FormErrors) -> bool:
    value = (form.get(name) or "").strip()
    if value not in ("yes", "no"):
        errors.add(name, f"Please choose whether {question}.")
        return False
    return value == "yes"


def parse_donation(form: Mapping[str, str], campaign: Campaign, settings: Settings) -> DonationRequest | FormErrors:
    """Validate the donate form; every problem gets a message next to its field."""
    errors = FormErrors()
    for name, message in text.form_problems(form).items():
        errors.add(name, message)
    currency = campaign.currency
    choice = (form.get("amount") or "").strip()
    amount = 0
    try:
        if choice and choice != "other":
            amount = int(choice)
            if amount not in campaign.suggested_amounts:
                raise MoneyError("Please choose one of the amounts shown, or enter your own.")
        else:
            amount = parse_amount(form.get("custom_amount"), currency)
    except (MoneyError, ValueError) as exc:
        errors.add("amount", str(exc) if isinstance(exc, MoneyError) else "Please choose an amount.")
    low, high = settings.donation_min_cents, settings.donation_max_cents
    if amount and not low <= amount <= high:
        errors.add(
            "amount",
            f"Amount must be between {format_money(low, currency)} and {format_money(high, currency)}.",
        )
    frequency_raw = (form.get("frequency") or "once").strip()
    try:
        frequency = DonationFrequency(frequency_raw)
    except ValueError:
        errors.add("frequency", "Please choose one time, monthly, quarterly or yearly.")
        frequency = DonationFrequency.ONCE
    if frequency in SCHEDULES and form.get("monthly_consent") != "yes":
        word = FREQUENCY_WORDS[frequency].lower()
        errors.add("monthly_consent", f"Please confirm the {word} schedule before giving {word}.")
    name = (form.get("name") or "").strip()
    if not name:
        errors.add("name", "Please enter your name; it goes on your tax receipt.")
    elif len(name) > NAME_MAX:
        errors.add("name", f"Please shorten your name to {NAME_MAX} characters.")
    email = ""
    try:
        email = check_email(form.get("email") or "")
    except ValueError:
        errors.add("email", "Please enter a valid email address; your receipt goes there.")
    show_name = _yes_no(form, "show_name", "your name may appear on the page", errors)
    show_amount = _yes_no(form, "show_amount", "the amount may appear on the page", errors)
    dedication_kind = None
    dedication_name = dedication_notify = None
    raw_kind = (form.get("dedication_kind") or "").strip()
    if raw_kind:
        try:
            dedication_kind = DedicationKind(raw_kind)
        except ValueError:
            errors.add("dedication_kind", "Please choose in honour or in memory.")
        dedication_name = (form.get("dedication_name") or "").strip()[:NAME_MAX] or None
        if dedication_name is None:
            errors.add("dedication_name", "Please enter who the gift honours or remembers.")
        notify = (form.get("dedication_notify_email") or "").strip()
        if notify:
            try:
                dedication_notify = check_email(notify)
            except ValueError:
                errors.add("dedication_notify_email", "Please enter a valid email address to notify, or leave it empty.")
    comment = text.normalise_lines((form.get("comment") or "").strip()) or None
    if comment and len(comment) > COMMENT_MAX:
        errors.add("comment", f"Please shorten your comment to {COMMENT_MAX} characters.")
    if errors.errors:
        return errors
    covered = fee_to_cover(amount, settings.fee_percent_bps, settings.fee_fixed_cents) if form.get("cover_fee") == "yes" else 0
    return DonationRequest(
        amount_cents=amount, fee_covered_cents=covered, frequency=frequency, donor_name=name, donor_email=email,
        show_name=show_name, show_amount=show_amount, dedication_kind=dedication_kind,
        dedication_name=dedication_name, dedication_notify_email=dedication_notify, comment=comment,
        keep_informed=form.get("keep_informed") == "yes",
    )


def form_defaults(campaign: Campaign, show_name: str, show_amount: str) -> dict[str, str]:
    """What a fresh donate form starts as: the campaign's default amount (when it is still one of
    the suggested ones) and the organisation's answers to the two privacy questions."""
    values = {"frequency": "once", "show_name": show_name, "show_amount": show_amount}
    if campaign.default_amount_cents in campaign.suggested_amounts:
        values["amount"] = str(campaign.default_amount_cents)
    return values


def impact_line(campaign: Campaign, amount_cents: int) -> str:
    """The campaign's short line saying what this suggested amount does ("" when it has none)."""
    return (campaign.impact_lines or {}).get(str(amount_cents), "")


def start_attempt(
    session: Session, campaign: Campaign, request: DonationRequest, *, ip_address: str | None = None,
) -> DonationAttempt:
    """Store the submitted gift before calling Stripe: its id keys idempotency and the thank-you page."""
    attempt = DonationAttempt(
        ip_address=network_of(ip_address) if ip_address else None,
        public_id=str(uuid.uuid4()),
        campaign_id=campaign.id,
        frequency=request.frequency,
        amount_cents=request.total_cents,
        fee_covered_cents=request.fee_covered_cents,
        currency=campaign.currency,
        donor_name=request.donor_name,
        donor_email=request.donor_email,
        choices={
            "show_name": request.show_name,
            "show_amount": request.show_amount,
            "dedication_kind": request.dedication_kind.value if request.dedication_kind else None,
            "dedication_name": request.dedication_name,
            "dedication_notify_email": request.dedication_notify_email,
            "comment": request.comment,
            "keep_informed": request.keep_informed,
        },
        status=AttemptStatus.STARTED,
    )
    session.add(attempt)
    session.flush()
    return attempt


def stripe_metadata(attempt: DonationAttempt) -> dict[str, str]:
    """What every Stripe object of this gift carries, so any later event can be attributed."""
    c = attempt.choices
    metadata = {
        "campaign_id": str(attempt.campaign_id),
        "donation_attempt": attempt.public_id,
        "frequency": attempt.frequency.value,
        "donor_name": attempt.donor_name[:NAME_MAX],
        "donor_email": attempt.donor_email,
        "show_name": "yes" if c.get("show_name") else "no",
        "show_amount": "yes" if c.get("show_amount") else "no",
        "fee_covered_cents": str(attempt.fee_covered_cents),
    }
    for key in ("dedication_kind", "dedication_name", "dedication_notify_email", "comment"):
        if c.get(key):
            metadata[key] = str(c[key])[:COMMENT_MAX]
    if c.get("keep_informed"):
        metadata["keep_informed"] = "yes"
    return metadata


def gift_description(settings: Settings, campaign: Campaign) -> str:
    """How the payment reads in Stripe and on receipts from the bank: who the gift went to."""
    from .organisation import current_organisation

    return f"Gift to {current_organisation().name} — {campaign.title}"[:COMMENT_MAX]


def begin_on_page(session: Session, settings: Settings, attempt: DonationAttempt) -> str:
    """Create the PaymentIntent (one-time) or Subscription (monthly); return the client secret for Stripe.js."""
    campaign = attempt.campaign
    metadata = stripe_metadata(attempt)
    key = f"donation:{attempt.public_id}"
    description = gift_description(settings, campaign)
    if attempt.frequency == DonationFrequency.ONCE:
        intent = stripe_adapter.create_payment_intent(
            amount_cents=attempt.amount_cents, currency=attempt.currency, metadata=metadata, idempotency_key=key,
            description=description, statement_descriptor_suffix=settings.statement_descriptor_suffix,
        )
        attempt.stripe_payment_intent_id = intent.id
        session.flush()
        return intent.client_secret
    word = FREQUENCY_WORDS[attempt.frequency]
    result = stripe_adapter.create_subscription(
        email=attempt.donor_email, name=attempt.donor_name, amount_cents=attempt.amount_cents,
        currency=attempt.currency, product_id=_product_for(session, campaign), metadata=metadata,
        idempotency_key=key, recurring=stripe_recurring(attempt.frequency),
        description=f"{word} {description[0].lower()}{description[1:]}",
    )
    attempt.stripe_subscription_id = result.subscription_id
    plan_for_subscription(
        session, subscription_id=result.subscription_id, customer_id=result.customer_id,
        campaign_id=campaign.id, amount_cents=attempt.amount_cents, currency=attempt.currency,
        donor_email=attempt.donor_email, donor_name=attempt.donor_name,
        interval=SCHEDULES[attempt.frequency][2],
    )
    session.flush()
    return result.client_secret


def begin_checkout(
    session: Session, settings: Settings, attempt: DonationAttempt, *, success_url: str, cancel_url: str,
) -> str:
    """Create a Stripe Checkout Session for the attempt; return the URL to send the donor to."""
    campaign = attempt.campaign
    word = FREQUENCY_WORDS.get(attempt.frequency)
    description = gift_description(settings, campaign)
    result = stripe_adapter.create_checkout_session(
        recurring=stripe_recurring(attempt.frequency) if word else None,
        amount_cents=attempt.amount_cents, currency=attempt.currency,
        product_name=f"{word + ' gift' if word else 'Gift'} to {campaign.title}",
        metadata=stripe_metadata(attempt), customer_email=attempt.donor_email,
        client_reference_id=attempt.public_id, success_url=success_url, cancel_url=cancel_url,
        idempotency_key=f"donation:{attempt.public_id}:checkout",
        description=f"{word} {description[0].lower()}{description[1:]}" if word else description,
        statement_descriptor_suffix=settings.statement_descriptor_suffix,
    )
    attempt.stripe_checkout_session_id = result.id
    session.flush()
    return result.url


def replace_token(settings: Settings, attempt: DonationAttempt) -> str:
    """Proof, given only to the browser that started the attempt, that it may replace it."""
    return hmac.new(settings.secret_key.encode(), f"replace:{attempt.public_id}".encode(), hashlib.sha256).hexdigest()


ALREADY_PAYING = (
    "Your earlier payment is already going through, so we didn't start a second one. "
    "Your receipt will arrive by email; please contact us if you meant to change it."
)


def retire_replaced(session: Session, settings: Settings, campaign: Campaign, public_id: str, token: str) -> None:
    """"Change my details" before paying: cancel the earlier attempt's PaymentIntent, or its
    incomplete Subscription and Customer, so Stripe keeps nothing the donor abandoned.

    Does nothing for an unknown attempt or a wrong token (the new gift still starts); raises
    PaymentError when the earlier payment is already on its way, so the donor isn't charged twice.
    """
    old = attempt_by_public_id(session, public_id) if public_id else None
    if old is None or old.campaign_id != campaign.id or old.status != AttemptStatus.STARTED:
        return
    if not hmac.compare_digest(token or "", replace_token(settings, old)):
        return
    if old.stripe_payment_intent_id:
        cancelled = stripe_adapter.cancel_payment_intent(old.stripe_payment_intent_id)
    elif old.stripe_subscription_id:
        plan = session.scalar(
            select(RecurringPlan).where(RecurringPlan.stripe_subscription_id == old.stripe_subscription_id)
        )
        cancelled = stripe_adapter.cancel_incomplete_subscription(
            subscription_id=old.stripe_subscription_id, customer_id=plan.stripe_customer_id if plan else None,
        )
        if cancelled and plan is not None and plan.status == PlanStatus.INCOMPLETE:
            plan.status = PlanStatus.CANCELED
    else:
        cancelled = True
    if not cancelled:
        raise stripe_adapter.PaymentError(ALREADY_PAYING)
    old.status = AttemptStatus.REPLACED
    session.flush()


def _product_for(session: Session, campaign: Campaign) -> str:
    if campaign.stripe_product_id is None:
        campaign.stripe_product_id = stripe_adapter.ensure_product(
            name=f"Monthly gift to {campaign.title}", idempotency_key=f"campaign-product:{campaign.id}"
        )
        session.flush()
    return campaign.stripe_product_id


def attempt_by_public_id(session: Session, public_id: str) -> DonationAttempt | None:
    return session.scalar(select(DonationAttempt).where(DonationAttempt.public_id == public_id))


def attempt_gift(session: Session, attempt: DonationAttempt) -> Gift | None:
    """The gift this attempt became, once Stripe's webhook has landed (None until then)."""
    if attempt.stripe_payment_intent_id:
        gift = session.scalar(select(Gift).where(Gift.source_key == f"stripe:{attempt.stripe_payment_intent_id}"))
        if gift is not None:
            return gift
    if attempt.stripe_subscription_id:
        return session.scalar(
            select(Gift).join(RecurringPlan, RecurringPlan.id == Gift.recurring_plan_id)
            .where(RecurringPlan.stripe_subscription_id == attempt.stripe_subscription_id)
            .order_by(Gift.id).limit(1)
        )
    return None


def form_values(attempt: DonationAttempt) -> dict[str, str]:
    """Put a cancelled or failed attempt back into the form exactly as the donor left it."""
    c = attempt.choices
    base = attempt.amount_cents - attempt.fee_covered_cents
    campaign = attempt.campaign
    values = {
        "amount": str(base) if base in campaign.suggested_amounts else "other",
        "custom_amount": "" if base in campaign.suggested_amounts else format_input(base, attempt.currency),
        "frequency": attempt.frequency.value,
        "cover_fee": "yes" if attempt.fee_covered_cents else "",
        "name": attempt.donor_name,
        "email": attempt.donor_email,
        "show_name": "yes" if c.get("show_name") else "no",
        "show_amount": "yes" if c.get("show_amount") else "no",
        "dedication_kind": c.get("dedication_kind") or "",
        "dedication_name": c.get("dedication_name") or "",
        "dedication_notify_email": c.get("dedication_notify_email") or "",
        "comment": c.get("comment") or "",
        "keep_informed": "yes" if c.get("keep_informed") else "",
    }
    return values
