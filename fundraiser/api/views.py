"""JSON API: campaign progress for bars, widgets and other sites."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from .. import campaigns, donate_guard, donations, live, organisation
from ..db import get_session
from ..donations import FormErrors
from ..errors import json_error
from ..extensions import csrf
from ..payments.stripe import PaymentError
from ..public.views import client_address
from ..settings import current_settings

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_STREAM_SLUGS = 20


def _public_json(body: bytes, etag: str) -> Response:
    """A cacheable public JSON body; 304 to a matching If-None-Match. Built in one pass: this is
    the hottest route of the app (every open bar polls it where streams are blocked)."""
    headers = {
        "ETag": f'"{etag}"',
        "Cache-Control": "no-cache",
        # Any site may show a campaign's progress (the WordPress widget reads it).
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": "ETag",
    }
    if request.if_none_match.contains(etag):
        return current_app.response_class(status=304, headers=headers)
    return current_app.response_class(body, mimetype="application/json", headers=headers)


def _no_campaign(slug: str) -> Response:
    return json_error(404, f"No public campaign is called {slug!r}.")


@bp.get("/campaigns/<slug>/progress")
def progress(slug: str):
    """Progress JSON with an ETag; a matching If-None-Match gets 304 and no body.

    Served from the live hub's snapshot: no database work per request, yet never older than
    LIVE_POLL_SECONDS (and current at once for changes committed by this process).
    """
    snapshot = live.hub().get(slug)
    if snapshot is None:
        return _no_campaign(slug)
    return _public_json(snapshot.progress_body, snapshot.etag)


@bp.get("/campaigns/<slug>/activity")
def activity(slug: str):
    """What the bars show beside the totals: gifts in the last hour, matches, stretch goal."""
    snapshot = live.hub().get(slug)
    if snapshot is None:
        return _no_campaign(slug)
    return _public_json(snapshot.activity_body, snapshot.activity_etag)


@bp.get("/campaigns/<slug>/progress/stream")
def progress_stream(slug: str):
    """Server-Sent Events: `progress` (the progress API's JSON) and `activity`, on connect and on every change."""
    return _stream((slug,))


@bp.get("/progress/stream")
def progress_streams():
    """One stream for a page with several bars (`?slug=a&slug=b`): browsers allow few connections per host."""
    slugs = tuple(dict.fromkeys(request.args.getlist("slug")))
    if not 1 <= len(slugs) <= MAX_STREAM_SLUGS:
        return json_error(400, f"Ask for 1 to {MAX_STREAM_SLUGS} campaigns: ?slug=one&slug=two.")
    return _stream(slugs)


def _stream(slugs: tuple[str, ...]) -> Response:
    """The event stream of some campaigns.

    It ends after LIVE_STREAM_SECONDS and the browser reconnects by itself after the `retry`
    delay; a comment line every HEARTBEAT_SECONDS keeps proxies from closing an idle connection.
    No database connection is held while a viewer waits.
    """
    hub = live.hub()
    first = {slug: hub.get(slug) for slug in slugs}
    missing = [slug for slug, snapshot in first.items() if snapshot is None]
    if missing:
        return _no_campaign(missing[0])
    settings = current_settings()
    lifetime = settings.live_stream_seconds
    address = request.remote_addr or "?"
    if not hub.streams.admit(address, most=settings.live_streams_max, per_address=settings.live_streams_per_address):
        # The page's script polls the (cheap, cached) progress JSON instead.
        response = json_error(429, "Too many live streams are open; the page will check for updates instead.")
        response.headers["Retry-After"] = str(lifetime)
        return response

    def events():
        seen = first
        yield b"retry: 2000\n\n" + b"".join(live.sse_message(s) for s in seen.values())
        deadline = time.monotonic() + lifetime
        while (remaining := deadline - time.monotonic()) > 0:
            latest = hub.wait_for_change(slugs, seen, min(live.HEARTBEAT_SECONDS, remaining))
            if any(snapshot is None for snapshot in latest.values()):
                yield b"event: closed\ndata: {}\n\n"  # no longer public: stop reconnecting
                return
            changed = [s for slug, s in latest.items() if s is not seen[slug]]
            yield b"".join(live.sse_message(s) for s in changed) if changed else b": keep-alive\n\n"
            seen = latest

    response = Response(events(), mimetype="text/event-stream")
    # The server closes the response when the stream ends or the viewer is gone (noticed at the
    # next heartbeat), even if the generator never started.
    response.call_on_close(lambda: hub.streams.release(address))
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass events through at once
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


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
    guard = settings.donate_guard
    refusal = donate_guard.admit(
        session, guard, campaign_id=campaign.id, ip_address=client_address(), email=parsed.donor_email,
        challenge_token=str(form.get("captcha_token") or ""),
    )
    session.commit()  # the count stands even when this start is refused or fails below
    if refusal is not None:
        details = {"challenge": {"provider": guard.captcha_provider, "site_key": guard.captcha_site_key,
                                 "script": guard.captcha_script_url}} if refusal.challenge else {}
        if refusal.retry_after:
            details["retry_after"] = refusal.retry_after
        response = json_error(refusal.status, refusal.message, **details)
        if refusal.retry_after:
            response.headers["Retry-After"] = str(refusal.retry_after)
        return response
    try:
        # "Change my details": the attempt this one replaces is cancelled at Stripe first.
        donations.retire_replaced(session, settings, campaign, str(form.get("replaces") or ""),
                                  str(form.get("replace_token") or ""))
        attempt = donations.start_attempt(session, campaign, parsed, ip_address=client_address())
        client_secret = donations.begin_on_page(session, settings, attempt)
    except PaymentError as exc:
        session.rollback()
        # The processor's own words stay in the log; the donor reads ours, with a way to reach us.
        return json_error(503 if exc.retryable else 402, organisation.current_organisation().with_contact(exc.message))
    session.commit()
    return jsonify({
        "attempt": attempt.public_id,
        "replace_token": donations.replace_token(settings, attempt),
        "client_secret": client_secret,
        "intent_type": "payment",
        "amount_cents": attempt.amount_cents,
        "currency": attempt.currency,
        "frequency": attempt.frequency.value,
        # Inside the widget the donor comes back to the widget's own (frameable) thank-you page.
        "return_url": settings.base_url + url_for(
            "embed.thanks" if form.get("embed") == "1" else "public.thanks", slug=slug, d=attempt.public_id),
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
