"""JSON API: campaign progress for bars, widgets and other sites."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for

from .. import campaigns, donations
from ..db import get_session
from ..donations import FormErrors
from ..errors import json_error
from ..extensions import csrf
from ..payments.stripe import PaymentError
from ..settings import current_settings

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/campaigns/<slug>/progress")
def progress(slug: str):
    """Progress JSON with an ETag; a matching If-None-Match gets 304 and no body."""
    snapshot = campaigns.progress_by_slug(get_session(), slug)
    if snapshot is None:
        return json_error(404, f"No public campaign is called {slug!r}.")
    response = jsonify(snapshot.as_json())
    response.set_etag(snapshot.etag)
    response.headers["Cache-Control"] = "no-cache"
    # Any site may show a campaign's progress (the WordPress widget reads it).
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "ETag"
    return response.make_conditional(request)


@bp.get("/health")
def health():
    """Liveness for load balancers and uptime checks: answers without touching the database."""
    return jsonify({"status": "ok"})


@bp.post("/campaigns/<slug>/donations")
@csrf.exempt  # acts for no signed-in user, and must work inside the widget's third-party iframe
def start_donation(slug: str):
    """The on-page path: validate the form, create the PaymentIntent or Subscription, return its secret."""
    session = get_session()
    campaign = campaigns.public_campaign(session, slug)
    if campaign is None:
        return json_error(404, f"No public campaign is called {slug!r}.")
    if not campaigns.is_accepting_gifts(campaign):
        return json_error(409, "This campaign isn't accepting gifts right now.")
    settings = current_settings()
    if not settings.stripe_enabled:
        return json_error(503, "Online giving is not set up yet.")
    form = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(form, dict) and not hasattr(form, "get"):
        return json_error(400, "Send the donate form as JSON or form fields.")
    parsed = donations.parse_donation({k: str(v) for k, v in dict(form).items()}, campaign, settings)
    if isinstance(parsed, FormErrors):
        return json_error(400, "Please check the highlighted fields.", fields=parsed.errors)
    attempt = donations.start_attempt(session, campaign, parsed)
    try:
        client_secret = donations.begin_on_page(session, attempt)
    except PaymentError as exc:
        session.rollback()
        return json_error(503 if exc.retryable else 402, exc.message)
    session.commit()
    return jsonify({
        "attempt": attempt.public_id,
        "client_secret": client_secret,
        "intent_type": "payment",
        "amount_cents": attempt.amount_cents,
        "currency": attempt.currency,
        "frequency": attempt.frequency.value,
        "return_url": settings.base_url + url_for("public.thanks", slug=slug, d=attempt.public_id),
    }), 201


@bp.get("/donations/<public_id>")
def donation_status(public_id: str):
    """Has Stripe's webhook landed for this gift yet? The thank-you page asks until it has."""
    session = get_session()
    attempt = donations.attempt_by_public_id(session, public_id)
    if attempt is None:
        return json_error(404, "No such donation.")
    gift = donations.attempt_gift(session, attempt)
    snapshot = campaigns.progress(attempt.campaign, attempt.campaign.totals)
    body = {
        "status": "recorded" if gift is not None else attempt.status.value,
        "amount_cents": attempt.amount_cents,
        "currency": attempt.currency,
        "frequency": attempt.frequency.value,
        "progress": snapshot.as_json(),
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
