"""Stripe's side of the app: the webhook endpoint and the monthly donors' manage link."""

from __future__ import annotations

import logging

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from .. import receipts
from ..db import get_session
from ..donors import check_email
from ..extensions import csrf
from ..models import RecurringPlan
from ..recurring import plans_for_email
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
    """The link in monthly receipts and notices: opens Stripe's billing portal for that donor,
    creating the portal session now. An expired or unknown link offers a fresh one by email."""
    settings = current_settings()
    found = receipts.read_manage_token(settings, token)
    plan = get_session().get(RecurringPlan, found.plan_id) if found else None
    if plan is None or not plan.stripe_customer_id:
        return render_template("payments/manage_link.html", state="invalid"), 404
    if found.expired:
        return render_template("payments/manage_link.html", state="expired", token=token), 410
    try:
        url = create_portal_link(customer_id=plan.stripe_customer_id, return_url=settings.base_url + url_for("public.index"))
    except PaymentError as exc:
        return render_template("payments/manage_link.html", state="unavailable", message=exc.message), 503
    return redirect(url, code=303)


@bp.post("/giving/manage/<token>/new-link")
def manage_new_link(token: str):
    """An expired link's "email me a new one": sent to the address on the plan, a few an hour."""
    settings = current_settings()
    session = get_session()
    found = receipts.read_manage_token(settings, token)
    plan = session.get(RecurringPlan, found.plan_id) if found else None
    if plan is None:
        return render_template("payments/manage_link.html", state="invalid"), 404
    if not receipts.queue_manage_link(session, plan, settings):
        return render_template("payments/manage_link.html", state="limited"), 429
    session.commit()
    return render_template("payments/manage_link.html", state="sent")


@bp.post("/giving/manage/new-link")
def manage_link_by_email():
    """For a link that isn't valid at all: the donor types their address; whether or not we
    have a monthly gift for it, the answer is the same (it tells nobody who gives)."""
    session = get_session()
    email = (request.form.get("email") or "").strip()
    try:
        email = check_email(email)
    except ValueError:
        return render_template("payments/manage_link.html", state="invalid",
                               error="Please enter the email address your receipts go to."), 400
    settings = current_settings()
    for plan in plans_for_email(session, email):
        receipts.queue_manage_link(session, plan, settings)
    session.commit()
    return render_template("payments/manage_link.html", state="sent")
