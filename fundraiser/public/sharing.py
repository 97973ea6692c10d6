"""Sharing cards: the Open Graph and Twitter tags that make a shared link show a title, text and picture.

Social sites fetch the page without cookies and need absolute addresses, so every URL is built
from BASE_URL. A campaign's cover is the card's picture; the organisation's logo stands in when
there is none (a card without a picture is easy to scroll past).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for

from .. import organisation
from ..models import Campaign
from ..settings import current_settings
from ..templating import cover_sources


@dataclass(frozen=True)
class ShareCard:
    title: str
    description: str
    url: str
    image: str
    image_alt: str
    # "summary_large_image" with a cover, "summary" (a small square) with the logo or nothing.
    twitter_card: str


def share_card(title: str, description: str, endpoint: str, campaign: Campaign | None = None, **values) -> ShareCard:
    """The card for a public page, with the campaign's cover (or else the organisation's logo)."""
    settings = current_settings()
    org = organisation.current_organisation()
    cover = cover_sources(campaign) if campaign is not None else None
    if cover is not None:
        image, alt, kind = settings.base_url + cover.src, cover.alt, "summary_large_image"
    else:
        image, alt, kind = organisation.logo_url(settings, org), f"{org.name} logo", "summary"
    return ShareCard(
        title=title, description=description or org.name, url=settings.base_url + url_for(endpoint, **values),
        image=image, image_alt=alt if image else "", twitter_card=kind,
    )
