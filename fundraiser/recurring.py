"""Recurring gifts (monthly, quarterly, yearly): the RecurringPlan behind each Stripe Subscription
and its status over time."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db import utcnow
from .donors import find_or_create_donor, normalise_email
from .models import DonationFrequency, Donor, PlanStatus, RecurringPlan

# How often each recurring frequency charges: Stripe's (interval, interval_count), and the name our
# plans store. Stripe has no "quarter": a quarterly gift is every 3 months.
SCHEDULES: dict[DonationFrequency, tuple[str, int, str]] = {
    DonationFrequency.MONTHLY: ("month", 1, "month"),
    DonationFrequency.QUARTERLY: ("month", 3, "quarter"),
    DonationFrequency.YEARLY: ("year", 1, "year"),
}


# How receipts and notices name each plan interval: ("monthly", "each month").
INTERVAL_WORDS = {"month": ("monthly", "each month"), "quarter": ("quarterly", "every three months"),
                  "year": ("yearly", "each year")}


def interval_words(interval: str) -> tuple[str, str]:
    """The adjective and the "how often" phrase for a plan's interval; Stripe's own words for others."""
    return INTERVAL_WORDS.get(interval, ("recurring", f"every {interval}"))


def stripe_recurring(frequency: DonationFrequency) -> dict[str, object]:
    """The `recurring` part of a Stripe price for this frequency (ValueError for a one-time gift)."""
    if frequency not in SCHEDULES:
        raise ValueError(f"{frequency} is not a recurring frequency")
    interval, count, _ = SCHEDULES[frequency]
    return {"interval": interval, "interval_count": count} if count != 1 else {"interval": interval}


def plan_interval(recurring: dict | None) -> str:
    """The plan interval ("month", "quarter", "year") a Stripe price's `recurring` describes."""
    recurring = recurring or {}
    key = (recurring.get("interval") or "month", int(recurring.get("interval_count") or 1))
    for interval, count, name in SCHEDULES.values():
        if (interval, count) == key:
            return name
    # Anything else (a plan changed in Stripe's dashboard) is stored as Stripe says it, e.g. "2 week".
    return f"{key[1]} {key[0]}" if key[1] != 1 else key[0]


def plan_for_subscription(
    session: Session, *, subscription_id: str, customer_id: str | None, campaign_id: int | None,
    amount_cents: int, currency: str, donor_email: str | None, donor_name: str | None, interval: str = "month",
) -> RecurringPlan:
    """The plan for a Stripe Subscription, created the first time any path learns of it."""
    plan = session.scalar(select(RecurringPlan).where(RecurringPlan.stripe_subscription_id == subscription_id))
    if plan is not None:
        return plan
    donor = find_or_create_donor(session, email=donor_email, name=donor_name)
    plan = RecurringPlan(
        stripe_subscription_id=subscription_id, stripe_customer_id=customer_id, campaign_id=campaign_id,
        amount_cents=amount_cents, currency=currency.upper(), donor_id=donor.id if donor else None,
        status=PlanStatus.INCOMPLETE, interval=interval,
    )
    try:
        with session.begin_nested():
            session.add(plan)
            session.flush()
    except IntegrityError:
        plan = session.scalar(select(RecurringPlan).where(RecurringPlan.stripe_subscription_id == subscription_id))
    return plan


def apply_subscription_status(session: Session, plan: RecurringPlan, subscription: dict, event_created: datetime) -> bool:
    """Take status and dates from a subscription event, unless a newer event was already applied."""
    if plan.stripe_updated_at is not None and event_created < plan.stripe_updated_at:
        return False
    status = subscription.get("status")
    try:
        # `trialing` is a plan that has not charged yet, not an ended one.
        plan.status = PlanStatus(status)
    except ValueError:
        # incomplete_expired and other terminal states end the plan.
        plan.status = PlanStatus.CANCELED
    amount = _item_amount(subscription)
    if amount:
        # The donor changed their amount in the billing portal: later receipts state the new one.
        plan.amount_cents = amount
    items = (subscription.get("items") or {}).get("data") or []
    if items and (items[0].get("price") or {}).get("recurring"):
        plan.interval = plan_interval(items[0]["price"]["recurring"])
    if plan.status == PlanStatus.CANCELED and plan.canceled_at is None:
        ended = subscription.get("canceled_at") or subscription.get("ended_at")
        plan.canceled_at = datetime.fromtimestamp(ended, UTC) if ended else utcnow()
    period_end = subscription.get("current_period_end") or _item_period_end(subscription)
    if period_end:
        plan.current_period_end = datetime.fromtimestamp(period_end, UTC)
    if plan.started_at is None and subscription.get("start_date"):
        plan.started_at = datetime.fromtimestamp(subscription["start_date"], UTC)
    plan.stripe_updated_at = event_created
    session.flush()
    return True


def _item_period_end(subscription: dict) -> int | None:
    """Current API versions keep the billing period on the subscription item."""
    items = (subscription.get("items") or {}).get("data") or []
    return items[0].get("current_period_end") if items else None


def _item_amount(subscription: dict) -> int | None:
    """Monthly amount in cents: the first item's price times its quantity."""
    items = (subscription.get("items") or {}).get("data") or []
    if not items:
        return None
    price = items[0].get("price") or {}
    unit, quantity = price.get("unit_amount"), items[0].get("quantity") or 1
    if not isinstance(unit, int) or not isinstance(quantity, int) or unit <= 0 or quantity <= 0:
        return None
    return unit * quantity


def mark_payment_failed(session: Session, plan: RecurringPlan, failed_at: datetime) -> None:
    """An instalment failed: the plan is past due (unless a newer subscription event says
    otherwise, or it has ended) until a payment succeeds."""
    if plan.last_payment_failed_at is None or failed_at > plan.last_payment_failed_at:
        plan.last_payment_failed_at = failed_at
    newer_known = plan.stripe_updated_at is not None and failed_at < plan.stripe_updated_at
    if not newer_known and plan.status in (PlanStatus.ACTIVE, PlanStatus.TRIALING):
        plan.status = PlanStatus.PAST_DUE
    session.flush()


def plans_for_email(session: Session, email: str) -> list[RecurringPlan]:
    """The monthly gifts, not ended, of the donor with this email address (for "email me my link")."""
    key = normalise_email(email)
    if not key:
        return []
    return list(session.scalars(
        select(RecurringPlan).join(Donor, Donor.id == RecurringPlan.donor_id)
        .where(Donor.email == key, RecurringPlan.status != PlanStatus.CANCELED).order_by(RecurringPlan.id)
    ))
