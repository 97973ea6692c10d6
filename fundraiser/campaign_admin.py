"""Creating and changing campaigns: validated fields, the status a campaign may move to, cover images."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from babel.numbers import get_currency_name
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit, images, ledger
from .audit import Actor
from .campaigns import CashAndInKind, cash_and_in_kind
from .donations import FormErrors
from .models import Campaign, CampaignStatus, Gift
from .money import (
    TESTED_CURRENCIES,
    MoneyError,
    check_campaign_currency,
    format_input,
    parse_amount,
)
from .text import form_problems

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CAMPAIGN_FIELDS = (
    "title", "slug", "summary", "story_md", "goal_cents", "stretch_goal_cents", "currency", "starts_at",
    "ends_at", "status", "suggested_amounts", "cover_image", "cover_alt", "counts_in_kind",
    "default_amount_cents", "impact_lines",
)
COVER_FIELDS = ("cover_image", "cover_alt", "cover_width", "cover_height")
IMPACT_LINE_MAX = 120
# action: (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[CampaignStatus], CampaignStatus]] = {
    "publish": (frozenset({CampaignStatus.DRAFT}), CampaignStatus.ACTIVE),
    "close": (frozenset({CampaignStatus.ACTIVE}), CampaignStatus.CLOSED),
    "reopen": (frozenset({CampaignStatus.CLOSED}), CampaignStatus.ACTIVE),
    "archive": (frozenset({CampaignStatus.DRAFT, CampaignStatus.CLOSED}), CampaignStatus.ARCHIVED),
    "restore": (frozenset({CampaignStatus.ARCHIVED}), CampaignStatus.CLOSED),
}


class CampaignError(ValueError):
    """A campaign change that isn't allowed; the message says why."""


@dataclass
class CampaignInput:
    title: str
    slug: str
    summary: str
    story_md: str
    goal_cents: int
    stretch_goal_cents: int | None
    currency: str
    starts_on: date | None
    ends_on: date | None
    suggested_amounts: list[int] = field(default_factory=list)
    counts_in_kind: bool = False
    default_amount_cents: int | None = None
    impact_lines: dict[str, str] = field(default_factory=dict)


def slugify(text: str) -> str:
    """A URL-friendly version of a title: "Giving Tuesday 2026!" -> "giving-tuesday-2026"."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def parse_day(raw: str | None, label: str) -> date | None:
    """A date typed (or picked) in a form; None when blank; ValueError with a message otherwise."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{label} isn't a date; use the date picker or type it like 2026-12-31.") from None


def _day(raw: str, label: str, errors: FormErrors, name: str) -> date | None:
    try:
        return parse_day(raw, label)
    except ValueError as exc:
        errors.add(name, str(exc))
        return None


def currency_options(existing: Campaign | None) -> list[tuple[str, str]]:
    """The currencies the campaign form offers: those we have tested, plus the campaign's own."""
    codes = list(TESTED_CURRENCIES)
    if existing is not None and existing.currency not in codes:
        codes.append(existing.currency)
    return [(code, f"{code} — {get_currency_name(code, locale='en')}") for code in codes]


def parse_campaign(session: Session, form: Mapping[str, str], existing: Campaign | None) -> CampaignInput | FormErrors:
    """Validate the campaign form; a campaign with gifts keeps its currency."""
    errors = FormErrors()
    for name, message in form_problems(form).items():
        errors.add(name, message)
    title = (form.get("title") or "").strip()
    if not title:
        errors.add("title", "Please give the campaign a title.")
    elif len(title) > 200:
        errors.add("title", "Please shorten the title to 200 characters.")
    slug = (form.get("slug") or "").strip().lower() or slugify(title)
    if not SLUG_RE.match(slug) or len(slug) > 80:
        errors.add("slug", "Use lower-case letters, digits and hyphens only, like giving-tuesday-2026.")
    else:
        clash = session.scalar(select(Campaign.id).where(Campaign.slug == slug))
        if clash is not None and (existing is None or clash != existing.id):
            errors.add("slug", f"Another campaign already has the address /campaigns/{slug}.")
    summary = (form.get("summary") or "").strip()
    if len(summary) > 500:
        errors.add("summary", f"Please shorten the summary to 500 characters (it has {len(summary)}).")
    currency = (form.get("currency") or "USD").strip().upper()
    try:
        currency = check_campaign_currency(currency, keep=existing.currency if existing is not None else None)
    except MoneyError as exc:
        errors.add("currency", str(exc))
        currency = existing.currency if existing is not None else "USD"
    if existing is not None and currency != existing.currency and _has_gifts(session, existing):
        errors.add("currency", f"This campaign already has gifts in {existing.currency}; its currency can't change.")
    goal = stretch = None
    try:
        goal = parse_amount(form.get("goal"), currency)
    except MoneyError as exc:
        errors.add("goal", f"Goal: {exc}")
    if (form.get("stretch_goal") or "").strip():
        try:
            stretch = parse_amount(form.get("stretch_goal"), currency)
        except MoneyError as exc:
            errors.add("stretch_goal", f"Stretch goal: {exc}")
        else:
            if goal and stretch <= goal:
                errors.add("stretch_goal", "The stretch goal must be more than the goal.")
    starts_on = _day(form.get("starts_on", ""), "The start date", errors, "starts_on")
    ends_on = _day(form.get("ends_on", ""), "The end date", errors, "ends_on")
    if starts_on and ends_on and ends_on < starts_on:
        errors.add("ends_on", "The campaign must end on or after the day it starts.")
    amounts: list[int] = []
    for part in re.split(r"[\s;|]+|,(?=\s)", (form.get("suggested_amounts") or "").strip()):
        if not part.strip(" ,"):
            continue
        try:
            amounts.append(parse_amount(part.strip(" ,"), currency))
        except MoneyError as exc:
            errors.add("suggested_amounts", f"Suggested amounts: {exc}")
            break
    if len(amounts) > 6:
        errors.add("suggested_amounts", "Please suggest at most 6 amounts.")
    default_amount = _default_amount(form.get("default_amount") or "", currency, amounts, errors)
    impact = _impact_lines(form.get("impact_lines") or "", currency, amounts, errors)
    if errors.errors:
        return errors
    return CampaignInput(
        title=title, slug=slug, summary=summary, story_md=(form.get("story_md") or "").strip(),
        goal_cents=goal, stretch_goal_cents=stretch, currency=currency, starts_on=starts_on, ends_on=ends_on,
        suggested_amounts=sorted(set(amounts)), counts_in_kind=form.get("counts_in_kind") in ("yes", "on"),
        default_amount_cents=default_amount, impact_lines=impact,
    )


def _default_amount(raw: str, currency: str, amounts: list[int], errors: FormErrors) -> int | None:
    """The amount the donate form starts with: empty, or one of the suggested amounts."""
    if not raw.strip():
        return None
    try:
        cents = parse_amount(raw, currency)
    except MoneyError as exc:
        errors.add("default_amount", f"Default amount: {exc}")
        return None
    if cents not in amounts:
        errors.add("default_amount", "The default amount must be one of the suggested amounts.")
    return cents


def _impact_lines(raw: str, currency: str, amounts: list[int], errors: FormErrors) -> dict[str, str]:
    """Lines like "50: buys a parent's training workbook", one per suggested amount."""
    lines: dict[str, str] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        amount_text, sep, words = line.partition(":")
        words = words.strip()
        if not sep or not words:
            errors.add("impact_lines", f"Line {number}: write the amount, a colon, then what it does, like “50: buys a workbook”.")
            break
        try:
            cents = parse_amount(amount_text, currency)
        except MoneyError as exc:
            errors.add("impact_lines", f"Line {number}: {exc}")
            break
        if cents not in amounts:
            errors.add("impact_lines", f"Line {number}: {amount_text.strip()} is not one of the suggested amounts.")
            break
        if len(words) > IMPACT_LINE_MAX:
            errors.add("impact_lines", f"Line {number}: please keep it to {IMPACT_LINE_MAX} characters.")
            break
        lines[str(cents)] = words
    return lines


def _has_gifts(session: Session, campaign: Campaign) -> bool:
    return bool(session.scalar(select(func.count()).select_from(Gift).where(Gift.campaign_id == campaign.id)))


def form_values(campaign: Campaign, tz) -> dict[str, str]:
    """A campaign's fields as the edit form shows them."""
    return {
        "title": campaign.title, "slug": campaign.slug, "summary": campaign.summary, "story_md": campaign.story_md,
        "goal": format_input(campaign.goal_cents, campaign.currency),
        "stretch_goal": format_input(campaign.stretch_goal_cents, campaign.currency) if campaign.stretch_goal_cents else "",
        "currency": campaign.currency,
        "starts_on": campaign.starts_at.astimezone(tz).date().isoformat() if campaign.starts_at else "",
        "ends_on": campaign.ends_at.astimezone(tz).date().isoformat() if campaign.ends_at else "",
        "suggested_amounts": ", ".join(format_input(a, campaign.currency) for a in campaign.suggested_amounts),
        "counts_in_kind": "yes" if campaign.counts_in_kind else "",
        "default_amount": format_input(campaign.default_amount_cents, campaign.currency) if campaign.default_amount_cents else "",
        "impact_lines": "\n".join(
            f"{format_input(int(cents), campaign.currency)}: {words}" for cents, words in (campaign.impact_lines or {}).items()
        ),
    }


def save_campaign(session: Session, actor: Actor, campaign: Campaign | None, data: CampaignInput, tz) -> Campaign:
    """Create a draft campaign or update one, with its before and after in the audit log."""
    before = audit.snapshot(campaign, CAMPAIGN_FIELDS) if campaign else None
    if campaign is None:
        campaign = Campaign(status=CampaignStatus.DRAFT)
        session.add(campaign)
    campaign.title = data.title
    campaign.slug = data.slug
    campaign.summary = data.summary
    campaign.story_md = data.story_md
    campaign.goal_cents = data.goal_cents
    campaign.stretch_goal_cents = data.stretch_goal_cents
    campaign.currency = data.currency
    # A start date opens at local midnight; an end date closes at the end of that local day.
    campaign.starts_at = datetime.combine(data.starts_on, time(0), tzinfo=tz) if data.starts_on else None
    campaign.ends_at = (
        datetime.combine(data.ends_on + timedelta(days=1), time(0), tzinfo=tz) - timedelta(seconds=1)
        if data.ends_on else None
    )
    campaign.suggested_amounts = data.suggested_amounts
    campaign.counts_in_kind = data.counts_in_kind
    campaign.default_amount_cents = data.default_amount_cents
    campaign.impact_lines = data.impact_lines or None
    session.flush()
    ledger.ensure_totals(session, campaign)
    action = "campaign.update" if before else "campaign.create"
    audit.record(session, actor, action, "campaign", campaign.id, before=before, after=audit.snapshot(campaign, CAMPAIGN_FIELDS))
    return campaign


def allowed_actions(campaign: Campaign) -> list[str]:
    """The status changes open to this campaign now, in the order the page offers them."""
    return [name for name, (sources, _) in TRANSITIONS.items() if campaign.status in sources]


def change_status(session: Session, actor: Actor, campaign: Campaign, action: str) -> None:
    """Publish (or schedule, with a future start), close, reopen, archive or restore a campaign."""
    if action not in TRANSITIONS:
        raise CampaignError("Unknown change.")
    sources, target = TRANSITIONS[action]
    if campaign.status not in sources:
        raise CampaignError(f"A {campaign.status} campaign can't be changed that way ({action}).")
    before = {"status": campaign.status.value}
    campaign.status = target
    session.flush()
    audit.record(session, actor, f"campaign.{action}", "campaign", campaign.id, before=before, after={"status": target.value})


def store_cover(session: Session, actor: Actor, campaign: Campaign, data: bytes, alt: str, folder: Path) -> str:
    """Check an uploaded cover and its alt text, keep its resized copies under the instance folder."""
    try:
        alt = images.check_alt(alt)
        stored = images.store_cover(folder, str(campaign.id), data)
    except images.ImageError as exc:
        raise CampaignError(str(exc)) from None
    before = audit.snapshot(campaign, COVER_FIELDS)
    campaign.cover_image, campaign.cover_width, campaign.cover_height = stored.name, stored.width, stored.height
    campaign.cover_alt = alt
    session.flush()
    audit.record(session, actor, "campaign.cover", "campaign", campaign.id, before=before,
                 after=audit.snapshot(campaign, COVER_FIELDS))
    return stored.name


def store_story_image(session: Session, actor: Actor, campaign: Campaign, data: bytes, folder: Path) -> str:
    """Check a picture for the campaign's story and keep it under the instance folder; returns its file name."""
    try:
        name, width, height = images.store_story_image(folder, data)
    except images.ImageError as exc:
        raise CampaignError(str(exc)) from None
    audit.record(session, actor, "campaign.story_image", "campaign", campaign.id,
                 after={"story_image": name, "width": width, "height": height})
    return name


def staff_list(session: Session) -> list[tuple[Campaign, CashAndInKind]]:
    """Every campaign with what it has raised (cash and in-kind apart), live ones first."""
    order = {CampaignStatus.ACTIVE: 0, CampaignStatus.DRAFT: 1, CampaignStatus.CLOSED: 2, CampaignStatus.ARCHIVED: 3}
    campaigns = list(session.scalars(select(Campaign)))
    campaigns.sort(key=lambda c: (order[c.status], c.title.lower()))
    return [(c, cash_and_in_kind(session, c)) for c in campaigns]


def all_campaigns(session: Session) -> list[Campaign]:
    """Every campaign, archived ones too (for filters over past gifts)."""
    return list(session.scalars(select(Campaign).order_by(Campaign.title)))
