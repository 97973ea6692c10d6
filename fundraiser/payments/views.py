"""Stripe's side of the app: the webhook endpoint and the monthly donors' manage link."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, redirect, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from .. import receipts
from ..db import get_session
from ..extensions import csrf
from ..models import RecurringPlan
from ..settings import current_settings
from ..tasks import drainer
from . import webhooks
from .inbox import inbox
from .stripe import PaymentError, SignatureError, create_portal_link

log = logging.getLogger(__name__)
bp = Blueprint("stripe", __name__)


@bp.post("/stripe/webhook")
@csrf.exempt
def webhook():
    """Store the event, then answer: 2xx only after the commit; 400 for anything not signed by
    Stripe; 5xx (nothing stored) makes Stripe retry. The ledger work follows in the background."""
    settings = current_settings()
    if not settings.stripe_webhook_secret:
        return {"error": "webhooks are not configured (STRIPE_WEBHOOK_SECRET)"}, 503
    if (request.content_length or 0) > webhooks.MAX_BODY_BYTES:
        return {"error": "body too large"}, 413
    payload = request.get_data(cache=False)
    if len(payload) > webhooks.MAX_BODY_BYTES:
        return {"error": "body too large"}, 413
    try:
        row = webhooks.verified(payload, request.headers.get("Stripe-Signature"), settings.stripe_webhook_secret)
    except SignatureError as exc:
        return {"error": f"signature check failed: {exc}"}, 400
    try:
        status = "received" if inbox().store(row) else "already received"
    except SQLAlchemyError:
        log.exception("Database error while storing a Stripe event; Stripe will retry")
        return {"error": "temporarily unable to record this event"}, 503
    drainer("stripe-events", webhooks.apply_and_follow_up).kick()
    return {"status": status}, 200


@bp.get("/giving/manage/<token>")
def manage(token: str):
    """The link in monthly receipts: opens Stripe's billing portal for that donor."""
    settings = current_settings()
    plan_id = receipts.plan_from_token(settings, token)
    plan = get_session().get(RecurringPlan, plan_id) if plan_id else None
    if plan is None or not plan.stripe_customer_id:
        abort(404, description="This manage link isn't valid. Please use the link in your latest receipt, or contact us.")
    try:
        url = create_portal_link(customer_id=plan.stripe_customer_id, return_url=settings.base_url + url_for("public.index"))
    except PaymentError as exc:
        abort(503, description=exc.message)
    return redirect(url, code=303)
