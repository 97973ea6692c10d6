"""The audit log: who changed what, when, with the before and after. Rows are only ever added."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import event, select
from sqlalchemy.orm import Session, selectinload

from .models import AuditLog, Campaign, CommunityEvent, Donor, Gift, Household, User
from .money import format_money

PAGE_SIZE = 100


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete an audit row."""


@event.listens_for(AuditLog, "before_update")
@event.listens_for(AuditLog, "before_delete")
def _refuse_changes(_mapper, _connection, target: AuditLog) -> None:
    """Audit rows are written once; no code path in the app may change or delete one."""
    raise AuditLogIsAppendOnly(f"Audit row {target.id} can't be changed or deleted.")


@dataclass(frozen=True)
class Actor:
    """The person making a change and where from, as every audited domain function receives it."""

    user_id: int | None
    ip_address: str | None = None


def plain(value: Any) -> Any:
    """A JSON-safe copy of a value (enums as their strings, dates as ISO text)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named attributes of a record, ready to store as a before or after."""
    return {name: plain(getattr(obj, name)) for name in fields}


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: int | str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Add one audit row in the caller's transaction; only the fields that changed are kept."""
    if before is not None and after is not None:
        changed = [k for k in after if before.get(k) != after.get(k)]
        before = {k: before[k] for k in changed if k in before}
        after = {k: after[k] for k in changed}
    row = AuditLog(
        user_id=actor.user_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=plain(before) if before is not None else None,
        after=plain(after) if after is not None else None,
        ip_address=actor.ip_address,
    )
    session.add(row)
    session.flush()
    return row


def browse(
    session: Session,
    *,
    user_id: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    older_than_id: int | None = None,
) -> list[AuditLog]:
    """One page of audit rows, newest first, filtered by person, kind of record, record, action and
    time (`since` inclusive, `until` exclusive); the next page starts below the last id shown."""
    query = select(AuditLog).options(selectinload(AuditLog.user)).order_by(AuditLog.id.desc()).limit(PAGE_SIZE)
    if user_id is not None:
        query = query.where(AuditLog.user_id == user_id)
    if object_type:
        query = query.where(AuditLog.object_type == object_type)
    if object_id:
        query = query.where(AuditLog.object_id == object_id)
    if action:
        query = query.where(AuditLog.action == action)
    if since is not None:
        query = query.where(AuditLog.at >= since)
    if until is not None:
        query = query.where(AuditLog.at < until)
    if older_than_id is not None:
        query = query.where(AuditLog.id < older_than_id)
    return list(session.scalars(query))


def history(session: Session, object_type: str, object_id: int | str) -> list[StoryLine]:
    """Every audit row about one record, oldest first, told as a story (shown on the record's own page)."""
    rows = list(
        session.scalars(
            select(AuditLog).options(selectinload(AuditLog.user))
            .where(AuditLog.object_type == object_type, AuditLog.object_id == str(object_id))
            .order_by(AuditLog.id)
        )
    )
    return story(session, rows)


# ------------------------------------------------------------------ the log as people read it

VERBS = {
    "gift.record": "recorded", "gift.edit": "changed the details of", "gift.correct": "corrected the amount of",
    "gift.void": "voided", "gift.assign": "moved", "gift.resend_receipt": "re-sent the receipt for",
    "donor.create": "added", "donor.update": "updated", "donor.merge": "merged a duplicate into",
    "donor.merged_into": "merged away", "event.create": "created", "event.update": "updated",
    "campaign.create": "created", "campaign.update": "updated", "campaign.cover": "changed the cover of",
    "campaign.story_image": "added a story picture to",
    "user.invite": "invited", "user.role": "changed the role of", "user.deactivate": "deactivated",
    "user.reactivate": "reactivated", "user.reset_password": "reset the password of",
    "user.set_password": "set the password of", "user.unlock_sign_in": "unlocked sign-in for",
    "deposit.open": "opened", "deposit.add": "added to a deposit batch:", "deposit.remove": "took out of its deposit batch:",
    "deposit.close": "closed", "demo.remove": "removed the demo data", "gifts.import": "imported gifts",
    "campaign.publish": "published", "campaign.close": "closed", "campaign.reopen": "reopened",
    "campaign.archive": "archived", "campaign.restore": "restored", "match.create": "added a matching challenge to",
    "match.update": "changed the matching challenge of", "wall.approve": "approved for the donor wall",
    "wall.hide": "hid from the donor wall", "wall.hide_comment": "hid the comment of",
    "wall.show_comment": "showed the comment of", "wall.hide_name": "hid the name on", "wall.show_name": "showed the name on",
    "wall.hide_dedication": "hid the dedication of", "wall.show_dedication": "showed the dedication of",
    "organisation.update": "changed the organisation's settings", "receipt_wording.update": "changed the receipt wording",
    "mail.retry": "retried emails", "backup.download": "downloaded a backup of everything",
}
# Donor records: soft credits and households.
VERBS.update({
    "gift.soft_credit_add": "added a soft credit to", "gift.soft_credit_remove": "removed a soft credit from",
    "household.create": "created the household", "household.update": "updated the household", "donor.household": "changed the household of",
})
# Rows about something other than a named record: how the subject is named, or nothing.
OTHER_SUBJECTS = {"deposit": "deposit batch {}", "outbox": "messages {}"}
FIELD_LABELS = {
    "amount_cents": "Amount", "net_cents": "Counts toward totals", "donor_id": "Donor", "campaign_id": "Campaign",
    "event_id": "Event", "host_donor_id": "Host", "user_id": "Person", "received_on": "Received",
    "received_at": "Received", "is_anonymous": "Anonymous", "goods_value_cents": "Value of goods received",
    "dedication_kind": "Dedication", "dedication_name": "Dedicated to", "private_note": "Note",
    "reference": "Reference or check number", "goal_cents": "Goal", "stretch_goal_cents": "Stretch goal",
    "entry_id": "Ledger entry", "proceeds_are_hosts_gift": "Host's own gift", "merged_into_id": "Merged into",
}
# Fields whose value is the id of a record with a name, and the model it names.
NAMED_IDS = {
    "donor_id": Donor, "host_donor_id": Donor, "merged_into_id": Donor, "campaign_id": Campaign,
    "event_id": CommunityEvent, "user_id": User, "household_id": Household,
}
# The kinds of record a row can be about, and the model each names.
SUBJECTS = {"gift": Gift, "donor": Donor, "campaign": Campaign, "event": CommunityEvent, "user": User,
            "household": Household}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}$")
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@dataclass(frozen=True)
class Change:
    label: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class StoryLine:
    """One audit row as a sentence: who did what to which record (named, linkable), field by field."""

    row: AuditLog
    who: str
    verb: str
    subject_type: str
    subject_id: int | None
    subject: str
    changes: list[Change]
    reason: str | None


def _name(model: type, obj: Any) -> str:
    if obj is None:
        return ""
    if model is Gift:
        who = f" from {obj.donor.name}" if obj.donor else ""
        return f"gift {obj.id} ({format_money(obj.amount_cents, obj.currency)}{who})"
    if model is Campaign:
        return obj.title
    if model is User:
        return obj.name or obj.email
    return obj.name


def _load_names(session: Session, rows: list[AuditLog]) -> dict[type, dict[int, Any]]:
    """Every record the rows name (their subjects and the ids in their before/after), a query per kind."""
    wanted: dict[type, set[int]] = {model: set() for model in SUBJECTS.values()}
    for row in rows:
        model = SUBJECTS.get(row.object_type)
        if model is not None and row.object_id.isdigit():
            wanted[model].add(int(row.object_id))
        for values in (row.before or {}, row.after or {}):
            for key, value in values.items():
                if key in NAMED_IDS and isinstance(value, int):
                    wanted[NAMED_IDS[key]].add(value)
    found: dict[type, dict[int, Any]] = {}
    for model, ids in wanted.items():
        query = select(model).where(model.id.in_(sorted(ids)))
        if model is Gift:
            query = query.options(selectinload(Gift.donor))
        found[model] = {obj.id: obj for obj in session.scalars(query)} if ids else {}
    return found


def _currency(row: AuditLog, subject: Any) -> str:
    values = {**(row.before or {}), **(row.after or {})}
    return str(values.get("currency") or getattr(subject, "currency", None) or "USD")


def _say(key: str, value: Any, currency: str, names: dict[type, dict[int, Any]], tz: ZoneInfo, locale: str) -> str | None:
    """One value as people read it: names for ids, money formatted, dates local, yes/no."""
    if value is None or value == "":
        return None
    if key in NAMED_IDS and isinstance(value, int):
        model = NAMED_IDS[key]
        return _name(model, names[model].get(value)) or f"{model.__name__.lower()} {value} (deleted)"
    if key.endswith("_cents") and isinstance(value, int):
        return format_money(value, currency, locale)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and ISO_DATE.match(value):
        return format_date(date.fromisoformat(value), format="medium", locale=locale)
    if isinstance(value, str) and ISO_MOMENT.match(value):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            return format_date(moment.date(), format="medium", locale=locale)
        return format_date(moment.astimezone(tz).date(), format="medium", locale=locale)
    if isinstance(value, list):
        return "; ".join(
            ", ".join(str(_say(k, v, currency, names, tz, locale) or "") for k, v in item.items()) if isinstance(item, dict) else str(item)
            for item in value
        )
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value).replace("_", " ")


def _label(key: str) -> str:
    return FIELD_LABELS.get(key) or key.removesuffix("_cents").removesuffix("_id").replace("_", " ").capitalize()


def story(session: Session, rows: list[AuditLog], tz: ZoneInfo | None = None, locale: str | None = None) -> list[StoryLine]:
    """Audit rows told for people: names instead of ids, money formatted, each change before → after."""
    from .settings import current_settings

    settings = current_settings()
    tz = tz or settings.tz
    locale = locale or settings.locale
    names = _load_names(session, rows)
    lines = []
    for row in rows:
        model = SUBJECTS.get(row.object_type)
        subject_id = int(row.object_id) if row.object_id.isdigit() else None
        subject_obj = names[model].get(subject_id) if model is not None and subject_id is not None else None
        if subject_obj is not None:
            subject = _name(model, subject_obj)
        elif model is not None:
            subject = f"{row.object_type} {row.object_id} (deleted)"
        else:
            subject = OTHER_SUBJECTS.get(row.object_type, "").format(row.object_id)
        currency = _currency(row, subject_obj)
        before, after = row.before or {}, row.after or {}
        changes = [
            change for key in dict.fromkeys([*before, *after]) if key != "reason"
            if (change := Change(_label(key), _say(key, before.get(key), currency, names, tz, locale),
                                 _say(key, after.get(key), currency, names, tz, locale))).before or change.after
        ]
        reason = after.get("reason") if isinstance(after.get("reason"), str) else None
        who = (row.user.name or row.user.email) if row.user else "The system"
        verb = VERBS.get(row.action) or row.action.partition(".")[2].replace("_", " ") or row.action
        lines.append(StoryLine(row, who, verb, row.object_type, subject_id if subject_obj is not None else None,
                               subject, changes, reason))
    return lines
