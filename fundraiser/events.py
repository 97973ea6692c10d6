"""Community events: the event itself, its host (an organisation donor), and the proceeds credited to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit, ledger
from .audit import Actor
from .campaign_admin import SLUG_RE, slugify
from .donations import FormErrors
from .gifts import OfflineGift, find_donors, parse_date
from .models import (
    Campaign,
    CommunityEvent,
    CreditKind,
    Donor,
    DonorKind,
    Gift,
    GiftCredit,
    LedgerEntry,
)
from .money import MoneyError, format_money, parse_amount
from .text import form_problems

EVENT_FIELDS = ("name", "slug", "host_name", "host_donor_id", "event_date", "place", "campaign_id", "description")


@dataclass
class EventInput:
    name: str
    slug: str
    host_name: str
    host_donor_id: int | None
    event_date: date
    place: str
    campaign_id: int
    description: str


def parse_event(
    session: Session, form: Mapping[str, str], campaigns: Sequence[Campaign], existing: CommunityEvent | None, today: date
) -> EventInput | FormErrors:
    """Validate the event form; the host is an existing donor or a new organisation named here."""
    errors = FormErrors()
    for name, message in form_problems(form).items():
        errors.add(name, message)
    name = (form.get("name") or "").strip()
    if not name:
        errors.add("name", "Please name the event, e.g. Holiday Cookie Walk.")
    slug = (form.get("slug") or "").strip().lower() or slugify(name)
    if name and not SLUG_RE.match(slug):
        errors.add("slug", "Use lower-case letters, digits and hyphens only.")
    elif slug:
        clash = session.scalar(select(CommunityEvent.id).where(CommunityEvent.slug == slug))
        if clash is not None and (existing is None or clash != existing.id):
            errors.add("slug", "Another event already uses this short name; change it a little.")
    host_name = (form.get("host_name") or "").strip()
    host_donor_id = None
    raw_host = (form.get("host_donor_id") or "").strip()
    host_query = (form.get("host_donor_query") or "").strip()
    host = None
    if raw_host:
        host = session.get(Donor, int(raw_host)) if raw_host.isdigit() else None
        if host is None:
            errors.add("host_donor_query", "That donor no longer exists; please search again.")
    elif host_query:
        # Typed without picking from the list (or without JavaScript): only an exact match will do.
        matches = find_donors(session, host_query, exact=True, limit=2)
        if len(matches) == 1:
            host = matches[0]
        else:
            errors.add(
                "host_donor_query",
                f"{'More than one donor' if matches else 'No donor'} matches “{host_query[:40]}”; pick one from "
                "the list, or leave this empty to add the host as a new organisation donor.",
            )
    if host is not None:
        host_donor_id = host.id
        host_name = host_name or host.name
    if not host_name:
        errors.add("host_name", "Please say who hosted the event (e.g. a company's team).")
    campaign_ids = {str(c.id): c.id for c in campaigns}
    campaign_id = campaign_ids.get((form.get("campaign_id") or "").strip())
    if campaign_id is None:
        errors.add("campaign_id", "Please choose the campaign the proceeds go to.")
    event_date = today
    raw_date = (form.get("event_date") or "").strip()
    try:
        event_date = date.fromisoformat(raw_date)
    except ValueError:
        errors.add("event_date", "Please enter the event's date, like 2026-12-05.")
    if errors.errors:
        return errors
    return EventInput(
        name=name[:200], slug=slug, host_name=host_name[:200], host_donor_id=host_donor_id, event_date=event_date,
        place=(form.get("place") or "").strip()[:200], campaign_id=campaign_id,
        description=(form.get("description") or "").strip(),
    )


@dataclass(frozen=True)
class ProceedsMove:
    """One proceeds entry that follows its event to another campaign, with what is left of it."""

    gift: Gift
    net_cents: int


def proceeds_to_move(session: Session, event: CommunityEvent, campaign_id: int) -> list[ProceedsMove]:
    """The event's proceeds with money credited to a campaign other than `campaign_id`: what a
    change of the event's campaign moves (void or refunded entries hold nothing to move)."""
    moves = []
    for gift in session.scalars(select(Gift).where(Gift.event_id == event.id).order_by(Gift.received_at, Gift.id)):
        net = ledger.gift_net(session, gift)
        if net > 0 and ledger.current_campaign_id(session, gift) != campaign_id:
            moves.append(ProceedsMove(gift, net))
    return moves


def save_event(session: Session, actor: Actor, event: CommunityEvent | None, data: EventInput) -> CommunityEvent:
    """Create or update an event; a host not yet a donor becomes an organisation donor to credit.

    A new campaign for an event takes its proceeds with it (a pair of move entries each, as any
    gift moved between campaigns), so no money stays behind in the campaign it left."""
    before = audit.snapshot(event, EVENT_FIELDS) if event else None
    if event is not None and data.campaign_id != event.campaign_id:
        campaign = session.get(Campaign, data.campaign_id)
        for move in proceeds_to_move(session, event, data.campaign_id):
            was = ledger.current_campaign_id(session, move.gift)
            ledger.assign_campaign(
                session, move.gift, campaign, by_user_id=actor.user_id,
                reason=f"The event “{event.name}” now raises money for {campaign.title}",
            )
            audit.record(
                session, actor, "gift.assign", "gift", move.gift.id,
                before={"campaign_id": was}, after={"campaign_id": campaign.id, "event_id": event.id},
            )
    host_id = data.host_donor_id
    if host_id is None:
        host = Donor(name=data.host_name, kind=DonorKind.ORGANISATION)
        session.add(host)
        session.flush()
        audit.record(session, actor, "donor.create", "donor", host.id, after={"name": host.name, "kind": "organisation"})
        host_id = host.id
    if event is None:
        event = CommunityEvent()
        session.add(event)
    event.name, event.slug, event.host_name = data.name, data.slug, data.host_name
    event.host_donor_id, event.event_date, event.place = host_id, data.event_date, data.place
    event.campaign_id, event.description = data.campaign_id, data.description
    session.flush()
    audit.record(
        session, actor, "event.update" if before else "event.create", "event", event.id,
        before=before, after=audit.snapshot(event, EVENT_FIELDS),
    )
    return event


def parse_proceeds(
    session: Session, form: Mapping[str, str], event: CommunityEvent, today: date
) -> OfflineGift | FormErrors:
    """One entry of an event's proceeds, credited to the host, with optional "Name, amount" lines behind it."""
    from .gifts import OFFLINE_METHODS

    errors = FormErrors()
    for name, message in form_problems(form).items():
        errors.add(name, message)
    campaign = event.campaign
    amount = 0
    try:
        amount = parse_amount(form.get("amount"), campaign.currency)
    except MoneyError as exc:
        errors.add("amount", str(exc))
    method_raw = (form.get("method") or "").strip()
    method = next((m for m in OFFLINE_METHODS if m.value == method_raw), None)
    if method is None:
        errors.add("method", "Please choose how the proceeds came in.")
    day = today
    try:
        day = parse_date(form.get("received_on"), today)
    except ValueError as exc:
        errors.add("received_on", str(exc))
    goods = None
    if (form.get("goods_value") or "").strip():
        try:
            goods = parse_amount(form.get("goods_value"), campaign.currency)
        except MoneyError as exc:
            errors.add("goods_value", str(exc))
        else:
            if amount and goods > amount:
                errors.add("goods_value", "What buyers received can't be worth more than the proceeds.")
    credits: list[tuple[str, int | None]] = []
    for number, line in enumerate((form.get("itemised") or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, _, raw = line.rpartition(",") if "," in line else (line, "", "")
        name = name.strip() or raw.strip()
        cents = None
        if raw.strip() and name != raw.strip():
            try:
                cents = parse_amount(raw, campaign.currency)
            except MoneyError as exc:
                errors.add("itemised", f"Line {number}: {exc}")
                break
        credits.append((name[:200], cents))
    itemised_total = sum(c for _, c in credits if c)
    if amount and itemised_total > amount:
        errors.add(
            "itemised",
            f"The itemised amounts add up to {format_money(itemised_total, campaign.currency)}, "
            f"more than this entry's {format_money(amount, campaign.currency)}.",
        )
    if errors.errors:
        return errors
    return OfflineGift(
        campaign=campaign, amount_cents=amount, received_on=day, method=method, donor_id=event.host_donor_id,
        reference=(form.get("reference") or "").strip()[:200] or None, description=f"Proceeds: {event.name}",
        goods_value_cents=goods, private_note=(form.get("note") or "").strip() or None, credits=credits,
        proceeds_are_hosts_gift=form.get("hosts_own_gift") in ("yes", "on"),
        is_anonymous=form.get("show_publicly") not in ("yes", "on", "1"),
    )


def event_total(session: Session, event: CommunityEvent) -> int:
    """What an event has raised: its proceeds after any corrections, voids and refunds."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
            .join(Gift, Gift.id == LedgerEntry.gift_id)
            .where(Gift.event_id == event.id, LedgerEntry.campaign_id.is_not(None))
        )
    )


def proceeds(session: Session, event: CommunityEvent) -> list[tuple[Gift, list[GiftCredit]]]:
    """The event's proceeds entries, oldest first, each with the people itemised behind it."""
    gifts = list(session.scalars(select(Gift).where(Gift.event_id == event.id).order_by(Gift.received_at, Gift.id)))
    credits: dict[int, list[GiftCredit]] = {}
    if gifts:
        for credit in session.scalars(
            select(GiftCredit).where(GiftCredit.gift_id.in_([g.id for g in gifts]), GiftCredit.kind == CreditKind.EVENT_GUEST)
            .order_by(GiftCredit.id)
        ):
            credits.setdefault(credit.gift_id, []).append(credit)
    return [(g, credits.get(g.id, [])) for g in gifts]


def all_events(session: Session) -> list[CommunityEvent]:
    return list(session.scalars(select(CommunityEvent).order_by(CommunityEvent.event_date.desc())))
