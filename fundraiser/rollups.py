"""Board rollups: per-day, per-month and per-event caches of the ledger that the dashboard reads.

ledger.py calls `apply_entry` for every entry and `apply_fee` when a fee becomes known, in the
same transaction. Both the incremental path and the rebuild from scratch go through one rule,
`entry_deltas`, so they cannot drift apart in what they count.

What is counted:
- money (raised, recurring, refunds, disputes) on the local day each entry occurred;
- standing gifts (something left of them), their sizes and their donors on the local month the
  gift arrived in the campaign (received, or moved in), so a later refund changes that month;
- a gift's processing fee on its arrival day in the campaign it is credited to now.
Days and months are cut at midnight in the organisation's time zone: changing ORG_TIMEZONE
needs `flask rebuild-rollups`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from .models import (
    DailyRollup,
    DonorMonthRollup,
    EntryKind,
    EventRollup,
    Gift,
    GiftChannel,
    GiftMethod,
    GiftSizeRollup,
    LedgerEntry,
)
from .settings import current_settings

ARRIVAL_KINDS = (EntryKind.GIFT, EntryKind.REASSIGN_IN)

# Each rollup table with the columns of its key, in order.
TABLES: dict[type, tuple[str, ...]] = {
    DailyRollup: ("campaign_id", "day", "channel", "method"),
    GiftSizeRollup: ("campaign_id", "month", "channel", "amount_cents"),
    DonorMonthRollup: ("campaign_id", "month", "channel", "donor_id"),
    EventRollup: ("event_id", "campaign_id"),
}

Deltas = dict[tuple[type, tuple], dict[str, int]]


@dataclass(frozen=True)
class GiftFacts:
    """What the rollups need to know about the gift an entry belongs to."""

    channel: GiftChannel
    method: GiftMethod
    donor_id: int | None
    event_id: int | None
    recurring: bool
    fee_cents: int | None


def facts_of(gift: Gift) -> GiftFacts:
    return GiftFacts(
        gift.channel, gift.method, gift.donor_id, gift.event_id, gift.recurring_plan_id is not None, gift.fee_cents
    )


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    """The calendar day of an instant in the organisation's time zone."""
    return moment.astimezone(tz).date()


def _add(deltas: Deltas, model: type, key: tuple, **columns: int) -> None:
    row = deltas.setdefault((model, key), {})
    for name, value in columns.items():
        if value:
            row[name] = row.get(name, 0) + value


def _crossing(before: int, after: int) -> int:
    """+1 when a gift starts standing, -1 when nothing is left of it, else 0."""
    return (before <= 0 < after) - (after <= 0 < before)


def entry_deltas(
    deltas: Deltas,
    *,
    campaign_id: int,
    kind: EntryKind,
    amount_cents: int,
    day: date,
    arrival_day: date,
    before_cents: int,
    gift: GiftFacts,
) -> None:
    """Add to `deltas` what one ledger entry changes in every rollup (the single counting rule)."""
    after_cents = before_cents + amount_cents
    _add(
        deltas, DailyRollup, (campaign_id, day, gift.channel, gift.method),
        raised_cents=amount_cents,
        recurring_cents=amount_cents if gift.recurring else 0,
        refund_cents=-amount_cents if kind == EntryKind.REFUND else 0,
        refund_count=1 if kind == EntryKind.REFUND else 0,
        dispute_cents=(-amount_cents if kind in (EntryKind.DISPUTE, EntryKind.DISPUTE_WON) else 0),
        dispute_count=1 if kind == EntryKind.DISPUTE else 0,
    )
    if gift.fee_cents:
        sign = 1 if kind in ARRIVAL_KINDS else -1 if kind == EntryKind.REASSIGN_OUT else 0
        _add(deltas, DailyRollup, (campaign_id, arrival_day, gift.channel, gift.method), fee_cents=sign * gift.fee_cents)
    month = arrival_day.replace(day=1)
    donorless = 1 if gift.donor_id is None else 0
    if before_cents > 0:
        _add(deltas, GiftSizeRollup, (campaign_id, month, gift.channel, before_cents),
             gift_count=-1, donorless_count=-donorless)
    if after_cents > 0:
        _add(deltas, GiftSizeRollup, (campaign_id, month, gift.channel, after_cents),
             gift_count=1, donorless_count=donorless)
    step = _crossing(before_cents, after_cents)
    if gift.donor_id is not None and step:
        _add(deltas, DonorMonthRollup, (campaign_id, month, gift.channel, gift.donor_id), gift_count=step)
    if gift.event_id is not None:
        _add(deltas, EventRollup, (gift.event_id, campaign_id), raised_cents=amount_cents, gift_count=step)


# ------------------------------------------------------------------ kept with the ledger


def apply_entry(
    session: Session, gift: Gift, campaign_id: int, kind: EntryKind, amount_cents: int,
    occurred_at: datetime, before_cents: int,
) -> None:
    """Apply one new ledger entry (not yet flushed) to the rollups; called only by ledger.py."""
    tz = current_settings().tz
    arrival = occurred_at if kind in ARRIVAL_KINDS else last_arrival(session, gift, campaign_id)
    deltas: Deltas = {}
    entry_deltas(
        deltas, campaign_id=campaign_id, kind=kind, amount_cents=amount_cents, day=local_day(occurred_at, tz),
        arrival_day=local_day(arrival, tz), before_cents=before_cents, gift=facts_of(gift),
    )
    _write(session, deltas)


def apply_fee(session: Session, gift: Gift, campaign_id: int, fee_cents: int) -> None:
    """A fee learned after the gift was recorded joins its arrival day; called only by ledger.py."""
    arrival = local_day(last_arrival(session, gift, campaign_id), current_settings().tz)
    _write(session, {(DailyRollup, (campaign_id, arrival, gift.channel, gift.method)): {"fee_cents": fee_cents}})


def last_arrival(session: Session, gift: Gift, campaign_id: int) -> datetime:
    """When the gift last arrived in the campaign: its receipt, or its latest move into it."""
    moment = session.scalar(
        select(LedgerEntry.occurred_at)
        .where(
            LedgerEntry.gift_id == gift.id,
            LedgerEntry.campaign_id == campaign_id,
            LedgerEntry.kind.in_(ARRIVAL_KINDS),
        )
        .order_by(LedgerEntry.id.desc())
        .limit(1)
    )
    return moment or gift.received_at


def _write(session: Session, deltas: Deltas) -> None:
    # Rows are keyed by campaign, and ledger.py holds the campaign's totals row lock, so two
    # workers never create the same rollup row at once.
    for (model, key), changes in deltas.items():
        if not changes:
            continue
        row = session.get(model, key)
        if row is None:
            row = model(**dict(zip(TABLES[model], key, strict=True)), **_zeros(model))
            if model is DailyRollup:
                row.month = row.day.replace(day=1)
            session.add(row)
        for name, value in changes.items():
            setattr(row, name, getattr(row, name) + value)


def _zeros(model: type) -> dict:
    keys = set(TABLES[model])
    values = {c.name: 0 for c in model.__table__.columns if c.name not in keys}
    if model is DailyRollup:
        values.pop("month")
    return values


# ---------------------------------------------------------------- from scratch, and checks


def compute_rollups(session: Session) -> Deltas:
    """Recompute every rollup from the ledger, streaming the entries gift by gift."""
    tz = current_settings().tz
    rows = session.execute(
        select(
            LedgerEntry.gift_id, LedgerEntry.campaign_id, LedgerEntry.kind, LedgerEntry.amount_cents,
            LedgerEntry.occurred_at, Gift.channel, Gift.method, Gift.donor_id, Gift.event_id,
            Gift.recurring_plan_id, Gift.fee_cents,
        )
        .join(Gift, Gift.id == LedgerEntry.gift_id)
        .where(LedgerEntry.campaign_id.is_not(None))
        .order_by(LedgerEntry.gift_id, LedgerEntry.id)
        .execution_options(yield_per=20_000)
    )
    deltas: Deltas = {}
    current_gift = None
    # Per campaign of the current gift: what is left of it there, and its arrival day there.
    state: dict[int, list] = {}
    for gift_id, campaign_id, kind, amount, occurred_at, channel, method, donor_id, event_id, plan_id, fee in rows:
        if gift_id != current_gift:
            current_gift, state = gift_id, {}
            facts = GiftFacts(channel, method, donor_id, event_id, plan_id is not None, fee)
        day = local_day(occurred_at, tz)
        net, arrival = state.get(campaign_id, (0, day))
        if kind in ARRIVAL_KINDS:
            arrival = day
        entry_deltas(
            deltas, campaign_id=campaign_id, kind=kind, amount_cents=amount, day=day,
            arrival_day=arrival, before_cents=net, gift=facts,
        )
        state[campaign_id] = (net + amount, arrival)
    return _normalised(deltas)


def stored_rollups(session: Session) -> Deltas:
    """Every stored rollup row in the same shape as compute_rollups (zeros left out)."""
    result: Deltas = {}
    for model, key_columns in TABLES.items():
        value_columns = [c.name for c in model.__table__.columns if c.name not in key_columns and c.name != "month"]
        for row in session.scalars(select(model)).yield_per(20_000):
            result[(model, tuple(getattr(row, k) for k in key_columns))] = {
                c: getattr(row, c) for c in value_columns
            }
    return _normalised(result)


def _normalised(deltas: Deltas) -> Deltas:
    out: Deltas = {}
    for key, columns in deltas.items():
        kept = {c: v for c, v in columns.items() if v}
        if kept:
            out[key] = kept
    return out


@dataclass(frozen=True)
class RollupDifference:
    table: str
    key: tuple
    column: str
    stored: int
    computed: int

    def __str__(self) -> str:
        key = ", ".join(str(k) for k in self.key)
        return f"{self.table} ({key}) {self.column}: stored={self.stored} ledger={self.computed}"


def differences(stored: Deltas, computed: Deltas) -> list[RollupDifference]:
    """Each cell where the stored rollups and the recomputation disagree."""
    found = []
    for model, key in sorted(set(stored) | set(computed), key=lambda k: (k[0].__tablename__, str(k[1]))):
        have = stored.get((model, key), {})
        want = computed.get((model, key), {})
        for column in sorted(set(have) | set(want)):
            if have.get(column, 0) != want.get(column, 0):
                found.append(RollupDifference(model.__tablename__, key, column, have.get(column, 0), want.get(column, 0)))
    return found


def verify_rollups(session: Session) -> list[RollupDifference]:
    """Every difference between the stored rollups and a recomputation from the ledger."""
    return differences(stored_rollups(session), compute_rollups(session))


def rebuild_rollups(session: Session, computed: Deltas | None = None) -> int:
    """Replace every rollup row with a recomputation from the ledger; returns the rows written."""
    computed = compute_rollups(session) if computed is None else computed
    grouped: dict[type, list[dict]] = defaultdict(list)
    for (model, key), columns in computed.items():
        row = dict(zip(TABLES[model], key, strict=True))
        row.update(_zeros(model))
        row.update(columns)
        if model is DailyRollup:
            row["month"] = row["day"].replace(day=1)
        grouped[model].append(row)
    for model in TABLES:
        session.execute(delete(model))
        rows = grouped.get(model, [])
        for start in range(0, len(rows), 10_000):
            session.execute(insert(model), rows[start:start + 10_000])
    session.flush()
    return sum(len(rows) for rows in grouped.values())
