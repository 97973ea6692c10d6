"""Campaigns in the staff console: the list, the form with its preview, status changes, the cover and matching challenges."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from .. import (
    audit,
    campaign_admin,
    campaigns,
    images,
    matches,
    security,
)
from ..campaigns import render_story
from ..db import get_session, utcnow
from ..donations import FormErrors
from ..models import (
    Campaign,
    MatchingChallenge,
)
from ..settings import current_settings
from . import confirm
from .views import actor, bp, get_or_404


@bp.get("/campaigns")
def campaign_list():
    return render_template("staff/campaigns.html", rows=campaign_admin.staff_list(get_session()), now=utcnow(),
                           staff_status=campaigns.staff_status)


def render_campaign_form(campaign, values, errors, status=200, preview=None, match_values=None, match_errors=None):
    settings = current_settings()
    if campaign:
        security.allow("frame-src", "'self'")  # the widget's live preview
    return render_template(
        "staff/campaign_form.html", campaign=campaign, values=values, errors=errors, preview=preview,
        raised=campaigns.cash_and_in_kind(get_session(), campaign) if campaign else None,
        currency_options=campaign_admin.currency_options(campaign),
        actions=campaign_admin.allowed_actions(campaign) if campaign else [],
        history=audit.history(get_session(), "campaign", campaign.id) if campaign else [],
        match_statuses=matches.campaign_matches(get_session(), campaign) if campaign else [],
        match_values=match_values or {"ratio": "1:1"}, match_errors=match_errors or {},
        embed_url=settings.base_url + url_for("embed.campaign", slug=campaign.slug) if campaign else None,
        give_button_url=settings.base_url + url_for("static", filename="js/give-button.js"),
        widget_frame_url=settings.base_url + url_for("static", filename="js/widget-frame.js"),
        embed_base=settings.base_url.rstrip("/"),
        embed_origins=settings.embed_allowed_origins,
    ), status


@bp.route("/campaigns/new", methods=["GET", "POST"])
def campaign_new():
    return campaign_form(None)


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
def campaign_edit(campaign_id: int):
    return campaign_form(get_or_404(Campaign, campaign_id, "campaign"))


def campaign_form(campaign):
    session = get_session()
    tz = current_settings().tz
    if request.method == "GET":
        values = campaign_admin.form_values(campaign, tz) if campaign else {"currency": "USD"}
        return render_campaign_form(campaign, values, {})
    values = request.form.to_dict()
    if request.form.get("preview"):
        # Preview renders the story exactly as the public page will; nothing is saved.
        return render_campaign_form(campaign, values, {}, preview=render_story(values.get("story_md", "")))
    parsed = campaign_admin.parse_campaign(session, request.form, campaign)
    if isinstance(parsed, FormErrors):
        return render_campaign_form(campaign, values, parsed.errors, status=400)
    saved = campaign_admin.save_campaign(session, actor(), campaign, parsed, tz)
    session.commit()
    flash(f"Saved “{saved.title}”." + (" It is a draft until you publish it." if saved.status == "draft" else ""), "success")
    return redirect(url_for("staff.campaign_edit", campaign_id=saved.id))


@bp.post("/campaigns/<int:campaign_id>/status")
def campaign_status(campaign_id: int):
    session = get_session()
    campaign = get_or_404(Campaign, campaign_id, "campaign")
    if request.form.get("action") == "close" and not confirm.confirmed():
        return confirm.ask(
            f"Close “{campaign.title}”?", "Its page stops taking gifts online (staff can still enter late checks). "
            "You can reopen it later.", "Yes, close the campaign", url_for("staff.campaign_edit", campaign_id=campaign.id),
        )
    try:
        campaign_admin.change_status(session, actor(), campaign, request.form.get("action", ""))
    except campaign_admin.CampaignError as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        session.commit()
        flash(f"“{campaign.title}” is now {campaign.status}.", "success")
    return redirect(url_for("staff.campaign_edit", campaign_id=campaign.id))


@bp.post("/campaigns/<int:campaign_id>/cover")
def campaign_cover(campaign_id: int):
    session = get_session()
    campaign = get_or_404(Campaign, campaign_id, "campaign")
    upload = request.files.get("cover")
    try:
        campaign_admin.store_cover(
            session, actor(), campaign, upload.read(images.MAX_UPLOAD_BYTES + 1) if upload else b"",
            request.form.get("cover_alt", ""), current_settings().instance_path / images.COVER_FOLDER,
        )
    except campaign_admin.CampaignError as exc:
        session.rollback()
        values = {**campaign_admin.form_values(campaign, current_settings().tz), "cover_alt": request.form.get("cover_alt", "")}
        return render_campaign_form(campaign, values, {"cover": str(exc)}, status=400)
    session.commit()
    flash("Cover image saved.", "success")
    return redirect(url_for("staff.campaign_edit", campaign_id=campaign.id))


@bp.post("/campaigns/<int:campaign_id>/story-images")
def story_image(campaign_id: int):
    """Upload a picture for the story; the page then shows the Markdown line that places it."""
    campaign = get_or_404(Campaign, campaign_id, "campaign")
    upload = request.files.get("story_image")
    try:
        name = campaign_admin.store_story_image(
            get_session(), actor(), campaign, upload.read(images.MAX_UPLOAD_BYTES + 1) if upload else b"",
            current_settings().instance_path / images.STORY_FOLDER,
        )
    except campaign_admin.CampaignError as exc:
        get_session().rollback()
        values = campaign_admin.form_values(campaign, current_settings().tz)
        return render_campaign_form(campaign, values, {"story_image": str(exc)}, status=400)
    get_session().commit()
    flash(f"Picture saved. Paste this line into the story where it belongs, with your own description: "
          f"![Describe the picture]({url_for('public.story_image', name=name)})", "success")
    return redirect(url_for("staff.campaign_edit", campaign_id=campaign.id))


@bp.post("/campaigns/<int:campaign_id>/matches")
def match_new(campaign_id: int):
    """Add a matching challenge; the form sits on the campaign's page."""
    session = get_session()
    campaign = get_or_404(Campaign, campaign_id, "campaign")
    terms = matches.parse_terms(request.form, campaign, current_settings().tz)
    if isinstance(terms, dict):
        values = campaign_admin.form_values(campaign, current_settings().tz)
        return render_campaign_form(campaign, values, {}, match_values=request.form.to_dict(), match_errors=terms,
                                    status=400)
    matches.save_match(session, actor(), campaign, terms)
    session.commit()
    flash(f"Match from {terms.sponsor} added. It shows on the campaign page at once.", "success")
    return redirect(url_for("staff.campaign_edit", campaign_id=campaign.id) + "#matches")


@bp.route("/campaigns/<int:campaign_id>/matches/<int:match_id>", methods=["GET", "POST"])
def match_edit(campaign_id: int, match_id: int):
    """Change a match: its cap, dates, ratio, what counts. End it early by setting its end date."""
    session = get_session()
    campaign = get_or_404(Campaign, campaign_id, "campaign")
    match = get_or_404(MatchingChallenge, match_id, "match")
    if match.campaign_id != campaign.id:
        abort(404, description="We couldn't find that match.")
    tz = current_settings().tz
    if request.method == "GET":
        return render_template("staff/match_form.html", campaign=campaign, match=match,
                               values=matches.form_values(match, tz), errors={})
    terms = matches.parse_terms(request.form, campaign, tz, editing=match)
    if isinstance(terms, dict):
        return render_template("staff/match_form.html", campaign=campaign, match=match,
                               values=request.form.to_dict(), errors=terms), 400
    matches.save_match(session, actor(), campaign, terms, match)
    session.commit()
    flash(f"Match from {terms.sponsor} saved.", "success")
    return redirect(url_for("staff.campaign_edit", campaign_id=campaign.id) + "#matches")


# ------------------------------------------------------------------------------ events
