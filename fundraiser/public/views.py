"""Public pages: the campaign list, each campaign's page, giving and thanks."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, send_from_directory, url_for

from .. import campaigns, donate_guard, donations, images, matches, organisation, security
from ..auth.access import current_user
from ..db import get_session
from ..donations import FormErrors
from ..extensions import csrf
from ..payments.stripe import PaymentError
from ..settings import current_settings
from . import page_cache
from .sharing import share_card

bp = Blueprint("public", __name__)

STRIPE_JS = "https://js.stripe.com"


def allow_stripe() -> None:
    """Exactly what Stripe.js, the Payment Element and the Checkout redirect need, on pages that use them."""
    security.allow("script-src", STRIPE_JS, "https://*.js.stripe.com")
    security.allow("frame-src", STRIPE_JS, "https://*.js.stripe.com", "https://hooks.stripe.com")
    security.allow("connect-src", "https://api.stripe.com")
    # Chrome applies form-action to the redirect that follows a form post (the Checkout fallback).
    security.allow("form-action", "https://checkout.stripe.com")


@bp.get("/")
def index():
    org = organisation.current_organisation()
    share = share_card(f"Our campaigns · {org.name}", f"Give to {org.name}'s campaigns.", "public.index")
    return page_cache.serve("index", lambda: render_template(
        "public/index.html", campaigns=campaigns.active_campaigns(get_session()), share=share,
        has_ended=campaigns.has_ended))


def campaign_or_404(slug: str):
    campaign = campaigns.public_campaign(get_session(), slug)
    if campaign is None:
        abort(404, description="We couldn't find that campaign. It may have ended or moved.")
    return campaign


def allow_challenge() -> None:
    """The human-check provider's script and frames, on donate pages, when a check is configured."""
    origins = current_settings().donate_guard.captcha_origins
    for directive in ("script-src", "frame-src", "connect-src", "style-src"):
        security.allow(directive, *origins)


def accepting_gifts(campaign) -> bool:
    """Whether the page shows the donate form; where it does and Stripe is set up, the CSP lets Stripe in."""
    accepting = campaigns.is_accepting_gifts(campaign)
    if accepting and current_settings().stripe_enabled:
        allow_stripe()
        if current_settings().donate_guard.captcha_enabled:
            allow_challenge()
    return accepting


def client_address() -> str:
    """The donor's address: the peer, or what the PROXY_COUNT trusted proxies say (ProxyFix)."""
    return request.remote_addr or "unknown"


def form_left_by_donor(campaign) -> dict | None:
    """The donate form as the donor left it, when they come back without having paid (`?d=<attempt>`)."""
    attempt_id = request.args.get("d")
    attempt = donations.attempt_by_public_id(get_session(), attempt_id) if attempt_id else None
    if attempt is None or attempt.campaign_id != campaign.id:
        return None
    return donations.form_values(attempt)


def render_campaign(campaign, *, values=None, errors=None, notice=None, status=200, challenge=False, retry_after=0,
                    unavailable=False):
    session = get_session()
    settings = current_settings()
    accepting = accepting_gifts(campaign)
    page = render_template(
        "public/campaign.html",
        campaign=campaign,
        progress=campaigns.progress(campaign, campaign.totals),
        story_html=campaigns.render_story(campaign.story_md),
        days_left=campaigns.days_left(campaign),
        ended=campaigns.has_ended(campaign),
        countdown=campaigns.countdown(campaign),
        match_statuses=matches.campaign_matches(session, campaign),
        accepting=accepting,
        supporters=campaigns.recent_supporters(
            session, campaign, approve_first=settings.wall_moderation == "approve"
        ),
        events=campaigns.events_for(session, campaign),
        recent_count=campaigns.gifts_in_last_hour(session, campaign),
        giving=giving_context(campaign, values=values, errors=errors, notice=notice, challenge=challenge,
                              unavailable=unavailable),
        share=share_card(campaign.title, campaign.summary, "public.campaign", campaign, slug=campaign.slug),
    )
    return page, status, ({"Retry-After": str(retry_after)} if retry_after else {})


def challenge_context(*, required: bool = False) -> dict | None:
    """The human check for the donate form: None when none is configured; `required` shows it at once."""
    guard = current_settings().donate_guard
    if not guard.captcha_enabled:
        return None
    return {
        "provider": guard.captcha_provider,
        "site_key": guard.captcha_site_key,
        "script": guard.captcha_script_url,
        "required": required or donate_guard.challenge_needed(get_session(), guard, client_address()),
    }


def giving_context(campaign, *, values=None, errors=None, notice=None, challenge=False, unavailable=False) -> dict:
    """Everything the donate form partial needs (also used by the embeddable widget)."""
    settings = current_settings()
    user = current_user()
    org = organisation.current_organisation()
    return {
        "challenge": challenge_context(required=challenge) if settings.stripe_enabled else None,
        "enabled": settings.stripe_enabled,
        "publishable_key": settings.stripe_publishable_key,
        "checkout_only": settings.stripe_checkout_only,
        "min_cents": settings.donation_min_cents,
        "max_cents": settings.donation_max_cents,
        "fee_percent_bps": settings.fee_percent_bps,
        "fee_fixed_cents": settings.fee_fixed_cents,
        "form": values or donations.form_defaults(campaign, org.wall_show_name, org.wall_show_amount),
        # The donor's own entries came back (errors, a cancelled payment), not a fresh form.
        "returned": bool(values),
        "field_errors": errors or {},
        "notice": notice,
        # The processor could not start a payment: the page also says how to give by check.
        "unavailable": unavailable,
        "show_setup_help": user is not None and user.role in ("admin", "staff"),
    }


@bp.get("/campaigns/<slug>")
def campaign(slug: str):
    if challenge_due_here():
        return campaign_page(slug)  # this visitor's page shows the human check: never shared
    return page_cache.serve(f"campaign:{slug}", lambda: campaign_page(slug))


def challenge_due_here() -> bool:
    """Whether this address must pass the human check, so its donate form differs from everyone's."""
    settings = current_settings()
    guard = settings.donate_guard
    return (settings.stripe_enabled and guard.captcha_enabled
            and donate_guard.challenge_needed(get_session(), guard, client_address()))


def campaign_page(slug: str):
    campaign = campaign_or_404(slug)
    # Back from Stripe Checkout without paying: the form comes back as the donor left it.
    values = form_left_by_donor(campaign)
    notice = ("Your payment was cancelled, so nothing was charged. Your details are below if you'd like to try again."
              if values is not None else None)
    return render_campaign(campaign, values=values, notice=notice)


@bp.post("/campaigns/<slug>/donate")
@csrf.exempt  # acts for no signed-in user, and must work inside the widget's third-party iframe
def donate(slug: str):
    """The no-JavaScript path: validate, store the attempt, send the donor to Stripe Checkout."""
    campaign = campaign_or_404(slug)
    if not campaigns.is_accepting_gifts(campaign):
        return render_campaign(campaign, notice="This campaign isn't accepting gifts right now.", status=409)
    settings = current_settings()
    if not settings.stripe_enabled:
        return render_campaign(campaign, notice="Online giving is not set up yet.", status=503)
    session = get_session()
    parsed = donations.parse_donation(request.form, campaign, settings)
    if isinstance(parsed, FormErrors):
        return render_campaign(campaign, values=request.form.to_dict(), errors=parsed.errors, status=400)
    refusal = donate_guard.admit(
        session, settings.donate_guard, campaign_id=campaign.id, ip_address=client_address(),
        email=parsed.donor_email, challenge_token=request.form.get("captcha_token", ""),
    )
    session.commit()  # the count stands even when this start is refused or fails below
    if refusal is not None:
        return render_campaign(campaign, values=request.form.to_dict(), notice=refusal.message, status=refusal.status,
                               challenge=refusal.challenge, retry_after=refusal.retry_after)
    attempt = donations.start_attempt(session, campaign, parsed, ip_address=client_address())
    thanks = settings.base_url + url_for("public.thanks", slug=slug, d=attempt.public_id)
    back = settings.base_url + url_for("public.campaign", slug=slug, d=attempt.public_id) + "#give"
    try:
        url = donations.begin_checkout(session, settings, attempt, success_url=thanks, cancel_url=back)
    except PaymentError as exc:
        session.rollback()
        notice = organisation.current_organisation().with_contact(exc.message)
        return render_campaign(campaign, values=request.form.to_dict(), notice=notice, status=502, unavailable=True)
    session.commit()
    return redirect(url, code=303)


def thanks_context(campaign, attempt_id: str) -> dict | None:
    """What the thank-you box needs, or None when the attempt is not this campaign's."""
    session = get_session()
    attempt = donations.attempt_by_public_id(session, attempt_id)
    if attempt is None or attempt.campaign_id != campaign.id:
        return None
    return {
        "campaign": campaign, "attempt": attempt, "gift": donations.attempt_gift(session, attempt),
        "progress": campaigns.progress(campaign, campaign.totals),
        "share_url": current_settings().base_url + url_for("public.campaign", slug=campaign.slug),
    }


@bp.get("/campaigns/<slug>/thanks")
def thanks(slug: str):
    context = thanks_context(campaign_or_404(slug), request.args.get("d", ""))
    if context is None:
        abort(404, description="We couldn't find that gift. If you were charged, your receipt is on its way by email.")
    share = share_card(context["campaign"].title, context["campaign"].summary, "public.campaign",
                       context["campaign"], slug=slug)
    return render_template("public/thanks.html", embed=False, share=share, **context)


@bp.get("/media/covers/<name>")
def cover_image(name: str):
    """Campaign cover images uploaded in the staff console, kept under the instance folder."""
    return send_from_directory(current_settings().instance_path / images.COVER_FOLDER, name, max_age=86400)


@bp.get("/media/story/<name>")
def story_image(name: str):
    """Pictures placed in campaign stories, served from our own address (the story allows no other)."""
    return send_from_directory(current_settings().instance_path / images.STORY_FOLDER, name, max_age=86400)


@bp.get("/media/branding/<name>")
def logo(name: str):
    """The organisation's logo, uploaded on the Settings page (emails may link to it)."""
    return send_from_directory(current_settings().instance_path / organisation.LOGO_FOLDER, name, max_age=86400)


POLICIES = {"privacy": ("privacy_policy", "Privacy policy"), "refund-policy": ("refund_policy", "Refund policy")}


@bp.get("/<any(privacy, 'refund-policy'):page>")
def policy(page: str):
    """The privacy and refund policies admins write on the Settings page (Markdown, sanitised)."""
    field, title = POLICIES[page]
    text = getattr(organisation.current_organisation(), field)
    if not text:
        abort(404, description=f"{title}: the organisation hasn't published one yet.")
    return render_template("public/policy.html", title=title, body=campaigns.render_story(text))
# A donor's statement link registers its route on this blueprint.
from . import documents  # noqa: F401
