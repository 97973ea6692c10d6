"""The embeddable widget: a campaign's live bar and donate form, made to sit in an iframe on the
organisation's own site. Only origins in EMBED_ALLOWED_ORIGINS may frame it; every other page of
the app refuses framing (security.py)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from .. import campaigns, security
from ..settings import current_settings
from .views import (
    accepting_gifts,
    campaign_or_404,
    form_left_by_donor,
    giving_context,
    thanks_context,
)

bp = Blueprint("embed", __name__, url_prefix="/embed")


def allow_framing() -> None:
    """frame-ancestors: this app itself (the staff preview) and the configured origins, nothing else."""
    security.allow("frame-ancestors", "'self'", *current_settings().embed_allowed_origins)


@bp.get("/campaigns/<slug>")
def campaign(slug: str):
    allow_framing()  # first: a campaign archived or gone says so inside the frame, not as a broken frame
    campaign = campaign_or_404(slug)
    values = form_left_by_donor(campaign)
    notice = ("Your payment didn't go through, so nothing was charged. Your details are below if you'd like to try again."
              if values is not None else None)
    return render_template(
        "embed/campaign.html", campaign=campaign, embed=True, accepting=accepting_gifts(campaign),
        ended=campaigns.has_ended(campaign), progress=campaigns.progress(campaign, campaign.totals),
        giving=giving_context(campaign, values=values, notice=notice),
    )


@bp.get("/campaigns/<slug>/thanks")
def thanks(slug: str):
    allow_framing()
    campaign = campaign_or_404(slug)
    context = thanks_context(campaign, request.args.get("d", ""))
    if context is None:
        abort(404, description="We couldn't find that gift. If you were charged, your receipt is on its way by email.")
    return render_template("embed/thanks.html", embed=True, **context)
