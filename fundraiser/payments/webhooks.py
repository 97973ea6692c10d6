"""Stripe webhooks: verify -> store the event once -> answer -> apply it to the ledger.

Stripe delivers at least once and in no particular order, and wants its answer fast. So a delivery
is only verified and stored (one INSERT that ignores a repeat, committed with whatever else the
process is storing at that moment: inbox.py) before the 2xx; a database error there means 5xx
and Stripe retries. Stored events are then applied one at a time, oldest first,
by `process_pending` (right after each delivery, in the background, and from cron): every gift,
refund and dispute has a unique source key; an adjustment that arrives before its payment waits
and is replayed when the payment lands; an event that fails to apply is retried with back-off,
never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import DataError, SQLAlchemyError
from sqlalchemy.orm import Session

from .. import ledger, mail, receipts, text
from ..db import new_session, utcnow
from ..donors import (
    DonorBook,
    check_email,
    find_or_create_donor,
    normalise_email,
    record_newsletter_consent,
    record_newsletter_consents,
)
from ..models import (
    AttemptStatus,
    Campaign,
    DedicationKind,
    DonationAttempt,
    DonationFrequency,
    Gift,
    GiftChannel,
    GiftMethod,
    PlanStatus,
    RecurringPlan,
    StripeEvent,
)
from ..recurring import (
    SCHEDULES,
    apply_subscription_status,
    mark_payment_failed,
    plan_for_subscription,
    plan_interval,
)
from ..settings import current_settings
from .inbox import Inbox, inbox
from .stripe import (
    SignatureError,
    invoice_payment_from_event,
    keys_livemode,
    method_detail,
    verify_event,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
BANK_METHODS = {"us_bank_account", "ach_debit", "ach_credit_transfer", "sepa_debit", "bacs_debit", "acss_debit"}


class WaitFor(Exception):
    """The event adjusts a payment we have not seen yet; it waits for `key` (a pi_ or ch_ id)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass
class Outcome:
    """What processing an event did, for the log and for what happens after the commit.

    `linked`: gifts that just learned their Stripe payment (an instalment's PaymentIntent), so
    refunds and disputes waiting for that payment are replayed and its fee looked up."""

    text: str
    new_gifts: list[Gift] = field(default_factory=list)
    linked: list[Gift] = field(default_factory=list)


MAX_ATTEMPTS_BACKOFF = timedelta(hours=1)
# A long backlog is applied in rounds of this many events; receipts go out after each round.
FOLLOW_UP_EVERY = 200
# Due events applied in one transaction; fewer while deliveries flood in (SQLite: the applier
# holds the write lock the deliveries wait for).
BATCH_SIZE = 100
FLOODED_BATCH_SIZE = 10
# Serialises event processing across processes on PostgreSQL (SQLite: BEGIN IMMEDIATE does it).
PROCESSING_LOCK = 0x5712_1BE


def verified(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """Check one delivery's signature and shape; returns the row to store (inbox.ROW_COLUMNS), its
    payload the JSON text exactly as Stripe signed it. Touches no database, so the write lock
    (SQLite) is held only for the INSERT itself."""
    event = verify_event(payload, signature, secret)
    event_id = event.get("id")
    if not isinstance(event_id, str) or not isinstance(event.get("type"), str) or len(event_id) > 255:
        raise SignatureError("signed body is not a Stripe event")
    obj = event["data"].get("object")
    object_id = obj.get("id") if isinstance(obj, dict) else None
    now = utcnow()
    return {
        "id": event_id, "type": event["type"][:100],
        "object_id": object_id if isinstance(object_id, str) else None,
        "stripe_created_at": datetime.fromtimestamp(_int(event.get("created")), UTC),
        "livemode": bool(event.get("livemode")), "payload": payload.decode("utf-8"), "outcome": "",
        "received_at": now, "attempts": 0, "next_attempt_at": now,
        "api_version": _text(event.get("api_version"), 40), "account": _text(event.get("account"), 255),
    }


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _int(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class ProcessReport:
    processed: int
    postponed: int
    new_gift_ids: tuple[int, ...]
    # Gifts that learned their Stripe payment this round (their fees can now be looked up).
    linked_gift_ids: tuple[int, ...] = ()


def process_pending(*, limit: int = 1000, yield_to: Inbox | None = None) -> ProcessReport:
    """Apply stored events that are due, oldest first, up to BATCH_SIZE in one transaction.

    Only one processor works at a time (PostgreSQL advisory lock, SQLite's write lock), so a
    refund and its payment are never applied concurrently. Within a batch events are applied in
    order, and new one-time gifts of distinct payments in a row are recorded together. If a batch
    fails, its events are applied again one transaction each: an event that raises is postponed
    with back-off and the rest go on; a database error stops the round (the next one retries).
    Given this process's inbox (`yield_to`), while deliveries flood in each batch first waits
    for the flood to pass: answering Stripe comes first (on SQLite every applied gift holds the
    one write lock the deliveries need). A wait lasts at most inbox.FLOOD_PAUSE_SECONDS, so the ledger keeps
    moving during a flood, in batches of FLOODED_BATCH_SIZE.
    """
    report = ProcessReport(0, 0, ())
    while report.processed + report.postponed < limit:
        quiet = yield_to.give_way() if yield_to is not None else True
        size = min(BATCH_SIZE if quiet else FLOODED_BATCH_SIZE, limit - report.processed - report.postponed)
        batch = _apply_batch(size) if size > 1 else None
        if batch is None:
            batch = _apply_one_by_one(size)
        report = ProcessReport(report.processed + batch.processed, report.postponed + batch.postponed,
                               report.new_gift_ids + batch.new_gift_ids, report.linked_gift_ids + batch.linked_gift_ids)
        if batch.processed + batch.postponed < size:
            break  # nothing more is due, or a database error stopped the round
    return report


def _due_events(session: Session, size: int) -> list[StripeEvent]:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(PROCESSING_LOCK)))
    return list(session.scalars(
        select(StripeEvent)
        .where(StripeEvent.processed_at.is_(None), StripeEvent.next_attempt_at <= utcnow())
        .order_by(StripeEvent.stripe_created_at, StripeEvent.received_at, StripeEvent.id)
        .limit(size)
    ))


def _apply_batch(size: int) -> ProcessReport | None:
    """Apply up to `size` due events in one transaction; None if any of them failed (nothing kept)."""
    session = new_session(write=True)
    try:
        rows = _due_events(session, size)
        gifts: list[Gift] = []
        linked: list[Gift] = []
        together: list[tuple[StripeEvent, dict[str, Any]]] = []

        def record_together() -> None:
            if not together:
                return
            new = _record_gifts_together(session, together)
            gifts.extend(new)
            gifts.extend(_replay_for(session, new))
            together.clear()

        for row in rows:
            gift = _batchable_gift(session, row)
            if gift is not None and all(gift["source_key"] != g["source_key"] for _, g in together):
                together.append((row, gift))
                continue
            record_together()
            if gift is not None:
                together.append((row, gift))
                continue
            outcome = _apply(session, row)
            gifts.extend(outcome.new_gifts)
            linked.extend(outcome.linked)
            gifts.extend(_replay_for(session, [*outcome.new_gifts, *outcome.linked]))
        record_together()
        now = utcnow()
        for row in rows:
            row.processed_at = now
            row.last_error = None
        session.commit()
        return ProcessReport(len(rows), 0, tuple(g.id for g in gifts), tuple(g.id for g in linked))
    except Exception:
        session.rollback()
        log.warning("Applying %d Stripe events together failed; applying them one by one", size, exc_info=True)
        return None
    finally:
        session.close()


def _apply_one_by_one(size: int) -> ProcessReport:
    """Apply up to `size` due events, one transaction each (a batch that failed, or one event)."""
    processed = postponed = 0
    gift_ids: list[int] = []
    linked_ids: list[int] = []
    while processed + postponed < size:
        session = new_session(write=True)
        row_id = None
        try:
            rows = _due_events(session, 1)
            if not rows:
                session.rollback()
                break
            row = rows[0]
            row_id = row.id
            outcome = _apply(session, row)
            gifts = list(outcome.new_gifts)
            for gift in [*outcome.new_gifts, *outcome.linked]:
                gifts.extend(_replay_waiting(session, gift))
            row.processed_at = utcnow()
            row.last_error = None
            session.commit()
            processed += 1
            gift_ids.extend(g.id for g in gifts)
            linked_ids.extend(g.id for g in outcome.linked)
        except DataError as exc:
            # A value of this event's own the database can't hold (an amount past BIGINT): like a
            # payload our handlers can't take, it waits for a person and the next events go on.
            session.rollback()
            log.exception("Stripe event %s holds a value the database refuses; postponed", row_id)
            _postpone(row_id, f"{exc.__class__.__name__}: {exc.orig}")
            postponed += 1
        except SQLAlchemyError:
            session.rollback()
            log.exception("Database error while applying Stripe event %s; will retry", row_id)
            if row_id is not None:
                _postpone(row_id, "database error")
            break
        except Exception as exc:  # a payload our handlers cannot take: keep it, retry later, go on
            session.rollback()
            log.exception("Could not apply Stripe event %s; postponed", row_id)
            _postpone(row_id, f"{exc.__class__.__name__}: {exc}")
            postponed += 1
        finally:
            session.close()
    return ProcessReport(processed, postponed, tuple(gift_ids), tuple(linked_ids))


def apply_and_follow_up(*, catch_up: bool = False) -> ProcessReport:
    """Apply everything that is due, then ask Stripe what the events did not say (which invoice a
    payment paid, how it was paid: linking.py), look up the new gifts' fees, and send receipts and
    notices, in rounds of FOLLOW_UP_EVERY gifts. The ledger comes first: after a flood every gift
    reaches the totals and the bars before the first round of Stripe look-ups (each a network
    call per payment) holds anything up. `catch_up` (cron) also retries what earlier rounds could
    not learn from Stripe."""
    from .linking import follow_up

    processed = postponed = 0
    new_ids: list[int] = []
    linked_ids: list[int] = []
    while True:
        report = process_pending(limit=FOLLOW_UP_EVERY, yield_to=inbox())
        processed, postponed = processed + report.processed, postponed + report.postponed
        new_ids.extend(report.new_gift_ids)
        linked_ids.extend(report.linked_gift_ids)
        # Done when a round came back short, or applied nothing (an event that cannot even be
        # postponed would otherwise come round again and again).
        if report.processed + report.postponed < FOLLOW_UP_EVERY or not report.processed:
            break
    gift_ids = [*new_ids, *linked_ids]
    for start in range(0, max(len(gift_ids), 1), FOLLOW_UP_EVERY):
        touched = follow_up(gift_ids[start:start + FOLLOW_UP_EVERY], catch_up=catch_up and start == 0)
        if processed or touched:
            mail.send_soon()
    payouts.fetch_due_lines()  # paid payouts' lines, and retries of ones Stripe could not list
    return ProcessReport(processed, postponed, tuple(new_ids))


def _postpone(event_id: str, error: str) -> None:
    session = new_session(write=True)
    try:
        row = session.get(StripeEvent, event_id)
        if row is not None and row.processed_at is None:
            row.attempts += 1
            row.last_error = error[:500]
            row.next_attempt_at = utcnow() + min(timedelta(seconds=30 * 2 ** min(row.attempts, 12)), MAX_ATTEMPTS_BACKOFF)
            session.commit()
    except SQLAlchemyError:
        session.rollback()
        log.warning("Could not postpone Stripe event %s either; it stays due", event_id)
    finally:
        session.close()


def stuck_events(session: Session, *, attempts: int = 3) -> list[StripeEvent]:
    """Events that failed to apply several times: someone should look (doctor reports them)."""
    return list(session.scalars(
        select(StripeEvent).where(StripeEvent.processed_at.is_(None), StripeEvent.attempts >= attempts)
        .order_by(StripeEvent.received_at)
    ))


def long_waiting_events(session: Session, *, older_than: timedelta = timedelta(days=1)) -> list[StripeEvent]:
    """Events (refunds, disputes, payments nobody could place) still waiting, a day on, for a
    payment we never recorded."""
    return list(session.scalars(
        select(StripeEvent).where(StripeEvent.waiting_for.is_not(None), StripeEvent.received_at < utcnow() - older_than)
        .order_by(StripeEvent.received_at)
    ))


def other_version_events(session: Session, version: str) -> list[tuple[str, int]]:
    """API versions other than ours that events arrived in, with how many (doctor reports them)."""
    return [(v, int(n)) for v, n in session.execute(
        select(StripeEvent.api_version, func.count()).where(StripeEvent.api_version != version)
        .group_by(StripeEvent.api_version).order_by(StripeEvent.api_version)
    ).all()]


def not_applied_events(session: Session) -> list[StripeEvent]:
    """Events stored but deliberately never applied (wrong mode, another account)."""
    return list(session.scalars(
        select(StripeEvent).where(StripeEvent.not_applied_reason.is_not(None)).order_by(StripeEvent.received_at)
    ))


def _not_ours(session: Session, row: StripeEvent) -> str | None:
    """Why an event must not touch the ledger: a live payment seen by a test setup (or the
    reverse), or an event of another Stripe account than the one this app has been hearing from."""
    keys_live = keys_livemode(current_settings().stripe_secret_key)
    if keys_live is not None and row.livemode != keys_live:
        return "live-mode event, but the keys are test keys" if row.livemode else "test-mode event, but the keys are live keys"
    home = _home_account(session)
    if home is not None and home[0] != row.account:
        return f"from Stripe account {row.account or '(our own)'}, not {home[0] or 'our own account'}"
    return None


def _home_account(session: Session) -> tuple[str | None] | None:
    """The account of the first event applied (None inside: the keys' own account); cached per
    process, as it never changes once set."""
    cache: dict[str, tuple[str | None]] = current_app.extensions.setdefault("fundraiser.stripe_account", {})
    if "home" not in cache:
        first = session.execute(
            select(StripeEvent.account)
            .where(StripeEvent.processed_at.is_not(None), StripeEvent.not_applied_reason.is_(None))
            .order_by(StripeEvent.stripe_created_at, StripeEvent.received_at, StripeEvent.id).limit(1)
        ).first()
        if first is None:
            return None
        cache["home"] = (first[0],)
    return cache["home"]


def _apply(session: Session, row: StripeEvent) -> Outcome:
    reason = _not_ours(session, row)
    if reason is not None:
        row.not_applied_reason = reason[:200]
        row.outcome = f"not applied: {reason}"[:200]
        return Outcome(row.outcome)
    handler = HANDLERS.get(row.type)
    if handler is None:
        row.outcome = "ignored: not an event we act on"
        return Outcome(row.outcome)
    obj = row.payload["data"]["object"]
    try:
        outcome = handler(session, obj, row)
    except WaitFor as wait:
        row.waiting_for = wait.key
        outcome = Outcome(f"waiting for payment {wait.key}")
    row.outcome = outcome.text[:200]
    session.flush()
    return outcome


def _waiting_keys(gift: Gift) -> list[str]:
    """What events waiting for this gift's payment wait for: its PaymentIntent, Charge or invoice."""
    invoice = gift.source_key.removeprefix("stripe:") if gift.source_key and gift.source_key.startswith("stripe:in_") else None
    return [k for k in (gift.stripe_payment_intent_id, gift.stripe_charge_id, invoice) if k]


def _replay_for(session: Session, gifts: list[Gift]) -> list[Gift]:
    """`_replay_waiting` for several gifts, with one look for waiting events when (mostly) none wait."""
    keys = [key for gift in gifts for key in _waiting_keys(gift)]
    if not keys:
        return []
    # The events' outcomes set so far are written with their processed_at, not flushed for this look.
    with session.no_autoflush:
        if session.scalar(select(StripeEvent.id).where(StripeEvent.waiting_for.in_(keys)).limit(1)) is None:
            return []
    return [replayed for gift in gifts for replayed in _replay_waiting(session, gift)]


def _replay_waiting(session: Session, gift: Gift) -> list[Gift]:
    """Apply refunds and disputes that arrived before this payment, oldest first (and an
    instalment's invoice payment that arrived before its invoice)."""
    keys = _waiting_keys(gift)
    if not keys:
        return []
    waiting = session.scalars(
        select(StripeEvent).where(StripeEvent.waiting_for.in_(keys)).order_by(StripeEvent.stripe_created_at)
    ).all()
    created: list[Gift] = []
    for row in waiting:
        row.waiting_for = None
        created.extend(_apply(session, row).new_gifts)
    return created


# ------------------------------------------------------------------------------ payments


def _metadata(obj: dict) -> dict[str, str]:
    return _clean_metadata(obj.get("metadata"))


def _valid_email(email: str | None) -> str | None:
    """An address from metadata fit for a To: header, or None (the notice is then not sent)."""
    try:
        return check_email(email) if email else None
    except ValueError:
        log.warning("Ignoring an invalid notification address in Stripe metadata")
        return None


def _clean_metadata(metadata) -> dict[str, str]:
    """Metadata as text without control characters: it carries what donors typed (names, a
    dedication, a comment) and anyone with a key may set it, so nothing of it reaches a mail
    header or the database unchecked."""
    if not isinstance(metadata, dict):
        return {}
    return {
        str(key): text.clean(str(value), multiline=key == "comment")
        for key, value in metadata.items() if value is not None
    }


def _campaign(session: Session, metadata: dict[str, str], currency: str) -> Campaign | None:
    """The campaign named in metadata, if it exists and takes this currency; else unattributed."""
    raw = metadata.get("campaign_id")
    if not raw or not str(raw).isdigit():
        return None
    campaign = session.get(Campaign, int(raw))
    if campaign is None or campaign.currency != currency.upper():
        return None
    return campaign


def _id(value: Any) -> str | None:
    """Stripe sends related objects as ids or, when expanded, as objects."""
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def _method(types: list[str] | None, charge: Any = None) -> GiftMethod:
    kind = None
    if isinstance(charge, dict):
        kind = (charge.get("payment_method_details") or {}).get("type")
    kind = kind or (types[0] if types and len(types) == 1 else None)
    return GiftMethod.BANK if kind in BANK_METHODS else GiftMethod.CARD


def _record_online_gift(
    session: Session, *, source_key: str, amount_cents: int, currency: str, metadata: dict[str, str],
    email: str | None, name: str | None, received_at: datetime, method: GiftMethod,
    payment_intent_id: str | None, charge_id: str | None, plan: RecurringPlan | None = None,
    detail: str | None = None,
) -> Outcome:
    existing = session.scalar(select(Gift).where(Gift.source_key == source_key))
    if existing is not None:
        _fill_stripe_ids(existing, payment_intent_id, charge_id)
        _fill_detail(session, existing, detail)
        return Outcome(f"already recorded as gift {existing.id}")
    if amount_cents <= 0:
        return Outcome("nothing paid")
    campaign = _campaign(session, metadata, currency)
    if campaign is None and plan is not None and plan.campaign_id is not None:
        campaign = session.get(Campaign, plan.campaign_id)
    donor = find_or_create_donor(session, email=metadata.get("donor_email") or email,
                                 name=metadata.get("donor_name") or name)
    if metadata.get("keep_informed") == "yes":
        record_newsletter_consent(donor, received_at)
    kind = metadata.get("dedication_kind")
    gift = ledger.record_gift(
        session,
        campaign=campaign,
        amount_cents=amount_cents,
        currency=currency,
        received_at=received_at,
        channel=GiftChannel.ONLINE,
        method=method,
        donor_id=donor.id if donor else None,
        recurring_plan_id=plan.id if plan else None,
        reference=payment_intent_id or charge_id,
        source_key=source_key,
        # Sensitive cause: a name or amount is public only when the donor said yes.
        is_anonymous=metadata.get("show_name") != "yes",
        show_amount=metadata.get("show_amount") == "yes",
        dedication_kind=DedicationKind(kind) if kind in ("honour", "memory") else None,
        dedication_name=metadata.get("dedication_name") if kind in ("honour", "memory") else None,
        dedication_notify_email=_valid_email(metadata.get("dedication_notify_email")),
        public_comment=metadata.get("comment"),
    )
    _fill_stripe_ids(gift, payment_intent_id, charge_id)
    _fill_detail(session, gift, detail)
    attempt_id = metadata.get("donation_attempt")
    if attempt_id:
        attempt = session.scalar(select(DonationAttempt).where(DonationAttempt.public_id == attempt_id))
        if attempt is not None:
            # Checkout learns these ids only now; the thank-you page finds the gift through them.
            attempt.status = AttemptStatus.COMPLETED
            attempt.stripe_payment_intent_id = attempt.stripe_payment_intent_id or (None if plan else payment_intent_id)
            if plan is not None and not attempt.stripe_subscription_id:
                attempt.stripe_subscription_id = plan.stripe_subscription_id
    receipts.queue_for_gift(session, gift)
    where = f"campaign {campaign.slug}" if campaign else "no campaign (unattributed, for staff to assign)"
    return Outcome(f"recorded gift {gift.id} to {where}", [gift])


def _batchable_gift(session: Session, row: StripeEvent) -> dict[str, Any] | None:
    """A new one-time gift this event records (`_record_online_gift`'s arguments) that can be
    recorded together with others of a backlog; None for every other event, which is applied alone."""
    obj = row.payload["data"]["object"]
    if row.type == "payment_intent.succeeded" and _is_ours(_metadata(obj)):
        gift = _intent_gift(obj, row)
    elif (row.type == "checkout.session.async_payment_succeeded"
          or (row.type == "checkout.session.completed" and obj.get("payment_status") == "paid")) and obj.get("mode") == "payment":
        gift = _checkout_gift(obj, row)
    else:
        return None
    if gift is None or gift["amount_cents"] <= 0 or _not_ours(session, row) is not None:
        return None
    return gift


def _record_gifts_together(session: Session, batch: list[tuple[StripeEvent, dict[str, Any]]]) -> list[Gift]:
    """Record the new one-time gifts of several events (distinct payments) at once, as
    `_record_online_gift` would one by one: donors found or created together, one insert of gifts,
    ledger entries and receipts each (ledger.record_gift_batch), outcomes on the events. A payment
    recorded before, or without a campaign, goes through `_apply` on its own."""
    recorded = set(session.scalars(select(Gift.source_key).where(Gift.source_key.in_([g["source_key"] for _, g in batch]))))
    together: list[tuple[StripeEvent, dict[str, Any], Campaign]] = []
    alone: list[StripeEvent] = []
    for row, gift in batch:
        campaign = _campaign(session, gift["metadata"], gift["currency"])
        # Without an email each payment gets a donor of its own (find_or_create_donor), not one per name.
        emailed = normalise_email(gift["metadata"].get("donor_email") or gift["email"]) is not None
        if gift["source_key"] in recorded or campaign is None or not emailed:
            alone.append(row)
        else:
            together.append((row, gift, campaign))
    created = [gift for row in alone for gift in _apply(session, row).new_gifts]
    if not together:
        return created
    book = DonorBook(session, rename=True)
    donors = [(g["metadata"].get("donor_email") or g["email"], g["metadata"].get("donor_name") or g["name"]) for _, g, _ in together]
    book.resolve([(email, name, {}) for email, name in donors])
    new_gifts = []
    consents: dict[int, datetime] = {}
    for (_, g, campaign), (email, name) in zip(together, donors, strict=True):
        metadata, kind = g["metadata"], g["metadata"].get("dedication_kind")
        dedicated = kind in ("honour", "memory")
        donor_id = book.donor_id(email, name)
        if metadata.get("keep_informed") == "yes":
            consents[donor_id] = min(consents.get(donor_id, g["received_at"]), g["received_at"])
        new_gifts.append(ledger.NewGift(
            campaign=campaign, amount_cents=g["amount_cents"], currency=g["currency"], received_at=g["received_at"],
            channel=GiftChannel.ONLINE, method=g["method"], source_key=g["source_key"], donor_id=donor_id,
            reference=g["payment_intent_id"] or g["charge_id"],
            # Sensitive cause: a name or amount is public only when the donor said yes.
            is_anonymous=metadata.get("show_name") != "yes", show_amount=metadata.get("show_amount") == "yes",
            public_comment=metadata.get("comment"), dedication_kind=DedicationKind(kind) if dedicated else None,
            dedication_name=metadata.get("dedication_name") if dedicated else None,
            dedication_notify_email=_valid_email(metadata.get("dedication_notify_email")),
            stripe_payment_intent_id=g["payment_intent_id"], stripe_charge_id=g["charge_id"],
            payment_method_detail=g.get("detail"), wall_reviewed=False,
        ))
    record_newsletter_consents(session, consents)
    ids = ledger.record_gift_batch(session, new_gifts)
    gifts = {gift.id: gift for gift in session.scalars(select(Gift).where(Gift.id.in_(list(ids.values()))))}
    attempt_ids = {g["metadata"]["donation_attempt"]: g for _, g, _ in together if g["metadata"].get("donation_attempt")}
    if attempt_ids:
        for attempt in session.scalars(select(DonationAttempt).where(DonationAttempt.public_id.in_(list(attempt_ids)))):
            # Checkout learns the PaymentIntent only now; the thank-you page finds the gift through it.
            attempt.status = AttemptStatus.COMPLETED
            attempt.stripe_payment_intent_id = attempt.stripe_payment_intent_id or attempt_ids[attempt.public_id]["payment_intent_id"]
    new = [gifts[ids[g["source_key"]]] for _, g, _ in together if g["source_key"] in ids]
    receipts.queue_first_receipts(session, new)
    for row, g, campaign in together:
        gift_id = ids.get(g["source_key"])
        # Not written: the same payment raced in from another worker a moment ago.
        row.outcome = f"recorded gift {gift_id} to campaign {campaign.slug}" if gift_id else "already recorded"
    return [*created, *new]


def _fill_stripe_ids(gift: Gift, payment_intent_id: str | None, charge_id: str | None) -> None:
    if payment_intent_id and not gift.stripe_payment_intent_id:
        gift.stripe_payment_intent_id = payment_intent_id
    if charge_id and not gift.stripe_charge_id:
        gift.stripe_charge_id = charge_id


def _fill_detail(session: Session, gift: Gift, detail: str | None) -> None:
    """How the gift was paid, once known (receipts and the staff page name it: "Apple Pay"); a bank
    debit recorded as card, because the PaymentIntent offered both, becomes a bank transfer."""
    if detail and gift.payment_method_detail is None:
        gift.payment_method_detail = detail
        if gift.method == GiftMethod.CARD and detail.split(":")[0] in BANK_METHODS:
            ledger.learn_online_method(session, gift, GiftMethod.BANK)
        receipts.refresh_pending_receipt(gift)


def _charge_detail(charge: Any) -> str | None:
    return method_detail(charge.get("payment_method_details")) if isinstance(charge, dict) else None


def _created(obj: dict, row: StripeEvent) -> datetime:
    return datetime.fromtimestamp(int(obj["created"]), UTC) if obj.get("created") else row.stripe_created_at


def _is_ours(metadata: dict[str, str]) -> bool:
    """A payment this app started (its attempt id) or that names a campaign (a payment link, a
    dashboard payment tagged by staff). Instalments carry neither: Stripe does not copy the
    subscription's metadata onto an invoice's PaymentIntent."""
    return bool(metadata.get("donation_attempt") or metadata.get("campaign_id"))


def _amount_received(intent: dict) -> int:
    """`amount_received`; API versions before 2019 (and localstripe) omit it, where a succeeded intent got `amount`."""
    if "amount_received" in intent:
        return int(intent["amount_received"] or 0)
    return int(intent.get("amount") or 0) if intent.get("status") == "succeeded" else 0


def on_payment_intent_succeeded(session: Session, intent: dict, row: StripeEvent, *, standalone: bool = False) -> Outcome:
    """A one-time gift, when the PaymentIntent is ours. One that is not may be an instalment
    (since basil it does not name its invoice): it waits until an invoice's gift claims it, or
    until Stripe says it paid no invoice (`standalone`, linking.py) and it goes to the
    unattributed queue."""
    charge = intent.get("latest_charge")
    metadata = _metadata(intent)
    if not _is_ours(metadata) and not standalone:
        claimed = session.scalar(select(Gift).where(Gift.stripe_payment_intent_id == intent["id"]).limit(1))
        if claimed is not None:
            _fill_stripe_ids(claimed, None, _id(charge))
            _fill_detail(session, claimed, _charge_detail(charge))
            return Outcome(f"instalment of gift {claimed.id}: recorded from its invoice", linked=[claimed])
        raise WaitFor(intent["id"])
    return _record_online_gift(session, **_intent_gift(intent, row))


def _intent_gift(intent: dict, row: StripeEvent) -> dict[str, Any]:
    """What a succeeded one-time PaymentIntent records (`_record_online_gift`'s arguments)."""
    charge = intent.get("latest_charge")
    billing = (charge.get("billing_details") or {}) if isinstance(charge, dict) else {}
    return dict(
        source_key=f"stripe:{intent['id']}", amount_cents=_amount_received(intent),
        currency=intent["currency"], metadata=_metadata(intent),
        email=intent.get("receipt_email") or billing.get("email"), name=billing.get("name"),
        received_at=_created(intent, row), method=_method(intent.get("payment_method_types"), charge),
        payment_intent_id=intent["id"], charge_id=_id(charge), detail=_charge_detail(charge),
    )


def _attempt(session: Session, metadata: dict[str, str]) -> DonationAttempt | None:
    attempt_id = metadata.get("donation_attempt")
    return session.scalar(select(DonationAttempt).where(DonationAttempt.public_id == attempt_id)) if attempt_id else None


def _mark_failed(attempt: DonationAttempt | None, code: str, at: datetime) -> bool:
    """The thank-you page stops "confirming" and says nothing was charged; a recorded gift stays."""
    if attempt is None or attempt.status == AttemptStatus.COMPLETED:
        return False
    attempt.status = AttemptStatus.FAILED
    attempt.failure_code = code[:100]
    attempt.failed_at = at
    return True


def _note_decline(attempt: DonationAttempt | None, code: str, at: datetime) -> bool:
    """A card (or wallet, or the bank's check) declined while the donor is still paying: Stripe lets
    them try again on the same payment (in Checkout and on the page), so the attempt stays open and
    its thank-you page keeps confirming; the decline is kept (card-testing back-off counts it)."""
    if attempt is None or attempt.status in (AttemptStatus.COMPLETED, AttemptStatus.FAILED):
        return False
    attempt.failure_code = code[:100]
    attempt.failed_at = at
    return True


def on_payment_intent_failed(session: Session, intent: dict, row: StripeEvent) -> Outcome:
    error = intent.get("last_payment_error") or {}
    code = error.get("decline_code") or error.get("code") or error.get("type") or "payment_failed"
    method_type = error.get("payment_method_type") or (error.get("payment_method") or {}).get("type") or "card"
    if method_type not in BANK_METHODS and intent.get("status") == "requires_payment_method":
        if _note_decline(_attempt(session, _metadata(intent)), str(code), row.stripe_created_at):
            return Outcome(f"declined ({code}): the donor may try again on the same payment")
        return Outcome(f"declined ({code}): no open donation attempt")
    # A bank debit that failed days later, or a payment that can't be retried: final.
    if _mark_failed(_attempt(session, _metadata(intent)), str(code), row.stripe_created_at):
        return Outcome(f"payment failed ({code}): donation attempt marked failed")
    return Outcome(f"payment failed ({code}): no open donation attempt")


def on_checkout_expired(session: Session, checkout: dict, row: StripeEvent) -> Outcome:
    if _mark_failed(_attempt(session, _metadata(checkout)), "checkout_expired", row.stripe_created_at):
        return Outcome("checkout expired unpaid: donation attempt marked failed")
    return Outcome("checkout expired: no open donation attempt")


def _checkout_paid(session: Session, checkout: dict, row: StripeEvent) -> Outcome:
    if checkout.get("mode") != "payment":
        return Outcome("subscription checkout: instalments are recorded from invoices")
    gift = _checkout_gift(checkout, row)
    if gift is None:
        return Outcome("checkout without a payment")
    return _record_online_gift(session, **gift)


def _checkout_gift(checkout: dict, row: StripeEvent) -> dict[str, Any] | None:
    """What a paid one-time checkout records (`_record_online_gift`'s arguments), or None without a payment."""
    intent_id = _id(checkout.get("payment_intent"))
    if not intent_id:
        return None
    details = checkout.get("customer_details") or {}
    return dict(
        source_key=f"stripe:{intent_id}", amount_cents=int(checkout.get("amount_total") or 0),
        currency=checkout["currency"], metadata=_metadata(checkout),
        email=details.get("email") or checkout.get("customer_email"), name=details.get("name"),
        received_at=_created(checkout, row), method=_method(checkout.get("payment_method_types")),
        payment_intent_id=intent_id, charge_id=None,
    )


def on_checkout_completed(session: Session, checkout: dict, row: StripeEvent) -> Outcome:
    if checkout.get("mode") == "subscription":
        subscription_id = _id(checkout.get("subscription"))
        if not subscription_id:
            return Outcome("subscription checkout without a subscription")
        metadata = _metadata(checkout)
        details = checkout.get("customer_details") or {}
        currency = checkout.get("currency") or "usd"
        campaign = _campaign(session, metadata, currency)
        plan = plan_for_subscription(
            session, subscription_id=subscription_id, customer_id=_id(checkout.get("customer")),
            campaign_id=campaign.id if campaign else None, amount_cents=int(checkout.get("amount_total") or 0) or 1,
            currency=currency, donor_email=details.get("email") or checkout.get("customer_email"),
            donor_name=metadata.get("donor_name") or details.get("name"),
            interval=_frequency_interval(metadata),
        )
        return Outcome(f"recurring plan {plan.id} started")
    if checkout.get("payment_status") != "paid":
        return Outcome("bank debit pending: recorded when it succeeds")
    return _checkout_paid(session, checkout, row)


def on_checkout_async_succeeded(session: Session, checkout: dict, row: StripeEvent) -> Outcome:
    return _checkout_paid(session, checkout, row)


def on_checkout_async_failed(session: Session, checkout: dict, row: StripeEvent) -> Outcome:
    _mark_failed(_attempt(session, _metadata(checkout)), "bank_debit_failed", row.stripe_created_at)
    return Outcome("bank debit failed: nothing recorded")


def _invoice_subscription(invoice: dict) -> tuple[str | None, dict[str, str]]:
    """Subscription id and its metadata: since basil they live under `parent.subscription_details`."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription = _id(details.get("subscription"))
    return subscription, _clean_metadata(details.get("metadata"))


def _invoice_payment_intent(invoice: dict) -> str | None:
    """The PaymentIntent, when the invoice came with its `payments` expanded (webhooks: never)."""
    for payment in (invoice.get("payments") or {}).get("data") or []:
        intent = _id((payment.get("payment") or {}).get("payment_intent"))
        if intent and payment.get("status") == "paid":
            return intent
    return None


def _frequency_interval(metadata: dict) -> str:
    """The plan interval our own metadata names (every subscription we start carries `frequency`)."""
    try:
        return SCHEDULES[DonationFrequency(metadata.get("frequency") or "monthly")][2]
    except (ValueError, KeyError):
        return "month"


def _invoice_interval(invoice: dict, metadata: dict) -> str:
    """An instalment's schedule: the invoice line's price says it; our metadata when it is absent."""
    for line in (invoice.get("lines") or {}).get("data") or []:
        recurring = (line.get("price") or {}).get("recurring")
        if recurring:
            return plan_interval(recurring)
    return _frequency_interval(metadata)


def on_invoice_paid(session: Session, invoice: dict, row: StripeEvent) -> Outcome:
    """Every paid instalment is one gift, recorded once per invoice (Stripe sends two event types).
    The invoice does not name its payment: `invoice_payment.paid` (or linking.py) links it."""
    subscription_id, metadata = _invoice_subscription(invoice)
    amount = int(invoice.get("amount_paid") or 0)
    if amount <= 0:
        return Outcome("nothing paid on this invoice")
    plan = None
    if subscription_id:
        campaign = _campaign(session, metadata, invoice["currency"])
        plan = plan_for_subscription(
            session, subscription_id=subscription_id, customer_id=_id(invoice.get("customer")),
            campaign_id=campaign.id if campaign else None, amount_cents=amount, currency=invoice["currency"],
            donor_email=invoice.get("customer_email"), donor_name=metadata.get("donor_name") or invoice.get("customer_name"),
            interval=_invoice_interval(invoice, metadata),
        )
        if plan.status == PlanStatus.INCOMPLETE or (
            plan.status == PlanStatus.PAST_DUE
            and (plan.stripe_updated_at is None or row.stripe_created_at >= plan.stripe_updated_at)
        ):
            plan.status = PlanStatus.ACTIVE
        if plan.started_at is None:
            plan.started_at = _created(invoice, row)
    return _record_online_gift(
        session, source_key=f"stripe:{invoice['id']}", amount_cents=amount, currency=invoice["currency"],
        metadata=metadata, email=invoice.get("customer_email"), name=invoice.get("customer_name"),
        received_at=_paid_at(invoice, row), method=GiftMethod.CARD,
        payment_intent_id=_invoice_payment_intent(invoice), charge_id=None, plan=plan,
    )


def on_invoice_payment_paid(session: Session, obj: dict, row: StripeEvent) -> Outcome:
    """An InvoicePayment names the invoice and the PaymentIntent (or charge) that paid it: the
    instalment's gift learns its payment, so refunds, disputes and the fee can find it."""
    payment = invoice_payment_from_event(obj)
    if payment.status != "paid" or payment.amount_paid_cents <= 0 or not payment.invoice_id:
        return Outcome(f"invoice payment {payment.status or 'without status'}: nothing to link")
    gift = session.scalar(select(Gift).where(Gift.source_key == f"stripe:{payment.invoice_id}"))
    if gift is None:
        raise WaitFor(payment.invoice_id)
    return link_payment(session, gift, payment.payment_intent_id, payment.charge_id)


def link_payment(session: Session, gift: Gift, payment_intent_id: str | None, charge_id: str | None) -> Outcome:
    """Store an instalment's PaymentIntent and Charge on its gift (first link wins)."""
    before = (gift.stripe_payment_intent_id, gift.stripe_charge_id)
    _fill_stripe_ids(gift, payment_intent_id, charge_id)
    if (gift.stripe_payment_intent_id, gift.stripe_charge_id) == before:
        return Outcome(f"gift {gift.id} already linked to its payment")
    session.flush()
    return Outcome(f"gift {gift.id} linked to payment {payment_intent_id or charge_id}", linked=[gift])


def on_invoice_payment_failed(session: Session, invoice: dict, row: StripeEvent) -> Outcome:
    """A monthly instalment failed (or needs the donor to authenticate): the plan is past due and
    the donor gets an email with a fresh link to update their card."""
    subscription_id, _ = _invoice_subscription(invoice)
    plan = session.scalar(
        select(RecurringPlan).where(RecurringPlan.stripe_subscription_id == subscription_id)
    ) if subscription_id else None
    if plan is None:
        return Outcome("not a monthly gift we know: ignored")
    if invoice.get("billing_reason") == "subscription_create":
        # The donor is on the thank-you page (a bank debit can fail days later): it says so there.
        attempt = session.scalar(select(DonationAttempt).where(DonationAttempt.stripe_subscription_id == subscription_id))
        _mark_failed(attempt, "first_payment_failed", row.stripe_created_at)
        return Outcome("first payment of a new monthly gift failed: the donor sees it on the page")
    mark_payment_failed(session, plan, row.stripe_created_at)
    action = row.type == "invoice.payment_action_required"
    queued = receipts.queue_payment_failed(session, plan, invoice_id=invoice["id"], action_required=action,
                                           fallback_email=invoice.get("customer_email"),
                                           pay_url=invoice.get("hosted_invoice_url") if action else None)
    return Outcome(f"plan {plan.id} past due" + ("; donor emailed" if queued else "; donor already emailed or no email"))


def _paid_at(invoice: dict, row: StripeEvent) -> datetime:
    paid = (invoice.get("status_transitions") or {}).get("paid_at")
    return datetime.fromtimestamp(int(paid), UTC) if paid else _created(invoice, row)


def on_subscription_changed(session: Session, subscription: dict, row: StripeEvent) -> Outcome:
    plan = session.scalar(select(RecurringPlan).where(RecurringPlan.stripe_subscription_id == subscription["id"]))
    if plan is None:
        return Outcome("subscription we did not start: ignored")
    if apply_subscription_status(session, plan, subscription, row.stripe_created_at):
        return Outcome(f"plan {plan.id} is {plan.status} at {plan.amount_cents} a {plan.interval}")
    return Outcome("older than what we know: ignored")


# ---------------------------------------------------------------------- refunds, disputes


def _gift_for_charge(session: Session, payment_intent_id: str | None, charge_id: str | None) -> Gift:
    conditions = []
    if payment_intent_id:
        conditions.append(Gift.stripe_payment_intent_id == payment_intent_id)
    if charge_id:
        conditions.append(Gift.stripe_charge_id == charge_id)
    gift = session.scalar(select(Gift).where(or_(*conditions)).limit(1)) if conditions else None
    if gift is None:
        if payment_intent_id:
            gift = session.scalar(select(Gift).where(Gift.source_key == f"stripe:{payment_intent_id}"))
        if gift is None:
            raise WaitFor(payment_intent_id or charge_id or "unknown")
    _fill_stripe_ids(gift, payment_intent_id, charge_id)
    return gift


def on_charge_refunded(session: Session, charge: dict, row: StripeEvent) -> Outcome:
    """Stripe reports the running total refunded; the ledger gets the part it has not seen.

    A refund that failed after this snapshot was taken is still inside its total, so what the
    ledger has seen counts only the failures restored up to the snapshot's time: a late or
    repeated charge.refunded never takes a failed refund's money a second time.
    """
    gift = _gift_for_charge(session, _id(charge.get("payment_intent")), charge["id"])
    _fill_detail(session, gift, _charge_detail(charge))
    total = int(charge.get("amount_refunded") or 0)
    seen = ledger.stripe_refunded(session, gift, charge_id=charge["id"], as_of=row.stripe_created_at)
    amount = min(total - seen, ledger.gift_net(session, gift))
    if amount > 0:
        # Keyed by event: after a failed refund the same running total can legitimately come again.
        ledger.refund_gift(
            session, gift, amount, occurred_at=row.stripe_created_at, reference=charge["id"],
            reason="Refunded in Stripe", source_key=f"stripe:{row.id}:refunded:{total}",
        )
    _replay_refund_failures(session, charge["id"], row)
    if total <= seen:
        return Outcome("refund already applied")
    return Outcome(f"refunded {amount} of gift {gift.id}" if amount > 0 else "nothing left of the gift to refund")


def _replay_refund_failures(session: Session, charge_id: str, row: StripeEvent) -> None:
    """A refund's failure that came before this total: if it failed after the total was taken,
    the total still counts it, so it is restored now; if before, the total already leaves it out."""
    waiting = session.scalars(
        select(StripeEvent).where(StripeEvent.waiting_for == f"refund-of:{charge_id}").order_by(StripeEvent.stripe_created_at)
    ).all()
    for failure in waiting:
        failure.waiting_for = None
        if failure.stripe_created_at > row.stripe_created_at:
            _apply(session, failure)
        else:
            failure.outcome = "refund failed before Stripe's total was taken: nothing to restore"


def on_refund_changed(session: Session, refund: dict, row: StripeEvent) -> Outcome:
    """A refund that failed or was cancelled gives the money back to the gift (a REFUND_REVERSED
    entry pointing at the refund). Refunds themselves are recorded from charge.refunded."""
    status = refund.get("status")
    if status not in ("failed", "canceled"):
        return Outcome(f"refund {status}: applied from charge.refunded")
    gift = _gift_for_charge(session, _id(refund.get("payment_intent")), _id(refund.get("charge")))
    charge_id = _id(refund.get("charge")) or gift.stripe_charge_id
    why = refund.get("failure_reason") or status
    entry = ledger.reverse_refund(
        session, gift, int(refund.get("amount") or 0), charge_id=charge_id, occurred_at=row.stripe_created_at,
        reference=refund["id"], reason=f"Refund {status} in Stripe ({why})", source_key=f"stripe:{refund['id']}:reversed",
    )
    if entry is None:
        if charge_id:
            # charge.refunded (sent when the refund was made) has not been applied yet: wait for it.
            raise WaitFor(f"refund-of:{charge_id}")
        return Outcome(f"refund {refund['id']} {status}: it never reached the ledger, nothing to restore")
    return Outcome(f"refund {refund['id']} {status}: restored {entry.amount_cents} to gift {gift.id}")


HANDLERS: dict[str, Callable[[Session, dict, StripeEvent], Outcome]] = {
    "checkout.session.completed": on_checkout_completed,
    "checkout.session.async_payment_succeeded": on_checkout_async_succeeded,
    "checkout.session.async_payment_failed": on_checkout_async_failed,
    "checkout.session.expired": on_checkout_expired,
    "payment_intent.succeeded": on_payment_intent_succeeded,
    "payment_intent.payment_failed": on_payment_intent_failed,
    "charge.refunded": on_charge_refunded,
    "charge.refund.updated": on_refund_changed,
    "refund.updated": on_refund_changed,
    "refund.failed": on_refund_changed,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_succeeded": on_invoice_paid,
    "invoice_payment.paid": on_invoice_payment_paid,
    "invoice.payment_failed": on_invoice_payment_failed,
    "invoice.payment_action_required": on_invoice_payment_failed,
    "customer.subscription.updated": on_subscription_changed,
    "customer.subscription.deleted": on_subscription_changed,
}

# Disputes and payouts live in their own modules; their events are dispatched from here too.
from . import disputes, payouts

HANDLERS.update(disputes.HANDLERS)
HANDLERS.update(payouts.HANDLERS)
