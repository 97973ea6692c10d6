"""Gifts entered by people: a check or cash at the desk, a bank deposit of many checks, event
proceeds; and what staff do to gifts afterwards (correct, void, assign, re-send a receipt).

Parsing turns form fields into a validated `OfflineGift` or per-field messages. Recording goes
through `ledger.record_gift` with a `source_key` made from the form's one-time submission token,
so a double-click or a re-submitted page records nothing twice. Every change is audit logged.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from . import audit, donors, ledger
from .audit import Actor
from .donations import FormErrors
from .donors import check_email, normalise_email
from .models import (
    AuditLog,
    Campaign,
    CampaignStatus,
    DedicationKind,
    Donor,
    DonorKind,
    Gift,
    GiftChannel,
    GiftCredit,
    GiftMethod,
    IssuedReceipt,
    LedgerEntry,
)
from .money import MoneyError, format_input, format_money, parse_amount
from .text import form_problems

OFFLINE_METHODS = (
    GiftMethod.CHECK, GiftMethod.CASH, GiftMethod.STOCK, GiftMethod.IN_KIND, GiftMethod.DAF,
    GiftMethod.BANK, GiftMethod.OTHER,
)
METHOD_NAMES = {
    GiftMethod.CHECK: "Check", GiftMethod.CASH: "Cash", GiftMethod.STOCK: "Stock",
    GiftMethod.IN_KIND: "In-kind (goods or services)", GiftMethod.DAF: "Donor-advised fund grant",
    GiftMethod.BANK: "Bank transfer", GiftMethod.OTHER: "Other", GiftMethod.CARD: "Card",
}


def method_name(gift: Gift) -> str:
    """The method as the staff console names it; online gifts say what Stripe took ("Card · Apple Pay")."""
    from .receipts import method_label

    name = METHOD_NAMES[gift.method]
    label = method_label(gift) if gift.payment_method_detail else None
    return f"{name} · {label}" if label and label.lower() != name.lower() else name
GIFT_FIELDS = (
    "campaign_id", "donor_id", "event_id", "amount_cents", "currency", "received_at", "channel", "method",
    "reference", "is_anonymous", "dedication_kind", "dedication_name", "private_note", "description",
    "goods_value_cents", "proceeds_are_hosts_gift",
)
EARLIEST = date(2000, 1, 1)
TEXT_MAX = 200
NOTE_MAX = 2000


class AlreadySaved(Exception):
    """This form was submitted before (a double-click, a reload): its gifts are already recorded."""

    def __init__(self, gift_ids: list[int]) -> None:
        super().__init__("This form was already saved.")
        self.gift_ids = gift_ids


@dataclass
class NewDonor:
    name: str
    email: str | None
    kind: DonorKind
    # A postal address, when staff copy it from the check (for receipts and year-end statements).
    address: dict[str, str] = field(default_factory=dict)


ADDRESS_FIELDS = (("address_line1", 200), ("city", 100), ("region", 100), ("postal_code", 20))


@dataclass
class OfflineGift:
    """A validated gift as a person entered it, ready for the ledger."""

    campaign: Campaign
    amount_cents: int
    received_on: date
    method: GiftMethod
    donor_id: int | None = None
    new_donor: NewDonor | None = None
    reference: str | None = None
    # Private by default: a name entered by staff goes public only when the donor agreed.
    is_anonymous: bool = True
    dedication_kind: DedicationKind | None = None
    dedication_name: str | None = None
    description: str | None = None
    goods_value_cents: int | None = None
    private_note: str | None = None
    credits: list[tuple[str, int | None]] = field(default_factory=list)
    # Event proceeds only: the host gave this money itself (receipted), not passed on others'.
    proceeds_are_hosts_gift: bool = False


TOKEN_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
EXPIRED_FORM = "This form is missing its one-time token (an old or copied page). Nothing was saved; please check the details and save again."


def new_submission_token() -> str:
    """The hidden one-time token each gift form carries (see the module docstring)."""
    return uuid.uuid4().hex


def valid_token(token: str | None) -> bool:
    """A token we could have issued: without one, every submission would share the same key."""
    return bool(token) and TOKEN_RE.fullmatch(token) is not None


def open_campaigns(session: Session) -> list[Campaign]:
    """Campaigns a gift can be entered for: not archived (a closed one still takes late checks)."""
    return list(
        session.scalars(
            select(Campaign).where(Campaign.status != CampaignStatus.ARCHIVED).order_by(Campaign.title)
        )
    )


def parse_date(raw: str | None, today: date) -> date:
    """A received date typed as 2026-11-30 or 11/30/2026; not in the future, not before 2000."""
    raw = (raw or "").strip()
    if not raw:
        raise ValueError("Please enter the date the gift was received.")
    for fmt in ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y"):
        try:
            day = datetime.strptime(raw, fmt).date()
            break
        except ValueError:
            continue
    else:
        raise ValueError(f"“{raw[:20]}” isn't a date. Use the date picker or type it like 2026-11-30.")
    if day > today:
        raise ValueError("The date received can't be in the future.")
    if day < EARLIEST:
        raise ValueError("That date is before 2000; please check the year.")
    return day


def received_at(day: date, tz) -> datetime:
    """Noon of that day in the organisation's time zone, so the date reads the same everywhere."""
    return datetime.combine(day, time(12), tzinfo=tz)


def _text(form: Mapping[str, str], name: str, limit: int = TEXT_MAX) -> str | None:
    return (form.get(name) or "").strip()[:limit] or None


def parse_donor(session: Session, form: Mapping[str, str], errors: FormErrors, prefix: str = "") -> tuple[int | None, NewDonor | None]:
    """The chosen donor (by id, or an exact name/email match), a new donor to create, or none."""
    raw_id = (form.get(f"{prefix}donor_id") or "").strip()
    query = (form.get(f"{prefix}donor_query") or "").strip()
    new_name = (form.get(f"{prefix}new_donor_name") or "").strip()
    if raw_id:
        donor = session.get(Donor, int(raw_id)) if raw_id.isdigit() else None
        if donor is None or donor.merged_into_id is not None:
            errors.add(f"{prefix}donor_query", "That donor no longer exists; please search again.")
            return None, None
        return donor.id, None
    if new_name:
        kind_raw = (form.get(f"{prefix}new_donor_kind") or DonorKind.PERSON.value).strip()
        kind = DonorKind(kind_raw) if kind_raw in DonorKind._value2member_map_ else DonorKind.PERSON
        email = None
        raw_email = (form.get(f"{prefix}new_donor_email") or "").strip()
        if raw_email:
            try:
                email = check_email(raw_email)
            except ValueError:
                errors.add(f"{prefix}new_donor_email", "Please enter a valid email address, or leave it empty.")
                return None, None
            existing = session.scalar(select(Donor).where(Donor.email == email))
            if existing is not None:
                errors.add(
                    f"{prefix}new_donor_email",
                    f"{existing.name} already has this email; search for them instead of adding a new donor.",
                )
                return None, None
        address = {
            name: text for name, limit in ADDRESS_FIELDS if (text := (form.get(f"{prefix}new_donor_{name}") or "").strip()[:limit])
        }
        return None, NewDonor(name=new_name[:TEXT_MAX], email=email, kind=kind, address=address)
    if query:
        matches = find_donors(session, query, exact=True)
        if len(matches) == 1:
            return matches[0].id, None
        message = (
            f"More than one donor matches “{query[:40]}”; pick one from the list."
            if matches
            else f"No donor matches “{query[:40]}”; pick one from the list or add a new donor."
        )
        errors.add(f"{prefix}donor_query", message)
    return None, None


def parse_offline_gift(
    session: Session,
    form: Mapping[str, str],
    *,
    today: date,
    campaigns: Sequence[Campaign],
    prefix: str = "",
    defaults: Mapping[str, str] | None = None,
) -> OfflineGift | FormErrors:
    """Validate one gift's fields (optionally `prefix`ed, for batch rows); every problem gets a message."""
    errors = FormErrors()
    for name, message in form_problems(form, prefix).items():
        errors.add(name, message)
    defaults = defaults or {}

    def value(name: str) -> str:
        return (form.get(f"{prefix}{name}") or defaults.get(name) or "").strip()

    by_id = {str(c.id): c for c in campaigns}
    campaign = by_id.get(value("campaign_id"))
    if campaign is None:
        errors.add(f"{prefix}campaign_id", "Please choose the campaign this gift is for.")
    method_raw = value("method")
    method = GiftMethod(method_raw) if method_raw in {m.value for m in OFFLINE_METHODS} else None
    if method is None:
        errors.add(f"{prefix}method", "Please choose how the gift was given.")
    currency = campaign.currency if campaign else "USD"
    amount = 0
    try:
        amount = parse_amount(value("amount"), currency)
    except MoneyError as exc:
        errors.add(f"{prefix}amount", str(exc))
    day = today
    try:
        day = parse_date(value("received_on"), today)
    except ValueError as exc:
        errors.add(f"{prefix}received_on", str(exc))
    donor_id, new_donor = parse_donor(session, form, errors, prefix)
    description = _text(form, f"{prefix}description", 500)
    if method == GiftMethod.IN_KIND and not description:
        errors.add(f"{prefix}description", "Please describe the in-kind gift (what was given); it goes on the receipt.")
    if method == GiftMethod.STOCK and not description:
        errors.add(f"{prefix}description", "Please name the shares (e.g. 10 shares of ACME); it goes on the receipt.")
    goods = None
    if value("goods_value"):
        try:
            goods = parse_amount(value("goods_value"), currency)
        except MoneyError as exc:
            errors.add(f"{prefix}goods_value", str(exc))
        else:
            if amount and goods > amount:
                errors.add(f"{prefix}goods_value", "What the donor received can't be worth more than the gift.")
    dedication_kind = None
    dedication_name = _text(form, f"{prefix}dedication_name")
    kind_raw = value("dedication_kind")
    if kind_raw:
        if kind_raw not in DedicationKind._value2member_map_:
            errors.add(f"{prefix}dedication_kind", "Please choose in honour or in memory.")
        else:
            dedication_kind = DedicationKind(kind_raw)
            if not dedication_name:
                errors.add(f"{prefix}dedication_name", "Please enter who the gift honours or remembers.")
    elif dedication_name:
        errors.add(f"{prefix}dedication_kind", "Please choose in honour or in memory.")
    if errors.errors:
        return errors
    return OfflineGift(
        campaign=campaign, amount_cents=amount, received_on=day, method=method, donor_id=donor_id,
        new_donor=new_donor, reference=_text(form, f"{prefix}reference"),
        is_anonymous=form.get(f"{prefix}show_publicly") not in ("yes", "on", "1"),
        dedication_kind=dedication_kind, dedication_name=dedication_name, description=description,
        goods_value_cents=goods, private_note=_text(form, f"{prefix}note", NOTE_MAX),
    )


def _already_saved(session: Session, token: str) -> list[int]:
    if not valid_token(token):
        raise ValueError(EXPIRED_FORM)
    return list(
        session.scalars(
            select(Gift.id).where(or_(Gift.source_key == f"form:{token}", Gift.source_key.like(f"form:{token}:%")))
            .order_by(Gift.id)
        )
    )


def _create_donor(session: Session, actor: Actor, new: NewDonor) -> Donor:
    donor = Donor(name=new.name, email=normalise_email(new.email), kind=new.kind, **new.address)
    session.add(donor)
    session.flush()
    audit.record(
        session, actor, "donor.create", "donor", donor.id,
        after=audit.snapshot(donor, ("name", "email", "kind", *new.address)),
    )
    return donor


def record_entry(
    session: Session, actor: Actor, entry: OfflineGift, source_key: str, tz, *,
    channel: GiftChannel = GiftChannel.OFFLINE, event_id: int | None = None, send_receipt: bool = True,
    deposit_batch_id: int | None = None,
) -> Gift:
    """Record one validated gift under its idempotency key, creating its new donor, audit logged.

    The receipt goes into the outbox in the same transaction (when the donor has an email address).
    """
    from .receipts import queue_for_gift

    donor_id = entry.donor_id
    if entry.new_donor is not None:
        donor_id = _create_donor(session, actor, entry.new_donor).id
    gift = ledger.record_gift(
        session,
        campaign=entry.campaign,
        amount_cents=entry.amount_cents,
        currency=entry.campaign.currency,
        received_at=received_at(entry.received_on, tz),
        channel=channel,
        method=entry.method,
        donor_id=donor_id,
        event_id=event_id,
        reference=entry.reference,
        source_key=source_key,
        is_anonymous=entry.is_anonymous,
        dedication_kind=entry.dedication_kind,
        dedication_name=entry.dedication_name,
        private_note=entry.private_note,
        description=entry.description,
        goods_value_cents=entry.goods_value_cents,
        recorded_by_id=actor.user_id,
    )
    if session.scalar(select(AuditLog.id).where(AuditLog.object_type == "gift", AuditLog.object_id == str(gift.id))):
        # The same form, submitted twice at once, won the race in another request (which wrote its
        # audit row with the gift): this request must save nothing, not even its new donor.
        raise AlreadySaved([gift.id])
    gift.proceeds_are_hosts_gift = entry.proceeds_are_hosts_gift
    gift.deposit_batch_id = deposit_batch_id
    for name, cents in entry.credits:
        session.add(GiftCredit(gift_id=gift.id, name=name, amount_cents=cents))
    session.flush()
    after = audit.snapshot(gift, GIFT_FIELDS)
    if entry.credits:
        after["credits"] = [{"name": n, "amount_cents": c} for n, c in entry.credits]
    audit.record(session, actor, "gift.record", "gift", gift.id, after=after)
    if send_receipt:
        queue_for_gift(session, gift)
    return gift


def record_offline_gift(
    session: Session, actor: Actor, entry: OfflineGift, token: str, tz, *, event_id: int | None = None
) -> Gift:
    """Record one entered gift (and any new donor) once per form token; raises AlreadySaved on a repeat."""
    saved = _already_saved(session, token)
    if saved:
        raise AlreadySaved(saved)
    channel = GiftChannel.EVENT if event_id is not None else GiftChannel.OFFLINE
    return record_entry(session, actor, entry, f"form:{token}", tz, channel=channel, event_id=event_id)


@dataclass
class Batch:
    """A bank deposit as entered: its rows (validated or not) and the slip total to match."""

    rows: list[OfflineGift | FormErrors]
    slip_total_cents: int | None
    errors: FormErrors

    @property
    def entered_cents(self) -> int:
        return sum(r.amount_cents for r in self.rows if isinstance(r, OfflineGift))

    @property
    def ok(self) -> bool:
        return not self.errors.errors and all(isinstance(r, OfflineGift) for r in self.rows)

    @property
    def row_errors(self) -> dict[str, str]:
        """Every row's field errors, keyed by the row's field names, for the form to show."""
        errors: dict[str, str] = {}
        for row in self.rows:
            if isinstance(row, FormErrors):
                errors.update(row.errors)
        return errors


BATCH_ROW_FIELDS = ("donor_query", "donor_id", "new_donor_name", "amount", "reference", "method", "campaign_id", "note")
BATCH_MAX_ROWS = 200


def row_is_blank(form: Mapping[str, str], prefix: str) -> bool:
    """A batch row nobody typed in (defaults don't count) is skipped."""
    return not any((form.get(f"{prefix}{name}") or "").strip() for name in ("donor_query", "donor_id", "new_donor_name", "amount", "reference", "note"))


def parse_batch(
    session: Session, form: Mapping[str, str], *, today: date, campaigns: Sequence[Campaign], slip_required: bool = True
) -> Batch:
    """Validate a whole deposit: header (date, slip total, default campaign and method) and each typed row.

    Without `slip_required` (checks added to an open deposit batch, whose slip is checked when it
    closes) there is no slip total to match."""
    errors = FormErrors()
    by_id = {str(c.id): c for c in campaigns}
    default_campaign = by_id.get((form.get("campaign_id") or "").strip())
    if default_campaign is None:
        errors.add("campaign_id", "Please choose the campaign most of these gifts are for.")
    try:
        parse_date(form.get("received_on"), today)
    except ValueError as exc:
        errors.add("received_on", str(exc))
    currency = default_campaign.currency if default_campaign else "USD"
    slip = None
    try:
        if slip_required:
            slip = parse_amount(form.get("slip_total"), currency)
    except MoneyError as exc:
        errors.add("slip_total", f"Deposit slip total: {exc}")
    defaults = {
        "campaign_id": form.get("campaign_id") or "",
        "received_on": form.get("received_on") or "",
        "method": form.get("method") or GiftMethod.CHECK.value,
    }
    rows: list[OfflineGift | FormErrors] = []
    try:
        count = min(int(form.get("row_count") or 0), BATCH_MAX_ROWS)
    except ValueError:
        count = 0
    for i in range(count):
        prefix = f"rows-{i}-"
        if row_is_blank(form, prefix):
            continue
        rows.append(parse_offline_gift(session, form, today=today, campaigns=campaigns, prefix=prefix, defaults=defaults))
    if not rows:
        errors.add("rows", "Please enter at least one gift.")
    batch = Batch(rows=rows, slip_total_cents=slip, errors=errors)
    currencies = {r.campaign.currency for r in rows if isinstance(r, OfflineGift)}
    if len(currencies) > 1:
        errors.add("rows", "All gifts in one deposit must be in the same currency.")
    elif slip is not None and all(isinstance(r, OfflineGift) for r in rows) and rows and batch.entered_cents != slip:
        diff = batch.entered_cents - slip
        errors.add(
            "slip_total",
            f"The gifts add up to {format_money(batch.entered_cents, currency)} but the deposit slip says "
            f"{format_money(slip, currency)} ({'over' if diff > 0 else 'short'} by {format_money(abs(diff), currency)}). "
            "Check the amounts, or the slip total.",
        )
    return batch


def record_batch(
    session: Session, actor: Actor, batch: Batch, token: str, tz, *, deposit_batch_id: int | None = None
) -> list[Gift]:
    """Record every gift of a checked deposit in the caller's transaction: all of them or, on error, none."""
    if not batch.ok:
        raise ValueError("Only a batch without errors can be recorded.")
    saved = _already_saved(session, token)
    if saved:
        raise AlreadySaved(saved)
    return [
        record_entry(session, actor, row, f"form:{token}:{i}", tz, deposit_batch_id=deposit_batch_id)
        for i, row in enumerate(batch.rows)
    ]


def gifts_of_submission(session: Session, token: str) -> list[Gift]:
    """The gifts one form submission recorded (the confirmation page after a deposit)."""
    ids = _already_saved(session, token)
    return list(session.scalars(select(Gift).where(Gift.id.in_(ids)).order_by(Gift.id))) if ids else []


# ------------------------------------------------------------------ after a gift is recorded


def correct(
    session: Session, actor: Actor, gift: Gift, new_amount_text: str, reason: str
) -> tuple[LedgerEntry, IssuedReceipt | None]:
    """A correcting entry for a mistyped amount, with the reason, in the ledger and the audit log;
    a donor who had a receipt gets a corrected one (returned) naming the one it replaces."""
    from .receipts import after_correction

    try:
        new_amount = parse_amount(new_amount_text, gift.currency)
    except MoneyError as exc:
        raise ledger.LedgerError(str(exc)) from None
    before = ledger.corrected_amount(session, gift)
    entry = ledger.correct_amount(session, gift, new_amount, reason=reason.strip(), by_user_id=actor.user_id)
    audit.record(
        session, actor, "gift.correct", "gift", gift.id,
        before={"amount_cents": before}, after={"amount_cents": new_amount, "reason": reason.strip(), "entry_id": entry.id},
    )
    return entry, after_correction(session, gift)


def void(session: Session, actor: Actor, gift: Gift, reason: str) -> LedgerEntry:
    """Void a gift entered in error (it stays on record, worth nothing), with the reason audit logged."""
    before = ledger.gift_net(session, gift)
    entry = ledger.void_gift(session, gift, reason=reason.strip(), by_user_id=actor.user_id)
    audit.record(
        session, actor, "gift.void", "gift", gift.id,
        before={"net_cents": before}, after={"net_cents": 0, "reason": reason.strip(), "entry_id": entry.id},
    )
    return entry


def assign(session: Session, actor: Actor, gift: Gift, campaign: Campaign) -> None:
    """Credit an unattributed (or misattributed) gift to a campaign, audit logged."""
    before = ledger.current_campaign_id(session, gift)
    ledger.assign_campaign(session, gift, campaign, by_user_id=actor.user_id, reason="Assigned by staff")
    audit.record(
        session, actor, "gift.assign", "gift", gift.id,
        before={"campaign_id": before}, after={"campaign_id": campaign.id},
    )


# What "Edit details" can change. Money-affecting facts (who gave, when, how) move through the
# ledger (ledger.restate_gift); the rest are descriptive, and the audit row (append-only, with the
# reason) is their revision record. An online gift's date, method, reference and amount come from
# the card processor; staff may only fix who gave it, its dedication and whether it shows publicly.
EDIT_FIELDS = (
    "donor_id", "received_on", "method", "reference", "description", "goods_value_cents",
    "dedication_kind", "dedication_name", "is_anonymous",
)
ONLINE_EDITABLE = frozenset({"donor_id", "dedication_kind", "dedication_name", "is_anonymous"})
EDIT_LABELS = {
    "donor_id": "donor", "received_on": "received date", "method": "method", "reference": "reference or check number",
    "description": "description", "goods_value_cents": "value of goods received", "dedication_kind": "dedication",
    "dedication_name": "dedication", "is_anonymous": "public display",
}


@dataclass
class GiftEdit:
    """A validated "Edit details" form: the gift's facts as they should be, and why."""

    values: dict
    reason: str

    def changes(self, current: Mapping) -> dict:
        """Only the fields that differ from the gift as it is now."""
        return {k: v for k, v in self.values.items() if current.get(k) != v}


def edit_values(gift: Gift, tz) -> dict:
    """The gift's editable facts as they are now (received_on as its local date)."""
    values = {name: getattr(gift, name) for name in EDIT_FIELDS if name != "received_on"}
    values["received_on"] = gift.received_at.astimezone(tz).date()
    return values


def edit_form_values(gift: Gift, tz) -> dict[str, str]:
    """The "Edit details" form filled in with the gift as it is now."""
    now = edit_values(gift, tz)
    return {
        "donor_id": str(gift.donor_id or ""), "donor_query": gift.donor.name if gift.donor else "",
        "received_on": now["received_on"].isoformat(), "method": gift.method.value, "reference": gift.reference or "",
        "description": gift.description or "",
        "goods_value": format_input(gift.goods_value_cents, gift.currency) if gift.goods_value_cents else "",
        "dedication_kind": gift.dedication_kind.value if gift.dedication_kind else "",
        "dedication_name": gift.dedication_name or "", "show_publicly": "" if gift.is_anonymous else "yes",
    }


def parse_edit(session: Session, gift: Gift, form: Mapping[str, str], *, today: date, tz) -> GiftEdit | FormErrors:
    """Validate the "Edit details" form of a saved gift; every problem gets a message, and a form
    that changes nothing (or gives no reason) is refused so no empty revision is recorded."""
    errors = FormErrors()
    for name, message in form_problems(form).items():
        errors.add(name, message)
    current = edit_values(gift, tz)
    values = dict(current)
    donor_id, _new = parse_donor(session, _picked_donor(session, form), errors)
    if "donor_query" not in errors.errors:
        values["donor_id"] = donor_id
    try:
        values["received_on"] = parse_date(form.get("received_on"), today)
    except ValueError as exc:
        errors.add("received_on", str(exc))
    method_raw = (form.get("method") or "").strip()
    if gift.channel != GiftChannel.ONLINE:
        method = next((m for m in OFFLINE_METHODS if m.value == method_raw), None)
        if method is None:
            errors.add("method", "Please choose how the gift was given.")
        else:
            values["method"] = method
    values["reference"] = _text(form, "reference")
    values["description"] = _text(form, "description", 500)
    if values["method"] in (GiftMethod.IN_KIND, GiftMethod.STOCK) and not values["description"]:
        errors.add("description", "Please describe what was given (shares, goods); it goes on the receipt.")
    values["goods_value_cents"] = None
    if (form.get("goods_value") or "").strip():
        try:
            goods = parse_amount(form.get("goods_value"), gift.currency)
        except MoneyError as exc:
            errors.add("goods_value", str(exc))
        else:
            if goods > ledger.corrected_amount(session, gift):
                errors.add("goods_value", "What the donor received can't be worth more than the gift.")
            values["goods_value_cents"] = goods
    values["dedication_name"] = _text(form, "dedication_name")
    kind_raw = (form.get("dedication_kind") or "").strip()
    values["dedication_kind"] = None
    if kind_raw:
        if kind_raw not in DedicationKind._value2member_map_:
            errors.add("dedication_kind", "Please choose in honour or in memory.")
        else:
            values["dedication_kind"] = DedicationKind(kind_raw)
            if not values["dedication_name"]:
                errors.add("dedication_name", "Please enter who the gift honours or remembers.")
    elif values["dedication_name"]:
        errors.add("dedication_kind", "Please choose in honour or in memory.")
    values["is_anonymous"] = form.get("show_publicly") not in ("yes", "on", "1")
    reason = (form.get("reason") or "").strip()[:TEXT_MAX]
    if not reason:
        errors.add("reason", "Please say why you are changing this gift; the reason is kept with the change.")
    if errors.errors:
        return errors
    edit = GiftEdit(values=values, reason=reason)
    changed = edit.changes(current)
    if gift.channel == GiftChannel.ONLINE and set(changed) - ONLINE_EDITABLE:
        fixed = ", ".join(sorted({EDIT_LABELS[k] for k in set(changed) - ONLINE_EDITABLE}))
        errors.add("form", f"An online gift's {fixed} come from the card processor and can't be changed here.")
    elif not changed:
        errors.add("form", "Nothing was changed: edit a detail, then save.")
    return errors if errors.errors else edit


def _picked_donor(session: Session, form: Mapping[str, str]) -> dict[str, str]:
    """The donor fields as chosen: an emptied name means no donor record, and a name typed over the
    one picked (without JavaScript the hidden id stays behind) is looked up by what was typed."""
    picked = (form.get("donor_id") or "").strip()
    query = (form.get("donor_query") or "").strip()
    if picked and query:
        donor = session.get(Donor, int(picked)) if picked.isdigit() else None
        if donor is not None and query not in (donor.name, f"{donor.name} <{donor.email}>"):
            picked = ""
    return {"donor_id": picked if query else "", "donor_query": query}


@dataclass(frozen=True)
class EditOutcome:
    """What saving "Edit details" did: the fields changed, and any receipts that followed."""

    changed: list[str]
    donor_change: object | None = None
    corrected_receipt: IssuedReceipt | None = None


def edit_details(session: Session, actor: Actor, gift: Gift, edit: GiftEdit, tz) -> EditOutcome:
    """Apply a validated edit: who gave, when and how through the ledger's re-entry, the rest as a
    revision; the audit log keeps every before and after with the reason. A new donor gets the
    receipt (receipts.after_donor_change); a new date or goods value, a corrected receipt."""
    from .receipts import after_correction, after_donor_change, why_not_receiptable

    current = edit_values(gift, tz)
    changed = edit.changes(current)
    before = {k: current[k] for k in changed}
    new_day = changed.get("received_on")
    ledger.restate_gift(
        session, gift, donor_id=edit.values["donor_id"], method=edit.values["method"],
        received_at=received_at(new_day, tz) if new_day else gift.received_at,
        reason=f"Details edited ({', '.join(dict.fromkeys(EDIT_LABELS[k] for k in changed))}): {edit.reason}",
        by_user_id=actor.user_id,
    )
    for name in ("reference", "description", "goods_value_cents", "dedication_kind", "dedication_name", "is_anonymous"):
        setattr(gift, name, edit.values[name])
    session.flush()
    audit.record(session, actor, "gift.edit", "gift", gift.id, before=before, after={**changed, "reason": edit.reason})
    if "donor_id" in changed:
        return EditOutcome(list(changed), donor_change=after_donor_change(session, [gift.id]))
    if {"received_on", "goods_value_cents"} & set(changed) and why_not_receiptable(session, gift) is None:
        return EditOutcome(list(changed), corrected_receipt=after_correction(session, gift))
    return EditOutcome(list(changed))


def unattributed(session: Session) -> list[Gift]:
    """Gifts waiting for a campaign (online payments that named none), oldest first."""
    moved = select(LedgerEntry.gift_id).where(LedgerEntry.kind == ledger.EntryKind.REASSIGN_IN)
    return list(
        session.scalars(
            select(Gift).where(Gift.campaign_id.is_(None), Gift.id.not_in(moved)).order_by(Gift.received_at, Gift.id)
        )
    )


def resend_receipt(session: Session, actor: Actor, gift: Gift) -> bool:
    """Queue the gift's receipt again with today's figures and wording; False when the donor has no
    email. Raises receipts.ReceiptRefused for a void or fully refunded gift."""
    from .receipts import Reason, queue_for_gift

    messages = queue_for_gift(session, gift, reason=Reason.RESEND)
    if not messages:
        return False
    audit.record(session, actor, "gift.resend_receipt", "gift", gift.id, after={"to": messages[0].to_email})
    return True


@dataclass(frozen=True)
class GiftView:
    """A gift as staff read it: what is left of it, where it is credited now, whether it is void."""

    gift: Gift
    net_cents: int
    amount_cents: int
    campaign_id: int | None
    voided: bool


def describe(session: Session, gift: Gift) -> GiftView:
    """The current state of one gift, from its ledger entries."""
    return GiftView(
        gift=gift,
        net_cents=ledger.gift_net(session, gift),
        amount_cents=ledger.corrected_amount(session, gift),
        campaign_id=ledger.current_campaign_id(session, gift),
        voided=ledger.is_voided(session, gift),
    )


def find_donors(session: Session, query: str, *, exact: bool = False, limit: int = 10) -> list[Donor]:
    """Donors whose name or email matches (exactly, or as donors.find ranks partial names and near misses)."""
    query = query.strip().lower()
    if not query:
        return []
    live = Donor.merged_into_id.is_(None)
    if exact:
        return list(
            session.scalars(
                select(Donor).where(live, or_(func.lower(Donor.name) == query, Donor.email == query)).limit(limit)
            )
        )
    return donors.find(session, query, limit=limit)


def recent_entered(session: Session, since: timedelta = timedelta(days=30), limit: int = 50) -> list[Gift]:
    """Gifts entered by people lately, newest first (the gift list's default view)."""
    from .db import utcnow

    return list(
        session.scalars(
            select(Gift)
            .where(Gift.channel != GiftChannel.ONLINE, Gift.created_at >= utcnow() - since)
            .order_by(Gift.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class GiftFilters:
    """What the gift list and its CSV export are narrowed to."""

    campaign_id: int | None = None
    received_from: date | None = None
    received_to: date | None = None
    channel: GiftChannel | None = None
    method: GiftMethod | None = None
    donor_text: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> GiftFilters:
        """Filters from a query string; anything unreadable is simply not applied."""

        def day(name: str) -> date | None:
            try:
                return date.fromisoformat(args.get(name, ""))
            except ValueError:
                return None

        campaign = args.get("campaign", "")
        channel = args.get("channel", "")
        method = args.get("method", "")
        return cls(
            campaign_id=int(campaign) if campaign.isdigit() else None,
            received_from=day("from"), received_to=day("to"),
            channel=GiftChannel(channel) if channel in GiftChannel._value2member_map_ else None,
            method=GiftMethod(method) if method in GiftMethod._value2member_map_ else None,
            donor_text=args.get("q", "").strip()[:100],
        )

    def as_args(self) -> dict[str, str]:
        """The same filters as query-string arguments (for the export link)."""
        pairs = {
            "campaign": self.campaign_id, "from": self.received_from, "to": self.received_to,
            "channel": self.channel.value if self.channel else None, "method": self.method.value if self.method else None,
            "q": self.donor_text or None,
        }
        return {k: str(v) for k, v in pairs.items() if v is not None}


def filtered_gifts(
    session: Session, filters: GiftFilters, tz, *, limit: int | None = None, newest_first: bool = False, offset: int = 0
):
    """Gifts matching the filters, with what is left of each (list page and CSV export)."""
    from .statements import gift_lines

    where = [Gift.id.is_not(None)]
    if filters.campaign_id is not None:
        moved_in = select(LedgerEntry.gift_id).where(
            LedgerEntry.kind == ledger.EntryKind.REASSIGN_IN, LedgerEntry.campaign_id == filters.campaign_id
        )
        where.append(or_(Gift.campaign_id == filters.campaign_id, Gift.id.in_(moved_in)))
    if filters.received_from is not None:
        where.append(Gift.received_at >= datetime.combine(filters.received_from, time(0), tzinfo=tz))
    if filters.received_to is not None:
        where.append(Gift.received_at < datetime.combine(filters.received_to + timedelta(days=1), time(0), tzinfo=tz))
    if filters.channel is not None:
        where.append(Gift.channel == filters.channel)
    if filters.method is not None:
        where.append(Gift.method == filters.method)
    if filters.donor_text:
        matching = [d.id for d in find_donors(session, filters.donor_text, limit=500)]
        where.append(Gift.donor_id.in_(matching))
    return gift_lines(session, and_(*where), limit=limit, newest_first=newest_first, offset=offset)
