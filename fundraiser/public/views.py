"""Public pages: the campaign list and each campaign's page."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from .. import campaigns
from ..db import get_session

bp = Blueprint("public", __name__)


@bp.get("/")
def index():
    session = get_session()
    return render_template("public/index.html", campaigns=campaigns.active_campaigns(session))


@bp.get("/campaigns/<slug>")
def campaign(slug: str):
    session = get_session()
    campaign = campaigns.public_campaign(session, slug)
    if campaign is None:
        abort(404, description="We couldn't find that campaign. It may have ended or moved.")
    progress = campaigns.progress(campaign, campaign.totals)
    return render_template(
        "public/campaign.html",
        campaign=campaign,
        progress=progress,
        story_html=campaigns.render_story(campaign.story_md),
        days_left=campaigns.days_left(campaign),
        accepting=campaigns.is_accepting_gifts(campaign),
        supporters=campaigns.recent_supporters(session, campaign),
        events=campaigns.events_for(session, campaign),
        recent_count=campaigns.gifts_in_last_hour(session, campaign),
    )


