"""Monthly gifts: the RecurringPlan behind each Stripe Subscription and its status over time."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db import utcnow
from .donors import find_or_create_donor
from .models import PlanStatus, RecurringPlan


def plan_for_subscription(
    session: Session, *, subscription_id: str, customer_id: str | None, campaign_id: int | None,
    amount_cents: int, currency: str, donor_email: str | None, donor_name: str | None,
) -> RecurringPlan:
    """The plan for a Stripe Subscription, created the first time any path learns of it."""
    plan = session.scalar(select(RecurringPlan).where(RecurringPlan.stripe_subscription_id == subscription_id))
    if plan is not None:
        return plan
    donor = find_or_create_donor(session, email=donor_email, name=donor_name)
    plan = RecurringPlan(
        stripe_subscription_id=subscription_id, stripe_customer_id=customer_id, campaign_id=campaign_id,
        amount_cents=amount_cents, currency=currency.upper(), donor_id=donor.id if donor else None,
        status=PlanStatus.INCOMPLETE,
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
        plan.status = PlanStatus(status)
    except ValueError:
        # incomplete_expired and other terminal states end the plan.
        plan.status = PlanStatus.CANCELED
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
