"""The organisation's demo campaigns, its cookie walk and a few hundred sample gifts.

Everything seeded is marked `is_sample` and keyed, so running the seed twice adds nothing.
Dates are placed relative to today so the demo always looks like a live season of giving.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import delete, func, select, union, update
from sqlalchemy.orm import Session

from . import audit, ledger, matches
from .audit import Actor
from .db import get_session, utcnow
from .models import (
    Campaign,
    CampaignDonorTotal,
    CampaignStatus,
    CampaignTotals,
    CommunityEvent,
    DedicationKind,
    DonationAttempt,
    Donor,
    DonorKind,
    Gift,
    GiftChannel,
    GiftCredit,
    GiftMethod,
    LedgerEntry,
    MatchingChallenge,
    RecurringPlan,
)
from .settings import current_settings

ANNIVERSARY_STORY = """\
Five years ago a handful of parents sat around a kitchen table and promised each other that no
child in Maryland would be locked alone in a room or held face-down on a classroom floor again.

Since then we have:

- testified at the General Assembly for limits on **seclusion and restraint** in public and
  nonpublic schools,
- helped hundreds of families request their child's incident reports and understand their rights,
- trained teachers and parents in de-escalation that keeps everyone safe.

Your gift for our fifth anniversary keeps our family helpline answered, pays for the public
records requests that show what really happens in schools, and brings more families to Annapolis.
"""

FILM_STORY = """\
**Restrained and Secluded in the Schoolhouse** is a documentary in which students, parents and
educators describe, in their own words, what restraint and seclusion do to children, and what
schools that stopped using them did instead.

Filming is finished. Your gift pays for editing, captions and audio description, music rights,
and free screenings for school boards and parent groups across the state.
"""

GIVING_TUESDAY_STORY = """\
On **Giving Tuesday**, every gift counts twice: once for the families we help this year, and once
as a signal to lawmakers that Marylanders want restraint and seclusion out of our schools.
"""

APPEAL_STORY = """\
*Together, We Can End Restraint and Seclusion.* Our year-round appeal funds the everyday work:
the helpline, the website, the records requests and the volunteers who answer parents' emails.
A monthly gift gives us the steady footing to plan ahead.
"""

FIRST_NAMES = [
    "Maria", "James", "Aisha", "David", "Linh", "Robert", "Keisha", "Michael", "Priya", "Thomas",
    "Sofia", "Daniel", "Grace", "Marcus", "Emily", "Jamal", "Hannah", "Carlos", "Olivia", "Kevin",
    "Fatima", "Brian", "Rachel", "Andre", "Megan", "Samuel", "Nicole", "Tyrone", "Laura", "Ethan",
]
LAST_NAMES = [
    "Johnson", "Nguyen", "Williams", "Garcia", "Brown", "Okafor", "Miller", "Davis", "Patel",
    "Wilson", "Martinez", "Anderson", "Thomas", "Jackson", "White", "Harris", "Clark", "Lewis",
    "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker", "Adams",
]
COMMENTS = [
    "For every kid who deserved better.",
    "Thank you for fighting for our children.",
    "Happy fifth anniversary!",
    "My son's school changed because of you.",
    "Keep going!",
    "Proud to support this work.",
    "Can't wait to see the film.",
]


def giving_tuesday(year: int) -> date:
    """The Tuesday after US Thanksgiving (the fourth Thursday of November)."""
    first = date(year, 11, 1)
    thanksgiving = first + timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thanksgiving + timedelta(days=5)


def _end_of_local_day(day: date) -> datetime:
    tz = current_settings().tz
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz).astimezone(UTC)


def _start_of_local_day(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=current_settings().tz).astimezone(UTC)


def _campaign_specs(today: date) -> list[dict]:
    # This year's Giving Tuesday: ahead of it the demo counts down to it; after it (the rest of
    # the season, through December) it shows the day just past, never next year's.
    gt = giving_tuesday(today.year)
    return [
        dict(
            slug="five-year-anniversary", title="Five Year Anniversary Fundraiser",
            summary="Five years of standing up for children in Maryland schools. Help us start the next five.",
            story_md=ANNIVERSARY_STORY, goal_cents=2_500_000, stretch_goal_cents=3_500_000,
            starts=today - timedelta(days=60), ends=today + timedelta(days=38),
            suggested=[2500, 5000, 10000, 25000], sample_gifts=140,
        ),
        dict(
            slug="restrained-and-secluded-documentary",
            title="Documentary: Restrained and Secluded in the Schoolhouse",
            summary="Finish the film and bring it to school boards and parent groups across the state.",
            story_md=FILM_STORY, goal_cents=4_000_000, stretch_goal_cents=None,
            starts=today - timedelta(days=120), ends=today + timedelta(days=120),
            suggested=[5000, 10000, 25000, 50000], sample_gifts=90,
        ),
        dict(
            slug="giving-tuesday", title=f"Giving Tuesday {gt.year}",
            summary="One day, one community: help families facing restraint and seclusion.",
            story_md=GIVING_TUESDAY_STORY, goal_cents=1_000_000, stretch_goal_cents=1_500_000,
            starts=min(today, gt) - timedelta(days=14), ends=gt,
            suggested=[2000, 4000, 10000], sample_gifts=45,
        ),
        dict(
            slug="support-our-mission", title="Together, We Can End Restraint and Seclusion",
            summary="Our year-round appeal: the helpline, records requests and volunteers, every month.",
            story_md=APPEAL_STORY, goal_cents=1_200_000, stretch_goal_cents=None,
            starts=today - timedelta(days=300), ends=None,
            suggested=[1000, 2500, 5000, 10000], sample_gifts=70,
        ),
    ]


def seed_demo(session: Session, today: date | None = None) -> str:
    """Create whatever of the demo is missing; return a one-line report of what was added."""
    today = today or utcnow().astimezone(current_settings().tz).date()
    rng = random.Random(2021)
    added = {"campaigns": 0, "gifts": 0}
    campaigns: dict[str, Campaign] = {}
    for spec in _campaign_specs(today):
        campaign = session.scalar(select(Campaign).where(Campaign.slug == spec["slug"]))
        if campaign is None:
            campaign = Campaign(
                slug=spec["slug"], title=spec["title"], summary=spec["summary"], story_md=spec["story_md"],
                goal_cents=spec["goal_cents"], stretch_goal_cents=spec["stretch_goal_cents"], currency="USD",
                starts_at=_start_of_local_day(spec["starts"]),
                ends_at=_end_of_local_day(spec["ends"]) if spec["ends"] else None,
                status=CampaignStatus.ACTIVE, suggested_amounts=spec["suggested"], is_sample=True,
            )
            session.add(campaign)
            session.flush()
            ledger.ensure_totals(session, campaign)
            added["campaigns"] += 1
        campaigns[spec["slug"]] = campaign

    donors = _sample_donors(session, rng)
    # All the sample gifts in one batch (the import's path: a few statements, not 20 a gift); the
    # random draws are the same whether or not a gift is already there, so a second run adds none.
    sample: list[ledger.NewGift] = []
    for spec in _campaign_specs(today):
        campaign = campaigns[spec["slug"]]
        for n in range(spec["sample_gifts"]):
            donor = rng.choice(donors)
            last = min(today, spec["ends"]) if spec["ends"] else today  # no gifts after a campaign ended
            days_ago = (today - last).days + rng.randint(0, max(0, (last - spec["starts"]).days))
            received = _start_of_local_day(today - timedelta(days=days_ago)) + timedelta(
                minutes=rng.randint(8 * 60, 22 * 60)
            )
            received = min(received, utcnow() - timedelta(minutes=5))
            channel, method = rng.choices(
                [(GiftChannel.ONLINE, GiftMethod.CARD), (GiftChannel.ONLINE, GiftMethod.BANK),
                 (GiftChannel.OFFLINE, GiftMethod.CHECK), (GiftChannel.OFFLINE, GiftMethod.CASH),
                 (GiftChannel.OFFLINE, GiftMethod.DAF)],
                weights=[70, 8, 15, 4, 3],
            )[0]
            amount = rng.choice(spec["suggested"] + [rng.randint(5, 400) * 100])
            sample.append(ledger.NewGift(
                campaign=campaign, amount_cents=amount, currency="USD", received_at=received,
                channel=channel, method=method, donor_id=donor.id, source_key=f"demo:{spec['slug']}:{n}",
                reference=f"{rng.randint(1000, 9999)}" if method == GiftMethod.CHECK else None,
                fee_cents=(amount * 22 // 1000 + 30) if channel == GiftChannel.ONLINE else None,
                is_anonymous=rng.random() < 0.2, show_amount=rng.random() < 0.5,
                public_comment=rng.choice(COMMENTS) if rng.random() < 0.25 else None,
                **(dict(dedication_kind=DedicationKind.MEMORY, dedication_name="Grandma Rose")
                   if rng.random() < 0.03 else {}),
                wall_reviewed=False, is_sample=True,
            ))
    added["gifts"] += len(ledger.record_gift_batch(session, sample))
    added["gifts"] += _seed_cookie_walk(session, campaigns["five-year-anniversary"], today)
    _seed_matches(session, campaigns["giving-tuesday"])
    _seed_sample_refund(session)
    session.flush()
    return (
        f"Demo data: {added['campaigns']} campaign(s) and {added['gifts']} sample gift(s) added "
        f"({session.scalar(select(func.count()).select_from(Gift).where(Gift.is_sample))} sample gifts in all)."
    )


def _sample_donors(session: Session, rng: random.Random) -> list[Donor]:
    donors = []
    for i in range(160):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}.{i}@example.org".lower()
        donor = session.scalar(select(Donor).where(Donor.email == email))
        if donor is None:
            donor = Donor(name=f"{first} {last}", email=email, is_sample=True)
            session.add(donor)
        donors.append(donor)
    session.flush()
    return donors


def _seed_cookie_walk(session: Session, campaign: Campaign, today: date) -> int:
    event = session.scalar(select(CommunityEvent).where(CommunityEvent.slug == "keystone-rv-cookie-walk"))
    if event is None:
        host = session.scalar(select(Donor).where(Donor.email == "customerservice@keystone-rv.example"))
        if host is None:
            host = Donor(
                kind=DonorKind.ORGANISATION, name="Keystone RV Customer Service Team",
                email="customerservice@keystone-rv.example", is_sample=True,
            )
            session.add(host)
            session.flush()
        event = CommunityEvent(
            slug="keystone-rv-cookie-walk", name="Holiday Cookie Walk",
            host_name="Keystone RV customer service team", host_donor_id=host.id,
            event_date=today - timedelta(days=9), place="Keystone RV break room, Goshen",
            campaign_id=campaign.id, is_sample=True,
            description=(
                "The customer-service team baked for weeks and sold cookies by the pound to colleagues; "
                "every dollar went to the anniversary fundraiser."
            ),
        )
        session.add(event)
        session.flush()
    proceeds = [
        ("demo:cookie-walk:cash", 41250, GiftMethod.CASH, None, 7200),
        ("demo:cookie-walk:check", 65000, GiftMethod.CHECK, "1187", None),
    ]
    added = 0
    for key, cents, method, ref, goods in proceeds:
        if session.scalar(select(Gift.id).where(Gift.source_key == key)) is not None:
            continue
        ledger.record_gift(
            session, campaign=campaign, amount_cents=cents, currency="USD",
            received_at=_start_of_local_day(event.event_date) + timedelta(hours=15),
            channel=GiftChannel.EVENT, method=method, donor_id=event.host_donor_id, event_id=event.id,
            reference=ref, source_key=key, show_amount=True, goods_value_cents=goods, is_sample=True,
            description="Cookie walk proceeds",
        )
        added += 1
    return added


def _seed_matches(session: Session, campaign: Campaign) -> None:
    """Giving Tuesday's two matches: a board member's first, then a company's once that one is full."""
    if campaign.matches:
        return
    board = MatchingChallenge(
        campaign_id=campaign.id, sponsor="A member of our board", ratio_percent=100, cap_cents=200_000,
        description="Every gift doubled, dollar for dollar.", counts_offline=True, counts_events=True,
    )
    session.add(board)
    session.flush()
    session.add(MatchingChallenge(
        campaign_id=campaign.id, sponsor="Keystone RV", ratio_percent=100, cap_cents=250_000, follows_id=board.id,
        description="When the board's match is full, Keystone RV matches the next gifts.",
    ))
    session.flush()
    matches.matches_changed(session, campaign.id)  # the gifts seeded above unlock them at once


def _seed_sample_refund(session: Session) -> None:
    """One refunded sample gift, so the demo shows a refund as its own ledger entry."""
    gift = session.scalar(select(Gift).where(Gift.source_key == "demo:five-year-anniversary:3"))
    if gift is not None:
        ledger.refund_gift(
            session, gift, gift.amount_cents, reason="Donor gave twice by mistake",
            source_key="demo-refund:five-year-anniversary:3",
        )


def seed_demo_if_empty() -> None:
    """First start on the embedded database: seed the demo once, if there are no campaigns at all."""
    session = get_session()
    if session.scalar(select(func.count()).select_from(Campaign)) == 0:
        seed_demo(session)
        session.commit()


def remove_demo(session: Session, actor: Actor) -> str:
    """Delete the demo's sample gifts, donors, events and campaigns, and nothing else; return a report.

    Totals and rollups are rebuilt from the ledger that is left (ledger.remove_sample_gifts). A demo
    donor, event or campaign that real records point at (a real gift given to a demo campaign, a
    monthly plan, a donor merged into a sample donor) is kept, so no real gift loses its record.
    The audit log keeps its rows and gains one saying what was removed.
    """
    gifts = ledger.remove_sample_gifts(session)
    quick = {"synchronize_session": False}
    used_events = select(Gift.event_id).where(Gift.event_id.is_not(None))
    events = session.execute(
        delete(CommunityEvent).where(CommunityEvent.is_sample.is_(True), CommunityEvent.id.not_in(used_events)),
        execution_options=quick,
    ).rowcount
    used_campaigns = union(
        select(Gift.campaign_id).where(Gift.campaign_id.is_not(None)),
        select(LedgerEntry.campaign_id).where(LedgerEntry.campaign_id.is_not(None)),
        select(RecurringPlan.campaign_id).where(RecurringPlan.campaign_id.is_not(None)),
        select(DonationAttempt.campaign_id),
        select(CommunityEvent.campaign_id),
    )
    doomed = list(session.scalars(
        select(Campaign.id).where(Campaign.is_sample.is_(True), Campaign.id.not_in(used_campaigns))
    ))
    if doomed:
        session.execute(update(MatchingChallenge).where(MatchingChallenge.campaign_id.in_(doomed)).values(follows_id=None), execution_options=quick)
        for model, column in ((MatchingChallenge, MatchingChallenge.campaign_id), (CampaignDonorTotal, CampaignDonorTotal.campaign_id),
                              (CampaignTotals, CampaignTotals.campaign_id), (Campaign, Campaign.id)):
            session.execute(delete(model).where(column.in_(doomed)), execution_options=quick)
    used_donors = union(
        select(Gift.donor_id).where(Gift.donor_id.is_not(None)),
        select(GiftCredit.donor_id).where(GiftCredit.donor_id.is_not(None)),
        select(RecurringPlan.donor_id).where(RecurringPlan.donor_id.is_not(None)),
        select(CommunityEvent.host_donor_id).where(CommunityEvent.host_donor_id.is_not(None)),
        select(Donor.merged_into_id).where(Donor.merged_into_id.is_not(None)),
    )
    sample_donors = select(Donor.id).where(Donor.is_sample.is_(True), Donor.id.not_in(used_donors))
    session.execute(delete(CampaignDonorTotal).where(CampaignDonorTotal.donor_id.in_(sample_donors), CampaignDonorTotal.net_cents == 0), execution_options=quick)
    donors = session.execute(
        delete(Donor).where(Donor.is_sample.is_(True), Donor.id.not_in(used_donors)), execution_options=quick
    ).rowcount
    session.expire_all()
    removed = {"campaigns": len(doomed), "gifts": gifts, "donors": donors, "events": events}
    audit.record(session, actor, "demo.remove", "demo", "all", after=removed)
    session.flush()
    return (
        f"Removed the demo: {len(doomed)} campaign(s), {gifts} sample gift(s), {donors} sample donor(s) "
        f"and {events} sample event(s). Every total was rebuilt from the ledger."
    )
