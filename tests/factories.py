"""Test data built through the same domain functions the app uses."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from fundraiser import ledger, matches
from fundraiser.audit import Actor
from fundraiser.db import utcnow
from fundraiser.models import (
    Campaign,
    CampaignStatus,
    CommunityEvent,
    Donor,
    Gift,
    GiftChannel,
    GiftMethod,
    MatchingChallenge,
)

_seq = itertools.count(1)

# The organisation's time zone in tests (conftest's ORG_TIMEZONE): forms take dates as its local days.
TEST_TZ = ZoneInfo("America/New_York")


def local_today() -> date:
    """Today in the organisation's time zone: for five hours each night UTC is already tomorrow,
    and a gift dated tomorrow is refused."""
    return utcnow().astimezone(TEST_TZ).date()


def make_campaign(session: Session, **overrides) -> Campaign:
    n = next(_seq)
    values = dict(
        slug=f"campaign-{n}",
        title=f"Campaign {n}",
        summary="A test campaign",
        story_md="Our **story**.",
        goal_cents=1_000_000,
        currency="USD",
        status=CampaignStatus.ACTIVE,
        starts_at=utcnow() - timedelta(days=10),
        ends_at=utcnow() + timedelta(days=20),
        suggested_amounts=[2500, 5000, 10000],
    )
    values.update(overrides)
    campaign = Campaign(**values)
    session.add(campaign)
    session.flush()
    ledger.ensure_totals(session, campaign)
    return campaign


def make_donor(session: Session, **overrides) -> Donor:
    n = next(_seq)
    values = dict(name=f"Donor {n}", email=f"donor{n}@example.org")
    values.update(overrides)
    donor = Donor(**values)
    session.add(donor)
    session.flush()
    return donor


def make_event(session: Session, campaign: Campaign, **overrides) -> CommunityEvent:
    n = next(_seq)
    values = dict(
        slug=f"event-{n}", name=f"Event {n}", host_name="Hosts", event_date=utcnow().date(),
        campaign_id=campaign.id,
    )
    values.update(overrides)
    event = CommunityEvent(**values)
    session.add(event)
    session.flush()
    return event


def make_match(
    session: Session,
    campaign: Campaign,
    cap_cents: int = 100_000,
    *,
    ratio_percent: int = 100,
    follows: MatchingChallenge | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    counts_offline: bool = False,
    counts_events: bool = False,
    sponsor: str | None = None,
    description: str = "",
) -> MatchingChallenge:
    """A matching challenge saved as staff save one (matches.save_match)."""
    terms = matches.MatchTerms(
        sponsor=sponsor or f"Sponsor {next(_seq)}", description=description, ratio_percent=ratio_percent, cap_cents=cap_cents,
        starts_at=starts_at, ends_at=ends_at, counts_offline=counts_offline, counts_events=counts_events,
        follows_id=follows.id if follows else None,
    )
    return matches.save_match(session, Actor(None), campaign, terms)


def give(
    session: Session,
    campaign: Campaign | None,
    amount_cents: int = 5000,
    *,
    donor: Donor | None = None,
    received_at: datetime | None = None,
    channel: GiftChannel = GiftChannel.OFFLINE,
    method: GiftMethod = GiftMethod.CHECK,
    currency: str | None = None,
    **kwargs,
) -> Gift:
    return ledger.record_gift(
        session,
        campaign=campaign,
        amount_cents=amount_cents,
        currency=currency or (campaign.currency if campaign else "USD"),
        received_at=received_at or utcnow(),
        channel=channel,
        method=method,
        donor_id=donor.id if donor else None,
        **kwargs,
    )
