"""Board rollups: per-day, per-month and per-event caches of the ledger that the dashboard reads.

ledger.py calls `apply_entry` for every entry and `apply_fee` when a fee becomes known, in the
same transaction. Both the incremental path and the rebuild from scratch go through one rule,
`entry_deltas`, so they cannot drift apart in what they count.

What is counted:
- money (raised, recurring, refunds, disputes) on the local day and month each entry occurred,
  except corrections and voids, which restate the gift and so count on its arrival day (a $5,000
  typo fixed to $500 is not $4,500 lost on the day of the fix);
- standing gifts (something left of them), their sizes and their donors in the local month the
  gift arrived in the campaign (received, or moved in), so a later refund changes that month;
  each donor's money is kept there too (every entry of the gift, in its arrival month), so a
  donor's fiscal-year total is what is left of the gifts that arrived in that year;
- a gift's processing fee in its arrival month in the campaign it is credited to now.
Gift sizes and donor bitmaps are also kept summed across campaigns and across channels (the
ALL_CAMPAIGNS / ALL_CHANNELS scopes), gift sizes also across months (ALL_MONTHS). Days and months are cut at midnight in the organisation's
time zone: changing ORG_TIMEZONE needs `flask rebuild-rollups`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from itertools import groupby
from operator import itemgetter
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, insert, select, tuple_, update
from sqlalchemy.orm import Session

from .db import dialect_insert, upsert_insert
from .models import (
    ALL_CAMPAIGNS,
    ALL_CHANNELS,
    ALL_MONTHS,
    DailyRollup,
    DonorBitmap,
    DonorMonthRollup,
    EntryKind,
    EventRollup,
    Gift,
    GiftChannel,
    GiftMethod,
    GiftSizeRollup,
    LedgerEntry,
    MonthlyRollup,
)
from .settings import current_settings

ARRIVAL_KINDS = (EntryKind.GIFT, EntryKind.REASSIGN_IN)
# Entries that fix the record rather than move money: they count on the day the gift arrived.
RESTATING_KINDS = (EntryKind.CORRECTION, EntryKind.VOID)

# Each rollup table with the columns of its key, in order.
TABLES: dict[type, tuple[str, ...]] = {
    DailyRollup: ("campaign_id", "day"),
    MonthlyRollup: ("campaign_id", "month", "channel", "method"),
    GiftSizeRollup: ("campaign_id", "channel", "month", "amount_cents"),
    DonorMonthRollup: ("campaign_id", "month", "channel", "donor_id"),
    DonorBitmap: ("campaign_id", "channel", "month"),
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
        gift.channel, gift.method, gift.donor_id, gift.event_id, gift.recurring_plan_id is not None,
        gift.fee_cents if gift.fee_in_gift_currency else None,
    )


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    """The calendar day of an instant in the organisation's time zone."""
    return moment.astimezone(tz).date()


def scopes(campaign_id: int, channel: str) -> list[tuple[int, str]]:
    """The campaign and channel of a gift, and the sums across campaigns and channels it is part of."""
    return [
        (campaign_id, str(channel)), (campaign_id, ALL_CHANNELS),
        (ALL_CAMPAIGNS, str(channel)), (ALL_CAMPAIGNS, ALL_CHANNELS),
    ]


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
    money_day = arrival_day if kind in RESTATING_KINDS else day
    _add(deltas, DailyRollup, (campaign_id, money_day), raised_cents=amount_cents)
    _add(
        deltas, MonthlyRollup, (campaign_id, money_day.replace(day=1), gift.channel, gift.method),
        raised_cents=amount_cents,
        recurring_cents=amount_cents if gift.recurring else 0,
        # Net of refunds that failed and came back (REFUND_REVERSED); the count is of refunds made.
        refund_cents=-amount_cents if kind in (EntryKind.REFUND, EntryKind.REFUND_REVERSED) else 0,
        refund_count=1 if kind == EntryKind.REFUND else 0,
        dispute_cents=(-amount_cents if kind in (EntryKind.DISPUTE, EntryKind.DISPUTE_WON) else 0),
        dispute_count=1 if kind == EntryKind.DISPUTE else 0,
    )
    month = arrival_day.replace(day=1)
    if gift.fee_cents:
        sign = 1 if kind in ARRIVAL_KINDS else -1 if kind == EntryKind.REASSIGN_OUT else 0
        _add(deltas, MonthlyRollup, (campaign_id, month, gift.channel, gift.method), fee_cents=sign * gift.fee_cents)
    donorless = 1 if gift.donor_id is None else 0
    for scope_campaign, scope_channel in scopes(campaign_id, gift.channel):
        for scope_month in (month, ALL_MONTHS):
            if before_cents > 0:
                _add(deltas, GiftSizeRollup, (scope_campaign, scope_channel, scope_month, before_cents),
                     gift_count=-1, donorless_count=-donorless)
            if after_cents > 0:
                _add(deltas, GiftSizeRollup, (scope_campaign, scope_channel, scope_month, after_cents),
                     gift_count=1, donorless_count=donorless)
    step = _crossing(before_cents, after_cents)
    if gift.donor_id is not None:
        _add(deltas, DonorMonthRollup, (campaign_id, month, gift.channel, gift.donor_id), gift_count=step,
             raised_cents=amount_cents)
    if gift.event_id is not None:
        _add(deltas, EventRollup, (gift.event_id, campaign_id), raised_cents=amount_cents, gift_count=step)


def bitmap_scopes(active: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Every scope a donor counts in for a month, from the (campaign, channel) pairs they gave in."""
    return {scope for campaign_id, channel in active for scope in scopes(campaign_id, channel)}


def bits_of(value: bytes | None) -> int:
    return int.from_bytes(value or b"", "little")


def bytes_of(bits: int) -> bytes:
    return bits.to_bytes((bits.bit_length() + 7) // 8, "little")


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
    for _model, key in _donor_months_counted_anew(deltas):
        donor_campaign_id, month, channel, donor_id = key
        _refresh_bitmaps(session, donor_campaign_id, channel, donor_id, month)


def _donor_months_counted_anew(deltas: Deltas) -> list[tuple[type, tuple]]:
    """Donor-months whose count of standing gifts changed: only these can change a donor bitmap
    (money alone, e.g. a partial refund, leaves the donor where they were)."""
    return [(model, key) for (model, key), columns in deltas.items()
            if model is DonorMonthRollup and columns.get("gift_count")]


def move_donor(session: Session, source_id: int, target_id: int) -> None:
    """A merged duplicate's standing gifts now count for the donor kept; called only by ledger.py.

    Only the donor rollups name donors: their counts move to the kept donor, and both donors'
    bits are set again for every month that changed.
    """
    rows = session.execute(
        select(DonorMonthRollup.campaign_id, DonorMonthRollup.month, DonorMonthRollup.channel,
               DonorMonthRollup.gift_count, DonorMonthRollup.raised_cents)
        .where(DonorMonthRollup.donor_id == source_id,
               (DonorMonthRollup.gift_count != 0) | (DonorMonthRollup.raised_cents != 0))
    ).all()
    deltas: Deltas = {}
    for campaign_id, month, channel, count, raised in rows:
        _add(deltas, DonorMonthRollup, (campaign_id, month, channel, target_id), gift_count=count, raised_cents=raised)
        _add(deltas, DonorMonthRollup, (campaign_id, month, channel, source_id), gift_count=-count,
             raised_cents=-raised)
    _write(session, deltas)
    for campaign_id, month, channel, _count, _raised in rows:
        for donor_id in sorted((source_id, target_id)):
            _refresh_bitmaps(session, campaign_id, channel, donor_id, month)


def apply_fee(session: Session, gift: Gift, campaign_id: int, fee_cents: int) -> None:
    """A fee learned after the gift was recorded joins its arrival month; called only by ledger.py."""
    month = local_day(last_arrival(session, gift, campaign_id), current_settings().tz).replace(day=1)
    _write(session, {(MonthlyRollup, (campaign_id, month, gift.channel, gift.method)): {"fee_cents": fee_cents}})


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
    # Upserts that add in SQL: rows summed across campaigns are shared by every campaign's
    # transactions, so a read-modify-write here could lose another worker's change. Always the
    # same row order, so row locks can't deadlock; runs of one table go as one executemany.
    session.flush()  # the statements below bypass the ORM, so nothing pending may lag behind them
    connection = session.connection()
    batch: list[dict] = []
    statement = None
    for (model, key), changes in sorted(deltas.items(), key=_lock_order):
        if not changes:
            continue
        model_statement = _adding_upsert(connection.dialect.name, model)
        if model_statement is not statement and batch:
            connection.execute(statement, batch)
            batch = []
        statement = model_statement
        batch.append({**dict(zip(TABLES[model], key, strict=True)), **_zeros(model), **changes})
    if batch:
        connection.execute(statement, batch)


def _lock_order(item) -> tuple[str, tuple[str, ...]]:
    """The one order every writer upserts rollup rows in: by table, then by each key value as text
    (an enum and its plain string value sort alike, so a gift read back from the database and an
    import's gift built in memory take shared rows in the same order)."""
    (model, key), _changes = item
    return model.__tablename__, tuple(str(value) for value in key)


def bitmap_lock_order(campaign_id: int, channel: str, month: date) -> tuple:
    """The one order donor bitmap rows are created and locked in: a campaign's own rows before the
    sums across campaigns, a channel before all channels (as `scopes()` lists them for one gift)."""
    return campaign_id == ALL_CAMPAIGNS, str(channel) == ALL_CHANNELS, campaign_id, str(channel), month


@cache
def _adding_upsert(dialect: str, model: type):
    """INSERT … ON CONFLICT DO UPDATE adding every counter column, built once per table (so each
    write is a cached, compiled statement with parameters)."""
    table = model.__table__
    keys = TABLES[model]
    insert_ = dialect_insert(dialect, table)
    return insert_.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + insert_.excluded[name] for name in _zeros(model) if name != "bits"},
    )


def _refresh_bitmaps(session: Session, campaign_id: int, channel: GiftChannel, donor_id: int, month: date) -> None:
    """Set or clear the donor's bit for the month in the four scopes a donor-month change touches.

    Four statements whatever the scopes: the donor's active pairs; the rows the bit must be set
    in, created if missing; all four rows read and locked at once; the changed ones written."""
    active = {
        (c, str(ch))
        for c, ch in session.execute(
            select(DonorMonthRollup.campaign_id, DonorMonthRollup.channel).where(
                DonorMonthRollup.donor_id == donor_id, DonorMonthRollup.month == month,
                DonorMonthRollup.gift_count > 0,
            )
        )
    }
    wanted = bitmap_scopes(active)
    touched = scopes(campaign_id, channel)
    # The rows the bit goes in must exist; rows it would only be cleared from need not.
    to_create = [
        {"campaign_id": c, "channel": ch, "month": month, "bits": b""}
        for c, ch in sorted(touched, key=lambda scope: bitmap_lock_order(*scope, month)) if (c, ch) in wanted
    ]
    if to_create:
        session.connection().execute(upsert_insert(session, DonorBitmap).on_conflict_do_nothing(), to_create)
    # Locked in scopes()' order (own campaign first, then the shared sums), so row locks can't deadlock.
    rows = session.execute(
        select(DonorBitmap.campaign_id, DonorBitmap.channel, DonorBitmap.bits)
        .where(DonorBitmap.month == month, tuple_(DonorBitmap.campaign_id, DonorBitmap.channel).in_(touched))
        .order_by(DonorBitmap.campaign_id == ALL_CAMPAIGNS, DonorBitmap.channel == ALL_CHANNELS)
        .with_for_update()
    )
    bit = 1 << donor_id
    changed = []
    for scope_campaign, scope_channel, current in rows:
        bits = bits_of(current)
        new = bits | bit if (scope_campaign, scope_channel) in wanted else bits & ~bit
        if new != bits:
            changed.append({"c": scope_campaign, "ch": scope_channel, "m": month, "b": bytes_of(new)})
    if changed:
        session.connection().execute(_BITMAP_UPDATE, changed)  # executemany; no ORM objects to refresh


_BITMAP_UPDATE = (
    update(DonorBitmap)
    .where(DonorBitmap.campaign_id == bindparam("c"), DonorBitmap.channel == bindparam("ch"), DonorBitmap.month == bindparam("m"))
    .values(bits=bindparam("b"))
)


@cache
def _zeros(model: type) -> dict:
    keys = set(TABLES[model])
    return {c.name: (b"" if c.name == "bits" else 0) for c in model.__table__.columns if c.name not in keys}


# ---------------------------------------------------------------- from scratch, and checks


def compute_rollups(session: Session) -> Deltas:
    """Recompute every rollup from the ledger, streaming the entries gift by gift."""
    tz = current_settings().tz
    rows = session.execute(
        select(
            LedgerEntry.gift_id, LedgerEntry.campaign_id, LedgerEntry.kind, LedgerEntry.amount_cents,
            LedgerEntry.occurred_at, Gift.channel, Gift.method, Gift.donor_id, Gift.event_id,
            Gift.recurring_plan_id, Gift.fee_cents, Gift.fee_currency, Gift.currency,
        )
        .join(Gift, Gift.id == LedgerEntry.gift_id)
        .where(LedgerEntry.campaign_id.is_not(None))
        .order_by(LedgerEntry.gift_id, LedgerEntry.id)
        .execution_options(yield_per=20_000)
    )
    deltas: Deltas = {}
    for _gift_id, gift_rows in groupby(rows, key=itemgetter(0)):
        gift_rows = list(gift_rows)
        (_, _, _, _, _, channel, method, donor_id, event_id, plan_id, fee, fee_currency, currency) = gift_rows[0]
        # A fee settled in another currency is not summed with the gift's (Gift.fee_in_gift_currency).
        fee = fee if fee_currency in (None, currency) else None
        facts = GiftFacts(channel, method, donor_id, event_id, plan_id is not None, fee)
        _replay(deltas, [row[1:5] for row in gift_rows], facts, tz)
    deltas.update(_bitmaps_from(deltas))
    return _normalised(deltas)


def _replay(deltas: Deltas, entries: list, facts: GiftFacts, tz: ZoneInfo) -> None:
    """Count one gift's entries (campaign, kind, amount, occurred_at; in ledger order) as the ledger
    applied them: per campaign, what was left of the gift there and when it last arrived there."""
    state: dict[int, tuple[int, date]] = {}
    for campaign_id, kind, amount, occurred_at in entries:
        day = local_day(occurred_at, tz)
        net, arrival = state.get(campaign_id, (0, day))
        if kind in ARRIVAL_KINDS:
            arrival = day
        entry_deltas(
            deltas, campaign_id=campaign_id, kind=kind, amount_cents=amount, day=day,
            arrival_day=arrival, before_cents=net, gift=facts,
        )
        state[campaign_id] = (net + amount, arrival)


def restate_gift(session: Session, gift: Gift, before: GiftFacts, after: GiftFacts) -> None:
    """A fact the rollups are keyed by changed on a recorded gift (its method): every entry of the
    gift is taken out as it was counted and counted again under the new facts, so the board reads
    as if the gift had always been recorded so; called only by ledger.py."""
    entries = session.execute(
        select(LedgerEntry.campaign_id, LedgerEntry.kind, LedgerEntry.amount_cents, LedgerEntry.occurred_at)
        .where(LedgerEntry.gift_id == gift.id, LedgerEntry.campaign_id.is_not(None))
        .order_by(LedgerEntry.id)
    ).all()
    tz = current_settings().tz
    counted_before: Deltas = {}
    counted_after: Deltas = {}
    _replay(counted_before, entries, before, tz)
    _replay(counted_after, entries, after, tz)
    deltas: Deltas = {}
    for key, columns in counted_before.items():
        _add(deltas, *key, **{name: -value for name, value in columns.items()})
    for key, columns in counted_after.items():
        _add(deltas, *key, **columns)
    deltas = _normalised(deltas)
    _write(session, deltas)
    for _model, key in _donor_months_counted_anew(deltas):
        campaign_id, month, channel, donor_id = key
        _refresh_bitmaps(session, campaign_id, channel, donor_id, month)


def _bitmaps_from(deltas: Deltas) -> Deltas:
    """Donor bitmaps for every scope and month, from the recomputed donor months."""
    donors: dict[tuple, list[int]] = defaultdict(list)
    for (model, key), columns in deltas.items():
        if model is DonorMonthRollup and columns.get("gift_count", 0) > 0:
            campaign_id, month, channel, donor_id = key
            for scope_campaign, scope_channel in scopes(campaign_id, channel):
                donors[(scope_campaign, scope_channel, month)].append(donor_id)
    result: Deltas = {}
    for key, ids in donors.items():
        bits = bytearray(max(ids) // 8 + 1)
        for donor_id in ids:
            bits[donor_id // 8] |= 1 << (donor_id % 8)
        result[(DonorBitmap, key)] = {"bits": bits_of(bytes(bits))}
    return result


def stored_rollups(session: Session, model: type) -> Deltas:
    """One table's stored rollup rows in the same shape as compute_rollups (zeros left out)."""
    key_columns = TABLES[model]
    value_columns = [c.name for c in model.__table__.columns if c.name not in key_columns]
    result: Deltas = {}
    for row in session.connection().execute(select(model.__table__)).yield_per(20_000):
        values = row._mapping
        result[(model, tuple(values[k] for k in key_columns))] = {
            c: bits_of(values[c]) if c == "bits" else values[c] for c in value_columns
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
        if self.column == "bits":  # a bitmap of donors: say how many, not the bits
            return (f"{self.table} ({key}) donors: stored={self.stored.bit_count()} "
                    f"ledger={self.computed.bit_count()} ({(self.stored ^ self.computed).bit_count()} differ)")
        return f"{self.table} ({key}) {self.column}: stored={self.stored} ledger={self.computed}"


def differences(session: Session, computed: Deltas) -> list[RollupDifference]:
    """Each cell where the stored rollups and the recomputation disagree (one table at a time,
    so a million gifts' rollups are never all in memory twice)."""
    found = []
    for model in TABLES:
        found.extend(_table_differences(stored_rollups(session, model),
                                        {k: v for k, v in computed.items() if k[0] is model}))
    return found


def _table_differences(stored: Deltas, computed: Deltas) -> list[RollupDifference]:
    found = []
    for model, key in sorted(set(stored) | set(computed), key=lambda k: str(k[1])):
        have = stored.get((model, key), {})
        want = computed.get((model, key), {})
        for column in sorted(set(have) | set(want)):
            if have.get(column, 0) != want.get(column, 0):
                found.append(RollupDifference(model.__tablename__, key, column, have.get(column, 0), want.get(column, 0)))
    return found


def verify_rollups(session: Session) -> list[RollupDifference]:
    """Every difference between the stored rollups and a recomputation from the ledger."""
    return differences(session, compute_rollups(session))


def rebuild_rollups(session: Session, computed: Deltas | None = None) -> int:
    """Replace every rollup row with a recomputation from the ledger; returns the rows written."""
    computed = compute_rollups(session) if computed is None else computed
    grouped: dict[type, list[dict]] = defaultdict(list)
    for (model, key), columns in computed.items():
        row = dict(zip(TABLES[model], key, strict=True))
        row.update(_zeros(model))
        row.update(columns)
        if model is DonorBitmap:
            row["bits"] = bytes_of(row["bits"])
        grouped[model].append(row)
    for model in TABLES:
        session.execute(delete(model))
        rows = grouped.get(model, [])
        for start in range(0, len(rows), 10_000):
            session.execute(insert(model), rows[start:start + 10_000])
    session.flush()
    return sum(len(rows) for rows in grouped.values())


def apply_batch(session: Session, deltas: Deltas) -> None:
    """Apply many entries' deltas at once (an import); called only by ledger.py.

    The same counting rule as `apply_entry`; the donor bitmaps of every donor-month that changed
    are then set in one pass: a few statements per batch instead of four per gift."""
    _write(session, deltas)
    changed = [key for _model, key in _donor_months_counted_anew(deltas)]
    if not changed:
        return
    touched: dict[tuple[int, date], set[tuple[int, str]]] = defaultdict(set)
    for campaign_id, month, channel, donor_id in changed:
        touched[(donor_id, month)].update(scopes(campaign_id, channel))
    donors = sorted({d for d, _ in touched})
    months = sorted({m for _, m in touched})
    active: dict[tuple[int, date], set[tuple[int, str]]] = defaultdict(set)
    for start in range(0, len(donors), 900):
        for campaign_id, channel, donor_id, month in session.execute(
            select(DonorMonthRollup.campaign_id, DonorMonthRollup.channel, DonorMonthRollup.donor_id, DonorMonthRollup.month)
            .where(DonorMonthRollup.donor_id.in_(donors[start:start + 900]), DonorMonthRollup.month.in_(months),
                   DonorMonthRollup.gift_count > 0)
        ):
            if (donor_id, month) in touched:
                active[(donor_id, month)].add((campaign_id, str(channel)))
    wanted = {pair: bitmap_scopes(active[pair]) for pair in touched}
    to_create = sorted({
        (c, ch, month) for (donor_id, month), scopes_ in touched.items() for c, ch in scopes_
        if (c, ch) in wanted[(donor_id, month)]
    }, key=lambda scope: bitmap_lock_order(*scope))
    if to_create:
        session.connection().execute(
            upsert_insert(session, DonorBitmap).on_conflict_do_nothing(),
            [{"campaign_id": c, "channel": ch, "month": m, "bits": b""} for c, ch, m in to_create],
        )
    scope_set = {(c, ch, m) for (_, m), scopes_ in touched.items() for c, ch in scopes_}
    campaigns = sorted({c for c, _, _ in scope_set})
    rows = session.execute(
        select(DonorBitmap.campaign_id, DonorBitmap.channel, DonorBitmap.month, DonorBitmap.bits)
        .where(DonorBitmap.month.in_(months), DonorBitmap.campaign_id.in_(campaigns))
        .order_by(DonorBitmap.campaign_id == ALL_CAMPAIGNS, DonorBitmap.channel == ALL_CHANNELS,
                  DonorBitmap.campaign_id, DonorBitmap.channel, DonorBitmap.month)
        .with_for_update()
    )
    by_scope: dict[tuple[int, str, date], list[int]] = defaultdict(list)
    for (donor_id, month), scopes_ in touched.items():
        for c, ch in scopes_:
            by_scope[(c, ch, month)].append(donor_id)
    updates = []
    for scope_campaign, scope_channel, month, current in rows:
        key = (scope_campaign, str(scope_channel), month)
        if key not in by_scope:
            continue
        bits = new = bits_of(current)
        for donor_id in by_scope[key]:
            bit = 1 << donor_id
            new = new | bit if (scope_campaign, str(scope_channel)) in wanted[(donor_id, month)] else new & ~bit
        if new != bits:
            updates.append({"c": scope_campaign, "ch": scope_channel, "m": month, "b": bytes_of(new)})
    if updates:
        session.connection().execute(_BITMAP_UPDATE, updates)
