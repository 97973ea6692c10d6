"""Reading campaigns for people: progress, supporters, story, and what is public."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import markdown
import nh3
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, object_session, selectinload

from . import images
from .db import utcnow
from .ledger import recent_gift_count
from .models import (
    Campaign,
    CampaignStatus,
    CampaignTotals,
    CommunityEvent,
    EventRollup,
    Gift,
    GiftMethod,
    LedgerEntry,
    MonthlyRollup,
)
from .rollups import ARRIVAL_KINDS
from .settings import current_settings

PUBLIC_STATUSES = (CampaignStatus.ACTIVE, CampaignStatus.CLOSED)
# Percent of goal marked on every bar (static/css/site.css places each marker).
MILESTONES = (25, 50, 75, 100)


@dataclass(frozen=True)
class Progress:
    """A campaign's progress as the API, the bar and the live stream all show it."""

    id: int
    slug: str
    title: str
    currency: str
    goal_cents: int
    raised_cents: int
    gift_count: int
    donor_count: int
    percent: float
    ends_at: datetime | None
    updated_at: datetime
    version: int

    def as_json(self) -> dict:
        """Exactly the keys of GET /api/campaigns/<slug>/progress."""
        return {
            "id": self.id,
            "slug": self.slug,
            "title": self.title,
            "currency": self.currency,
            "goal_cents": self.goal_cents,
            "raised_cents": self.raised_cents,
            "gift_count": self.gift_count,
            "donor_count": self.donor_count,
            "percent": self.percent,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "updated_at": self.updated_at.isoformat(),
        }

    @property
    def etag(self) -> str:
        """Changes whenever any field of the JSON changes (totals, title, goal, end date)."""
        body = json.dumps(self.as_json(), sort_keys=True).encode()
        return hashlib.sha256(body).hexdigest()[:24]

    @property
    def percent_label(self) -> str:
        """"49.3", "10" (no ".0"): the same text progress.js writes from the JSON number."""
        return f"{self.percent:g}"

    @property
    def bar_percent(self) -> float:
        """How full the bar is drawn: capped at 100."""
        return min(self.percent, 100.0)


def percent_of_goal(raised_cents: int, goal_cents: int) -> float:
    """Percent of goal to one decimal, rounded down so 99.96% never shows as 100%."""
    if goal_cents <= 0 or raised_cents <= 0:
        return 0.0
    return math.floor(raised_cents * 1000 / goal_cents) / 10


@dataclass(frozen=True)
class CashAndInKind:
    """What a campaign raised, split: money, and the value of goods and services given."""

    cash_cents: int
    in_kind_cents: int


def in_kind_cents(session: Session, campaign_id: int) -> int:
    """The in-kind value standing in a campaign, from the board's monthly rollups (a few rows)."""
    return int(session.scalar(
        select(func.coalesce(func.sum(MonthlyRollup.raised_cents), 0))
        .where(MonthlyRollup.campaign_id == campaign_id, MonthlyRollup.method == GiftMethod.IN_KIND)
    ) or 0)


def cash_and_in_kind(session: Session, campaign: Campaign) -> CashAndInKind:
    """A campaign's raised total split into cash and in-kind (staff pages and the board)."""
    raised = campaign.totals.raised_cents if campaign.totals else 0
    in_kind = in_kind_cents(session, campaign.id)
    return CashAndInKind(cash_cents=raised - in_kind, in_kind_cents=in_kind)


def progress(campaign: Campaign, totals: CampaignTotals | None) -> Progress:
    """Build the progress snapshot from a campaign and its cached totals row. In-kind value counts
    toward the goal only when the campaign says so (`counts_in_kind`)."""
    raised = totals.raised_cents if totals else 0
    session = object_session(campaign)
    if raised and not campaign.counts_in_kind and session is not None:
        raised -= in_kind_cents(session, campaign.id)
    return Progress(
        id=campaign.id,
        slug=campaign.slug,
        title=campaign.title,
        currency=campaign.currency,
        goal_cents=campaign.goal_cents,
        raised_cents=raised,
        gift_count=totals.gift_count if totals else 0,
        donor_count=totals.donor_count if totals else 0,
        percent=percent_of_goal(raised, campaign.goal_cents),
        ends_at=campaign.ends_at,
        updated_at=(totals.updated_at if totals else campaign.updated_at),
        version=totals.version if totals else 0,
    )


def public_campaign(session: Session, slug: str) -> Campaign | None:
    """A campaign visitors may see (active or closed); drafts and archived ones stay hidden."""
    return session.scalar(
        select(Campaign).where(Campaign.slug == slug, Campaign.status.in_(PUBLIC_STATUSES))
    )


def active_campaigns(session: Session) -> list[tuple[Campaign, Progress]]:
    """Active campaigns for the home page, soonest ending first, open-ended ones next, and last
    those past their end date that staff have not closed yet (donors come to give)."""
    rows = session.execute(
        select(Campaign, CampaignTotals)
        .outerjoin(CampaignTotals, CampaignTotals.campaign_id == Campaign.id)
        .where(Campaign.status == CampaignStatus.ACTIVE)
        .order_by(Campaign.ends_at.is_(None), Campaign.ends_at, Campaign.title)
    ).all()
    now = utcnow()
    return sorted(((c, progress(c, t)) for c, t in rows), key=lambda row: has_ended(row[0], now))


def is_accepting_gifts(campaign: Campaign, now: datetime | None = None) -> bool:
    """Open for gifts: active, started, and not past its end."""
    now = now or utcnow()
    if campaign.status != CampaignStatus.ACTIVE:
        return False
    if campaign.starts_at and now < campaign.starts_at:
        return False
    return not (campaign.ends_at and now > campaign.ends_at)


def has_ended(campaign: Campaign, now: datetime | None = None) -> bool:
    """Closed by staff, or past its end date while still marked active (staff close a campaign
    when they get to it; donors should not read "Ends today" days after the end)."""
    if campaign.status == CampaignStatus.CLOSED:
        return True
    return campaign.ends_at is not None and (now or utcnow()) > campaign.ends_at


def staff_status(campaign: Campaign, now: datetime | None = None) -> str:
    """The status staff read in the campaigns list. "active" alone would hide that a campaign not
    yet open, or past its end date, takes no gifts (and that the latter is waiting to be closed)."""
    now = now or utcnow()
    if campaign.status == CampaignStatus.ACTIVE:
        if campaign.starts_at and now < campaign.starts_at:
            return "active (scheduled)"
        if has_ended(campaign, now):
            return "ended, still marked active"
    return campaign.status.value


@dataclass(frozen=True)
class CampaignRow:
    """A campaign in the board's table: all it has raised (as the figures above count it, in-kind
    included) and its progress toward the goal as its public bar counts it (in-kind only when the
    campaign says so), with its status as staff read it ("ended, still marked active")."""

    campaign: Campaign
    status: str
    raised_cents: int
    progress: Progress

    @property
    def in_kind_left_out(self) -> bool:
        return self.progress.raised_cents != self.raised_cents


def campaign_rows(campaigns: Sequence[Campaign]) -> list[CampaignRow]:
    now = utcnow()
    return [CampaignRow(c, staff_status(c, now), c.totals.raised_cents if c.totals else 0, progress(c, c.totals))
            for c in campaigns]


def days_left(campaign: Campaign, now: datetime | None = None) -> int | None:
    """Whole days until the end (rounded up), 0 once it has ended, None if open-ended."""
    if campaign.ends_at is None:
        return None
    remaining = campaign.ends_at - (now or utcnow())
    if remaining <= timedelta(0):
        return 0
    return math.ceil(remaining / timedelta(days=1))


@dataclass(frozen=True)
class Supporter:
    """A line on the donor wall, already stripped of what the donor chose not to show."""

    name: str
    amount_cents: int | None
    currency: str
    comment: str | None
    received_at: datetime
    dedication: str | None


def recent_supporters(
    session: Session, campaign: Campaign, limit: int = 10, *, approve_first: bool = False
) -> list[Supporter]:
    """Latest gifts still standing, honouring each donor's choices and staff moderation.

    With `approve_first`, a name or comment appears only once staff have reviewed the gift.
    """
    # Newest arrivals first, through the (campaign_id, occurred_at) index: a page must not add up
    # the whole ledger. Refunded gifts drop out below, so take a few more than shown.
    recent = list(dict.fromkeys(session.scalars(
        select(LedgerEntry.gift_id)
        .where(LedgerEntry.campaign_id == campaign.id, LedgerEntry.kind.in_(ARRIVAL_KINDS))
        .order_by(LedgerEntry.occurred_at.desc(), LedgerEntry.id.desc())
        .limit(limit * 3)
    )))
    standing = set(session.scalars(
        select(LedgerEntry.gift_id)
        .where(LedgerEntry.campaign_id == campaign.id, LedgerEntry.gift_id.in_(recent))
        .group_by(LedgerEntry.gift_id)
        .having(func.sum(LedgerEntry.amount_cents) > 0)
    )) if recent else set()
    gifts = session.scalars(
        select(Gift)
        .where(Gift.id.in_(standing))
        # Each name needs its donor and event: two queries, not two per gift (the live hub runs this after every gift).
        .options(selectinload(Gift.donor), selectinload(Gift.event))
        .order_by(Gift.received_at.desc(), Gift.id.desc())
        .limit(limit)
    ).all() if standing else []
    result = []
    for gift in gifts:
        held = approve_first and not gift.wall_reviewed
        private = gift.is_anonymous or gift.donor is None or gift.name_hidden or held
        if private:
            name = "Anonymous"
        elif gift.event is not None and gift.donor.id == gift.event.host_donor_id:
            name = f"{gift.donor.name} ({gift.event.name})"
        else:
            name = gift.donor.name
        dedication = None
        # A dedication names people too: it shows only with the donor's name, and staff can hide it.
        if gift.dedication_kind and gift.dedication_name and not private and not gift.dedication_hidden:
            prefix = "In honour of" if gift.dedication_kind == "honour" else "In memory of"
            dedication = f"{prefix} {gift.dedication_name}"
        result.append(
            Supporter(
                name=name,
                amount_cents=gift.amount_cents if gift.show_amount else None,
                currency=gift.currency,
                comment=None if gift.comment_hidden or held else gift.public_comment,
                received_at=gift.received_at,
                dedication=dedication,
            )
        )
    return result


@dataclass(frozen=True)
class EventSummary:
    event: CommunityEvent
    raised_cents: int


def events_for(session: Session, campaign: Campaign) -> list[EventSummary]:
    """Community events that gave to a campaign, with what each raised (net of reversals)."""
    # What each event's gifts left in this campaign, kept by the ledger in the board's rollups.
    rows = session.execute(
        select(CommunityEvent, func.coalesce(EventRollup.raised_cents, 0))
        .outerjoin(EventRollup, and_(EventRollup.event_id == CommunityEvent.id,
                                     EventRollup.campaign_id == campaign.id))
        .where(CommunityEvent.campaign_id == campaign.id)
        .order_by(CommunityEvent.event_date.desc())
    ).all()
    return [EventSummary(event, int(total)) for event, total in rows]


COUNTDOWN_FROM = timedelta(hours=48)


def countdown(campaign: Campaign, now: datetime | None = None) -> timedelta | None:
    """Time left when the end is near enough to count down (under two days), else None."""
    if campaign.ends_at is None or campaign.status != CampaignStatus.ACTIVE:
        return None
    left = campaign.ends_at - (now or utcnow())
    return left if timedelta(0) < left <= COUNTDOWN_FROM else None


def gifts_in_last_hour(session: Session, campaign: Campaign) -> int:
    return recent_gift_count(session, campaign.id, utcnow() - timedelta(hours=1))


ALLOWED_TAGS = {
    "p", "br", "strong", "em", "b", "i", "a", "ul", "ol", "li", "blockquote", "h2", "h3", "h4",
    "hr", "code", "pre", "img", "figure", "figcaption",
}


# Story pictures are the ones staff uploaded (images.store_story_image), served from our own address.
STORY_IMAGE_SRC = re.compile(r"^/media/story/[0-9a-f]{20}\.webp$")
STORY_IMG_TAG = re.compile(r'<img ([^>]*?)src="/media/story/([0-9a-f]{20}\.webp)"([^>]*)>')


def _own_images_only(tag: str, attribute: str, value: str) -> str | None:
    """Drop any picture address but our own: a hot-linked image would tell another site who reads the page."""
    if tag == "img" and attribute == "src" and not STORY_IMAGE_SRC.match(value):
        return None
    return value


def render_story(markdown_text: str) -> str:
    """Campaign story Markdown to HTML that is safe to put on the page (scripts, styles, others' images removed)."""
    html = markdown.markdown(markdown_text or "", extensions=["extra", "sane_lists"], output_format="html")
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "img": {"src", "alt", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_own_images_only,
    )
    return STORY_IMG_TAG.sub(_sized_story_image, clean)


def _sized_story_image(match: re.Match[str]) -> str:
    """A story picture with its width and height (the page keeps its place while it loads, instead of
    jumping under a donor's thumb) and loaded only when scrolled near."""
    size = images.story_image_size(current_settings().instance_path / images.STORY_FOLDER / match.group(2))
    if size is None:
        return match.group(0)
    before, name, after = match.groups()
    return f'<img {before}src="/media/story/{name}"{after} width="{size[0]}" height="{size[1]}" loading="lazy">'

