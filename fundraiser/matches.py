"""Matching challenges: what each sponsor's pool has unlocked from the campaign's gifts.

A gift's standing amount (after refunds and voids) flows through each chain of matches in turn:
a match unlocks `ratio` of the part of the gift it takes, up to what is left of its cap; the part
it could not take (cap full, not running yet, or ended) flows on to the match that follows it.
Separate chains stack: one gift can unlock from several sponsors at once. Gifts are taken in the
order they arrived (received_at, then gift id).

What each match has unlocked is stored (`unlocked_cents`) and kept current by the ledger in the
transaction of each money change, under the campaign's totals lock: a new gift that arrived after
every gift counted so far (`counted_through`) adds its own step (`count_new_gifts`); anything else
(a refund, void, correction, dispute, move, restated date, backdated gift, or a match created or
edited) counts the campaign's standing gifts again (`recount`). Pages and live snapshots read
the stored amounts; `compute` from scratch is for the recount and for `verify-totals`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit
from .db import utcnow
from .models import Campaign, CampaignTotals, Gift, GiftChannel, LedgerEntry, MatchingChallenge
from .money import MoneyError, from_cents, parse_amount

RATIO_MIN_PERCENT, RATIO_MAX_PERCENT = 10, 1000


@dataclass(frozen=True)
class GiftForMatch:
    received_at: datetime
    channel: GiftChannel
    net_cents: int
    gift_id: int = 0  # breaks ties between gifts received at the same instant


def _arrival(gift: GiftForMatch) -> tuple[datetime, int]:
    return gift.received_at, gift.gift_id


@dataclass(frozen=True)
class MatchStatus:
    """One pool as the public page shows it."""

    id: int
    sponsor: str
    description: str
    ratio_percent: int
    cap_cents: int
    unlocked_cents: int
    starts_at: datetime | None
    ends_at: datetime | None
    state: str  # upcoming | running | next | full | ended
    counts_offline: bool
    counts_events: bool
    follows_id: int | None

    @property
    def remaining_cents(self) -> int:
        return self.cap_cents - self.unlocked_cents

    @property
    def unlockable_cents(self) -> int:
        """What gifts can still unlock: nothing once the match has ended, whatever was left of it."""
        return 0 if self.state == "ended" else self.remaining_cents

    @property
    def state_words(self) -> str:
        return STATE_WORDS[self.state]

    @property
    def ratio_label(self) -> str:
        return ratio_label(self.ratio_percent)

    def as_json(self) -> dict:
        return {
            "id": self.id, "sponsor": self.sponsor, "description": self.description,
            "ratio_percent": self.ratio_percent, "ratio": self.ratio_label, "cap_cents": self.cap_cents,
            "unlocked_cents": self.unlocked_cents, "remaining_cents": self.remaining_cents, "state": self.state,
            "starts_at": self.starts_at.isoformat() if self.starts_at else None,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "counts_offline": self.counts_offline, "counts_events": self.counts_events,
        }


# How staff and the board read a match's state (the public page words it for donors).
STATE_WORDS = {
    "upcoming": "Not started yet", "running": "Unlocking now", "next": "Starts when the one before is full",
    "full": "Fully unlocked", "ended": "Ended",
}


def ratio_label(ratio_percent: int) -> str:
    """"1:1", "2:1", "0.5:1": sponsor dollars per donor dollar."""
    text = f"{Decimal(ratio_percent) / 100:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + ":1"


def _counts(match: MatchingChallenge, gift: GiftForMatch) -> bool:
    if match.starts_at and gift.received_at < match.starts_at:
        return False
    if match.ends_at and gift.received_at > match.ends_at:
        return False
    if gift.channel == GiftChannel.OFFLINE:
        return match.counts_offline
    if gift.channel == GiftChannel.EVENT:
        return match.counts_events
    return True


def _chains(matches: list[MatchingChallenge]) -> list[list[MatchingChallenge]]:
    """Each root (a match following no other in this campaign) with its followers in order."""
    by_id = {m.id: m for m in matches}
    followers: dict[int, MatchingChallenge] = {}
    roots = []
    for m in sorted(matches, key=lambda m: m.id):
        if m.follows_id in by_id and m.follows_id not in followers:
            followers[m.follows_id] = m
        else:
            roots.append(m)
    chains = []
    for root in roots:
        chain, current, seen = [root], root, {root.id}
        while current.id in followers and followers[current.id].id not in seen:
            current = followers[current.id]
            chain.append(current)
            seen.add(current.id)
        chains.append(chain)
    return chains


def allocate(chains: list[list[MatchingChallenge]], unlocked: dict[int, int], gift: GiftForMatch) -> None:
    """One gift's step: add what it unlocks from each chain to `unlocked` (match id -> cents so far)."""
    for chain in chains:
        portion = gift.net_cents
        for match in chain:
            if portion <= 0:
                break
            if not _counts(match, gift):
                continue
            room = match.cap_cents - unlocked[match.id]
            if room <= 0:
                continue
            wanted = portion * match.ratio_percent // 100
            take = min(wanted, room)
            unlocked[match.id] += take
            # The part of the gift this match used; the rest flows to the next in the chain.
            portion -= portion if take == wanted else -(-take * 100 // match.ratio_percent)


def compute(matches: list[MatchingChallenge], gifts: list[GiftForMatch], now: datetime) -> list[MatchStatus]:
    """Unlocked amount and state of every match, gifts taken in the order they arrived."""
    unlocked, _ = count(matches, gifts)
    return _statuses(_chains(matches), unlocked, now)


def _statuses(chains: list[list[MatchingChallenge]], unlocked: dict[int, int], now: datetime) -> list[MatchStatus]:
    """Each match's state at `now`, given what it has unlocked."""
    statuses = []
    for chain in chains:
        previous_open = False
        for match in chain:
            full = unlocked[match.id] >= match.cap_cents
            if full:
                state = "full"
            elif match.ends_at and now > match.ends_at:
                state = "ended"
            elif match.starts_at and now < match.starts_at:
                state = "upcoming"
            elif previous_open:
                state = "next"
            else:
                state = "running"
            previous_open = previous_open or state in ("running", "upcoming")
            statuses.append(MatchStatus(
                id=match.id, sponsor=match.sponsor, description=match.description,
                ratio_percent=match.ratio_percent, cap_cents=match.cap_cents, unlocked_cents=unlocked[match.id],
                starts_at=match.starts_at, ends_at=match.ends_at, state=state,
                counts_offline=match.counts_offline, counts_events=match.counts_events, follows_id=match.follows_id,
            ))
    return statuses


def standing_gifts(session: Session, campaign_id: int) -> list[GiftForMatch]:
    """Each gift's amount still standing in this campaign (refunds and voids taken off)."""
    rows = session.execute(
        select(Gift.received_at, Gift.channel, func.sum(LedgerEntry.amount_cents), Gift.id)
        .join(LedgerEntry, LedgerEntry.gift_id == Gift.id)
        .where(LedgerEntry.campaign_id == campaign_id)
        .group_by(Gift.id, Gift.received_at, Gift.channel)
        .having(func.sum(LedgerEntry.amount_cents) > 0)
    ).all()
    return [GiftForMatch(received_at=r[0], channel=r[1], net_cents=int(r[2]), gift_id=r[3]) for r in rows]


def _campaign_matches(session: Session, campaign_id: int, *, current: bool = False) -> list[MatchingChallenge]:
    """The campaign's matches; `current` reads their stored amounts again even when this session
    loaded them before (the ledger adds to them under the totals lock, after other workers' commits)."""
    query = select(MatchingChallenge).where(MatchingChallenge.campaign_id == campaign_id).order_by(MatchingChallenge.id)
    if current:
        query = query.execution_options(populate_existing=True)
    return list(session.scalars(query))


def campaign_matches(session: Session, campaign: Campaign, now: datetime | None = None) -> list[MatchStatus]:
    """The campaign's matches with what gifts have unlocked so far, as stored (one query)."""
    matches = _campaign_matches(session, campaign.id)
    if not matches:
        return []
    return _statuses(_chains(matches), {m.id: m.unlocked_cents for m in matches}, now or utcnow())


def count(matches: list[MatchingChallenge], gifts: list[GiftForMatch]) -> tuple[dict[int, int], datetime | None]:
    """What matches unlock from these gifts taken in the order they arrived (match id -> cents),
    and the latest arrival counted."""
    gifts = sorted(gifts, key=_arrival)
    unlocked = {m.id: 0 for m in matches}
    chains = _chains(matches)
    for gift in gifts:
        allocate(chains, unlocked, gift)
    return unlocked, gifts[-1].received_at if gifts else None


def counted_from_scratch(session: Session, matches: list[MatchingChallenge]) -> tuple[dict[int, int], datetime | None]:
    """What one campaign's matches have unlocked, and the latest arrival counted, from its ledger."""
    return count(matches, standing_gifts(session, matches[0].campaign_id))


def recount(session: Session, campaign_id: int) -> None:
    """Count a campaign's standing gifts again and store what each match has unlocked.

    The caller holds the campaign's totals lock (every money change takes it), so no gift of the
    campaign is recorded meanwhile. The matches are read afresh: `_store` writes only what differs
    from what the session holds, and amounts this session read before another worker's gift would
    hide a change."""
    matches = _campaign_matches(session, campaign_id, current=True)
    if not matches:
        return
    unlocked, through = counted_from_scratch(session, matches)
    _store(matches, unlocked, through)


def count_new_gifts(session: Session, campaign_id: int, gifts: list[GiftForMatch]) -> None:
    """New gifts of a campaign (nothing of them there before): when they all arrived after every
    gift counted so far, add their own steps to what is stored; otherwise count again from the ledger.

    Called by the ledger, under the campaign's totals lock, once the gifts' entries are flushed."""
    matches = _campaign_matches(session, campaign_id, current=True)
    gifts = sorted((g for g in gifts if g.net_cents > 0), key=_arrival)
    if not matches or not gifts:
        return
    if any(m.counted_through is not None and m.counted_through >= gifts[0].received_at for m in matches):
        # Backdated: the gift takes its place before later ones, which may now unlock less.
        unlocked, through = counted_from_scratch(session, matches)
    else:
        unlocked, chains = {m.id: m.unlocked_cents for m in matches}, _chains(matches)
        for gift in gifts:
            allocate(chains, unlocked, gift)
        through = gifts[-1].received_at
    _store(matches, unlocked, through)


def _store(matches: list[MatchingChallenge], unlocked: dict[int, int], through: datetime | None) -> None:
    for m in matches:
        if m.unlocked_cents != unlocked[m.id]:
            m.unlocked_cents = unlocked[m.id]
        if m.counted_through != through:
            m.counted_through = through


@dataclass(frozen=True)
class StaleMatch:
    """A stored figure of a match that differs from a computation from scratch."""

    campaign_id: int
    match_id: int
    field: str
    stored: object
    computed: object


def stale_matches(session: Session) -> list[StaleMatch]:
    """Every match whose stored unlocked amount (or last counted arrival) differs from its ledger,
    and every campaign whose `has_matches` flag is wrong (slow, for checks only)."""
    by_campaign: dict[int, list[MatchingChallenge]] = {}
    for m in session.scalars(select(MatchingChallenge).order_by(MatchingChallenge.id)):
        by_campaign.setdefault(m.campaign_id, []).append(m)
    found = []
    for campaign_id, matches in sorted(by_campaign.items()):
        unlocked, through = counted_from_scratch(session, matches)
        for m in matches:
            if m.unlocked_cents != unlocked[m.id]:
                found.append(StaleMatch(campaign_id, m.id, "unlocked_cents", m.unlocked_cents, unlocked[m.id]))
            if m.counted_through != through:
                found.append(StaleMatch(campaign_id, m.id, "counted_through", m.counted_through, through))
    for campaign_id, flag in session.execute(select(CampaignTotals.campaign_id, CampaignTotals.has_matches)):
        if bool(flag) != (campaign_id in by_campaign):
            found.append(StaleMatch(campaign_id, 0, "has_matches", bool(flag), campaign_id in by_campaign))
    return found


def recount_all(session: Session) -> None:
    """Set every campaign's `has_matches` flag and count every match again from the ledger."""
    with_matches = set(session.scalars(select(MatchingChallenge.campaign_id).distinct()))
    for totals in session.scalars(select(CampaignTotals).with_for_update()):
        totals.has_matches = totals.campaign_id in with_matches
    for campaign_id in sorted(with_matches):
        recount(session, campaign_id)
    session.flush()


def matched_total(statuses: list[MatchStatus]) -> int:
    return sum(s.unlocked_cents for s in statuses)


@dataclass(frozen=True)
class MatchTerms:
    """A match as staff typed it, validated; `save_match` stores it."""

    sponsor: str
    description: str
    ratio_percent: int
    cap_cents: int
    starts_at: datetime | None
    ends_at: datetime | None
    counts_offline: bool
    counts_events: bool
    follows_id: int | None


def parse_ratio(raw: str) -> int:
    """"1:1" -> 100, "2" or "2:1" -> 200, "0.5:1" -> 50 (sponsor dollars per donor dollar, in percent)."""
    text = (raw or "").strip().replace(" ", "")
    text = text.removesuffix(":1")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("Give the ratio as sponsor dollars per donor dollar, like 1:1 or 2:1.") from None
    percent = value * 100
    if percent != percent.to_integral_value() or not RATIO_MIN_PERCENT <= percent <= RATIO_MAX_PERCENT:
        raise ValueError("The ratio must be between 0.1:1 and 10:1, with at most two decimals.")
    return int(percent)


def _local_day(raw: str | None, label: str, errors: dict[str, str], name: str) -> date | None:
    # Imported here: campaign_admin imports the ledger, which imports this module.
    from .campaign_admin import parse_day

    try:
        return parse_day(raw, label)
    except ValueError as exc:
        errors[name] = str(exc)
        return None


def parse_terms(form, campaign: Campaign, tz: tzinfo, *, editing: MatchingChallenge | None = None
                ) -> MatchTerms | dict[str, str]:
    """Validate the match form (dates are whole days in the organisation's time zone); return the
    terms, or per-field messages a person can act on."""
    errors: dict[str, str] = {}
    sponsor = (form.get("sponsor") or "").strip()
    if not sponsor:
        errors["sponsor"] = "Who is matching? e.g. “A board member” or “Keystone RV”."
    elif len(sponsor) > 200:
        errors["sponsor"] = "Keep the sponsor's name under 200 characters."
    description = (form.get("description") or "").strip()
    if len(description) > 500:
        errors["description"] = "Keep the description under 500 characters."
    ratio = 100
    try:
        ratio = parse_ratio(form.get("ratio") or "1:1")
    except ValueError as exc:
        errors["ratio"] = str(exc)
    cap = 0
    try:
        cap = parse_amount(form.get("cap"), campaign.currency)
    except MoneyError as exc:
        errors["cap"] = str(exc)
    starts = _local_day(form.get("starts_on"), "The start", errors, "starts_on")
    ends = _local_day(form.get("ends_on"), "The end", errors, "ends_on")
    if starts and ends and ends < starts:
        errors["ends_on"] = "The match must end on or after the day it starts."
    follows_id = None
    if form.get("follows"):
        follows_id = int(form["follows"]) if str(form["follows"]).isdigit() else -1
        allowed = {m.id for m in campaign.matches if editing is None or (m.id != editing.id and m.follows_id != editing.id)}
        if follows_id not in allowed:
            errors["follows"] = "Choose one of this campaign's other matches, or none."
    if errors:
        return errors
    return MatchTerms(
        sponsor=sponsor, description=description, ratio_percent=ratio, cap_cents=cap,
        starts_at=datetime.combine(starts, time(0), tzinfo=tz) if starts else None,
        ends_at=datetime.combine(ends + timedelta(days=1), time(0), tzinfo=tz) - timedelta(seconds=1) if ends else None,
        counts_offline=form.get("counts_offline") in ("on", "yes", "1"),
        counts_events=form.get("counts_events") in ("on", "yes", "1"), follows_id=follows_id,
    )


def form_values(match: MatchingChallenge, tz: tzinfo) -> dict[str, str]:
    """A stored match as the form shows it."""
    return {
        "sponsor": match.sponsor, "description": match.description,
        "ratio": ratio_label(match.ratio_percent),
        "cap": str(from_cents(match.cap_cents, match.campaign.currency)), "follows": str(match.follows_id or ""),
        "starts_on": match.starts_at.astimezone(tz).date().isoformat() if match.starts_at else "",
        "ends_on": match.ends_at.astimezone(tz).date().isoformat() if match.ends_at else "",
        "counts_offline": "on" if match.counts_offline else "", "counts_events": "on" if match.counts_events else "",
    }


def save_match(session: Session, actor, campaign: Campaign, terms: MatchTerms,
               match: MatchingChallenge | None = None) -> MatchingChallenge:
    """Create a match (or change one), with its audit row, and count what the campaign's gifts
    unlock under the new terms; flushes, the caller commits."""
    fields = tuple(vars(terms))
    before = audit.snapshot(match, fields) if match else None
    match = match or MatchingChallenge(campaign_id=campaign.id)
    for name, value in vars(terms).items():
        setattr(match, name, value)
    session.add(match)
    session.flush()
    matches_changed(session, campaign.id)
    audit.record(session, actor, "match.update" if before else "match.create", "campaign", campaign.id,
                 before=before, after={"match_id": match.id, **audit.snapshot(match, fields)})
    return match


def matches_changed(session: Session, campaign_id: int) -> None:
    """A campaign's matches were added or their terms changed (flushed): flag the campaign as having
    matches and count its gifts again, under the totals lock every money change takes."""
    totals = session.scalar(
        select(CampaignTotals).where(CampaignTotals.campaign_id == campaign_id).with_for_update()
    )
    if totals is None:
        totals = CampaignTotals.empty(campaign_id)
        session.add(totals)
    totals.has_matches = True
    recount(session, campaign_id)
    session.flush()
