"""Moderating the donor wall: what staff approve or hide of donors' public names and comments."""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from . import audit
from .audit import Actor
from .db import utcnow
from .models import Campaign, Gift, LedgerEntry

WALL_FIELDS = ("comment_hidden", "name_hidden", "dedication_hidden", "wall_reviewed")
# action: the flags it sets (every action also marks the gift reviewed)
ACTIONS: dict[str, dict[str, bool]] = {
    "approve": {},
    "hide_comment": {"comment_hidden": True},
    "show_comment": {"comment_hidden": False},
    "hide_name": {"name_hidden": True},
    "show_name": {"name_hidden": False},
    "hide_dedication": {"dedication_hidden": True},
    "show_dedication": {"dedication_hidden": False},
    # The bulk "hide": everything the gift would put on the wall.
    "hide": {"comment_hidden": True, "name_hidden": True, "dedication_hidden": True},
}
BULK_ACTIONS = ("approve", "hide")
QUEUE_SIZE = 100


def on_the_wall():
    """Gifts that put something on a campaign's wall: a comment, or a donor's name (and dedication)."""
    return or_(
        Gift.public_comment.is_not(None),
        and_(Gift.is_anonymous.is_(False), Gift.donor_id.is_not(None)),
    )


def standing():
    """Gifts something is left of: voided and fully refunded gifts leave the wall and its queue."""
    net = select(func.sum(LedgerEntry.amount_cents)).where(LedgerEntry.gift_id == Gift.id).scalar_subquery()
    return net > 0


def queue(session: Session, *, waiting_only: bool) -> list[Gift]:
    """The latest wall entries, newest first; only those not yet reviewed when `waiting_only`."""
    query = select(Gift).where(on_the_wall(), Gift.campaign_id.is_not(None), standing())
    if waiting_only:
        query = query.where(Gift.wall_reviewed.is_(False))
    return list(session.scalars(query.order_by(Gift.id.desc()).limit(QUEUE_SIZE)))


def moderate(session: Session, actor: Actor, gift: Gift, action: str) -> None:
    """Approve, hide or show a gift's comment or name on the wall at once, audit logged."""
    if action not in ACTIONS:
        raise ValueError("Unknown moderation action.")
    before = audit.snapshot(gift, WALL_FIELDS)
    for name, value in ACTIONS[action].items():
        setattr(gift, name, value)
    gift.wall_reviewed = True
    campaign = session.get(Campaign, gift.campaign_id) if gift.campaign_id is not None else None
    if campaign is not None:
        # The campaign's page changed: open pages redraw "Recent supporters" (live.py watches this).
        campaign.updated_at = utcnow()
    session.flush()
    audit.record(session, actor, f"wall.{action}", "gift", gift.id, before=before, after=audit.snapshot(gift, WALL_FIELDS))


def moderate_many(session: Session, actor: Actor, gift_ids: list[int], action: str) -> int:
    """The wall queue's bulk approve or hide: each ticked gift, audit logged one by one."""
    if action not in BULK_ACTIONS:
        raise ValueError("Please choose approve or hide.")
    if not gift_ids:
        raise ValueError("Please tick at least one entry first.")
    chosen = list(session.scalars(select(Gift).where(Gift.id.in_(gift_ids)).order_by(Gift.id)))
    for gift in chosen:
        moderate(session, actor, gift, action)
    return len(chosen)
