"""Import gifts from another platform's CSV export (Donorbox, Givebutter, Stripe, PayPal, Zeffy,
Little Green Light, Bloomerang) or a spreadsheet, without editing the file first.

One engine behind two doors (the staff import page and `flask import-gifts`): read the bytes
(UTF-8 with or without BOM, Windows-1252, Latin-1, decided per file and per line), guess each
column from the header names those platforms use (export_layouts.py holds those tables), check
every row (the dry run writes nothing), then record the importable rows through the ledger in
batches.

Each row gets a source key: "import:<source>:<transaction id>" (plain "import:<id>" for a
spreadsheet, as before), or, without an id, a fingerprint of the row's values numbered when the
same line appears more than once. Gift and ledger-entry source keys are unique, so importing the
same file again records nothing new, and a newer export that shows a refund adds just the refund.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from . import audit, ledger, text
from .audit import Actor
from .donors import DonorBook, check_email
from .export_layouts import (
    GIFT_STATUSES,
    LABELS,
    LATER_FIELDS,
    LATER_NAMES,
    METHOD_WORDS,
    MULTI_LINE_CELLS,
    NOT_GIFT_KIND_NAMES,
    NOT_GIFT_KINDS,
    ONLINE_SOURCES,
    RECURRING_WORDS,
    REFUNDED_STATUSES,
    REQUIRED,
    SIGNATURES,
    SKIPPED_STATUSES,
    SOURCES,
    TARGETS,
    TRUE_WORDS,
    UTC_ABBREVIATIONS,
    squash,
)
from .models import Campaign, Donor, Gift, GiftChannel, GiftMethod, LedgerEntry
from .money import MoneyError, parse_export_amount

MAX_BYTES = 16 * 1024 * 1024  # the app's request limit (MAX_CONTENT_LENGTH): about 50,000 rows of an export
MAX_ROWS = 100_000
EARLIEST = date(2000, 1, 1)
BATCH_ROWS = 2000

MOJIBAKE = re.compile(r"Ã[\x80-\xbf]|â€|Â[\xa0-\xbf]|\ufffd")


class ImportProblem(ValueError):
    """The file can't be read at all; the message says what to do."""


# ------------------------------------------------------------------------------ reading


@dataclass
class CsvFile:
    header: list[str]
    rows: list[list[str]]
    encoding: str = "UTF-8"
    # Row index (0-based, after the header) -> why it may be mis-decoded.
    suspect_rows: dict[int, str] = field(default_factory=dict)


def _decode(data: bytes) -> tuple[list[str], str, set[int]]:
    """The file's lines as text, the encoding it was read as, and lines that needed a fallback.

    A file that is valid UTF-8 is UTF-8. Otherwise, if most lines with non-ASCII bytes are UTF-8,
    it is a UTF-8 file with stray bytes from elsewhere: those lines alone are read as Windows-1252.
    Otherwise the whole file is Windows-1252 (what Excel writes), with Latin-1 for the five bytes
    Windows-1252 leaves undefined.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    lines = [line + b"\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    try:
        return [line.decode("utf-8") for line in lines], "UTF-8", set()
    except UnicodeDecodeError:
        pass
    utf8_ok = utf8_bad = 0
    for line in lines:
        if max(line, default=0) < 0x80:
            continue
        try:
            line.decode("utf-8")
            utf8_ok += 1
        except UnicodeDecodeError:
            utf8_bad += 1
    if utf8_ok > utf8_bad:
        decoded, fallback = [], set()
        for i, line in enumerate(lines):
            try:
                decoded.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                decoded.append(_windows_1252(line))
                fallback.add(i)
        return decoded, "UTF-8 (some lines Windows-1252)", fallback
    return [_windows_1252(line) for line in lines], "Windows-1252", set()


def _windows_1252(line: bytes) -> str:
    try:
        return line.decode("cp1252")
    except UnicodeDecodeError:  # one of the five bytes Windows-1252 leaves undefined
        return line.decode("latin-1")


def read_csv(data: bytes) -> CsvFile:
    """Decode and split a CSV file, refusing only what isn't one, with a message a person can act on."""
    if not data.strip():
        raise ImportProblem("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ImportProblem(f"The file is {len(data) // 1024 // 1024} MB; split it into files under {MAX_BYTES // 1024 // 1024} MB.")
    if data[:4] == b"PK\x03\x04" or b"\x00" in data[:4096]:
        raise ImportProblem("This looks like a spreadsheet file, not CSV. Save it as CSV first (File → Save As → CSV).")
    lines, encoding, fallback = _decode(data)
    sample = "".join(lines[:20])
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows: list[list[str]] = []
    suspect: dict[int, str] = {}
    reader = csv.reader(iter(lines), dialect)
    first_line = 0
    try:
        for row in reader:
            spans = range(first_line, reader.line_num)
            first_line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            index = len(rows) - 1  # the header is rows[0]
            rows.append(row)
            if index < 0:
                continue
            if any(i in fallback for i in spans):
                suspect[index] = "had bytes that aren't UTF-8 and was read as Windows-1252"
            elif any(MOJIBAKE.search(cell) for cell in row):
                suspect[index] = "has characters that look mis-decoded (like “Ã©” for “é”)"
    except csv.Error as exc:
        raise ImportProblem(f"The file isn't valid CSV near line {reader.line_num} ({exc}).") from None
    if len(rows) < 2:
        raise ImportProblem("The file needs a header row and at least one gift.")
    if len(rows) - 1 > MAX_ROWS:
        raise ImportProblem(f"The file has {len(rows) - 1} rows; import at most {MAX_ROWS} at a time.")
    header = [h.strip() for h in rows[0]]
    return CsvFile(header=header, rows=rows[1:], encoding=encoding, suspect_rows=suspect)


def guess_source(header: Sequence[str]) -> str:
    """Which platform wrote the file, from the header names only that platform uses."""
    names = {squash(h) for h in header}
    for source, needed in SIGNATURES:
        if all(n in names for n in needed):
            return source
    return "csv"


def guess_mapping(header: Sequence[str]) -> dict[str, str]:
    """Column (as its index, text) for each field, guessed from the header names."""
    squashed = [squash(h) for h in header]
    taken: set[int] = set()
    mapping = {}
    for name, _, candidates in TARGETS:
        for candidate in candidates:
            wanted = squash(candidate)
            found = next((i for i, h in enumerate(squashed) if h == wanted and i not in taken), None)
            if found is not None:
                mapping[name] = str(found)
                taken.add(found)
                break
    return mapping


# ------------------------------------------------------------------------------ choices


@dataclass
class ColumnMapping:
    columns: dict[str, int]
    default_campaign: Campaign | None
    default_method: GiftMethod
    source: str = "csv"
    # Each distinct value of the campaign column -> the campaign chosen for it (None: the default).
    campaign_values: dict[str, Campaign | None] = field(default_factory=dict)


def campaign_values(csv_file: CsvFile, column: int | None) -> Counter:
    """Each distinct value of the campaign column and how many rows carry it."""
    if column is None:
        return Counter()
    return Counter(row[column].strip() for row in csv_file.rows if column < len(row) and row[column].strip())


def guess_campaign(value: str, campaigns: Sequence[Campaign]) -> Campaign | None:
    """The campaign a file's campaign value names (by web address or title, loosely), if any."""
    wanted = squash(value)
    for c in campaigns:
        if wanted in (squash(c.slug), squash(c.title)):
            return c
    return None


def parse_mapping(
    form: Mapping[str, str], header: Sequence[str], campaigns: Sequence[Campaign], csv_file: CsvFile | None = None
) -> tuple[ColumnMapping | None, dict[str, str]]:
    """The chosen column for each field, campaign for each campaign value, and defaults; every
    missing choice gets a message."""
    errors: dict[str, str] = {}
    columns: dict[str, int] = {}
    for name, label, _ in TARGETS:
        raw = (form.get(f"map_{name}") or "").strip()
        if raw.isdigit() and int(raw) < len(header):
            columns[name] = int(raw)
        elif name in REQUIRED:
            errors[f"map_{name}"] = f"Please choose the column with the {label.lower()}."
    by_id = {str(c.id): c for c in campaigns}
    default_campaign = by_id.get((form.get("default_campaign") or "").strip())
    chosen: dict[str, Campaign | None] = {}
    if csv_file is not None and "campaign" in columns:
        for i, (value, _count) in enumerate(sorted(campaign_values(csv_file, columns["campaign"]).items())):
            raw = form.get(f"campaign_value_{i}")
            chosen[value] = by_id.get(raw.strip()) if raw is not None else guess_campaign(value, campaigns)
    if default_campaign is None and "campaign" not in columns:
        errors["default_campaign"] = "Choose a campaign column, or the campaign all these gifts are for."
    method_raw = (form.get("default_method") or "").strip()
    default_method = GiftMethod(method_raw) if method_raw in GiftMethod._value2member_map_ else None
    source = (form.get("source") or "").strip()
    if source not in SOURCES:
        source = guess_source(header)
    if default_method is None:
        default_method = GiftMethod.CARD if source in ONLINE_SOURCES else GiftMethod.CHECK
    if errors:
        return None, errors
    return ColumnMapping(columns, default_campaign, default_method, source, chosen), {}


def mapping_from_headers(
    header: Sequence[str], overrides: Mapping[str, str], campaigns: Sequence[Campaign], default_campaign: Campaign | None,
    csv_file: CsvFile,
) -> tuple[ColumnMapping | None, dict[str, str]]:
    """The command's mapping: guessed columns, `FIELD=HEADER` overrides and a default campaign."""
    values = {f"map_{k}": v for k, v in guess_mapping(header).items()}
    squashed = [squash(h) for h in header]
    errors: dict[str, str] = {}
    for name, wanted in overrides.items():
        if name not in LABELS:
            errors[f"map_{name}"] = f"There is no field called “{name}”; choose from {', '.join(LABELS)}."
        elif not wanted:
            values.pop(f"map_{name}", None)
        elif squash(wanted) in squashed:
            values[f"map_{name}"] = str(squashed.index(squash(wanted)))
        else:
            errors[f"map_{name}"] = f"The file has no column called “{wanted}”."
    if default_campaign is not None:
        values["default_campaign"] = str(default_campaign.id)
    mapping, more = parse_mapping(values, header, campaigns, csv_file)
    errors = {**more, **errors}  # a wrong override explains itself, not as a missing column
    return (None if errors else mapping), errors


# ------------------------------------------------------------------------------ checking


@dataclass
class ImportedGift:
    """One row's gift as the ledger will get it, with its donor's details."""

    campaign: Campaign
    amount_cents: int
    currency: str
    received_at: datetime
    method: GiftMethod
    channel: GiftChannel
    fee_cents: int | None = None
    is_anonymous: bool = False
    public_comment: str | None = None
    private_note: str | None = None
    reference: str | None = None
    refund_cents: int = 0
    refund_at: datetime | None = None  # the export's refund date; None: the gift's own
    refund_reason: str | None = None
    email: str | None = None
    name: str | None = None
    contact: dict[str, str] = field(default_factory=dict)


@dataclass
class RowResult:
    """One row of the file after checking: its gift, or why it isn't imported."""

    number: int
    cells: dict[str, str]
    source_key: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: str | None = None
    already_imported: bool = False
    refund_pending: bool = False
    entry: ImportedGift | None = None
    refund_of: str | None = None  # source key of the gift a negative row refunds
    refund_cents: int = 0
    refund_at: datetime | None = None
    legacy_key: str | None = None  # the key an earlier version gave this row (LATER_NAMES)
    donor_match: str = ""  # "email", "new", "name", "none"
    matched_donor: str | None = None

    @property
    def importable(self) -> bool:
        if self.errors or self.skipped:
            return False
        if self.refund_of is not None:
            return True
        return self.entry is not None and (not self.already_imported or self.refund_pending)

    @property
    def outcome(self) -> str:
        if self.errors:
            return "problem: " + "; ".join(self.errors)
        if self.skipped:
            return "skipped: " + self.skipped
        if self.refund_of is not None:
            return "refund of an earlier gift"
        if self.already_imported:
            return "refund to record (gift imported before)" if self.refund_pending else "already imported"
        if self.entry and self.entry.refund_cents:
            partly = self.entry.refund_cents < self.entry.amount_cents
            return "import, then refund " + ("part" if partly else "all")
        return "import"


@dataclass
class Check:
    """The dry run of a whole file."""

    rows: list[RowResult]
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def importable(self) -> list[RowResult]:
        return [r for r in self.rows if r.importable]

    def count(self, what: str) -> int:
        return sum(1 for r in self.rows if _bucket(r) == what)


def _bucket(r: RowResult) -> str:
    if r.errors:
        return "problem"
    if r.skipped:
        return "skipped"
    if r.importable:
        return "import"
    return "already"


def _timezone_of(header_name: str, tz_cell: str, org_tz) -> tuple:
    """The zone a naive time in this column is in: the row's time-zone cell, the header's "(UTC)", else ours."""
    for zone_name in (tz_cell, (re.search(r"\(([^)]+)\)\s*$", header_name) or [None, ""])[1]):
        zone_name = (zone_name or "").strip()
        if not zone_name:
            continue
        if zone_name.lower() in UTC_ABBREVIATIONS:
            return timezone(timedelta(hours=UTC_ABBREVIATIONS[zone_name.lower()]))
        try:
            return ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return org_tz


DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y", "%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%b %d %Y")
TIME_FORMATS = ("%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p", "%I:%M:%S%p", "%I:%M%p", "%H:%M:%S.%f")
SLASH_DATE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})\b")


def day_first_file(values: Sequence[str]) -> bool | None:
    """True when the file's slash dates are day-first (some first part is over 12), False when
    provably month-first, None when every date could be read either way."""
    first_big = second_big = False
    for value in values:
        m = SLASH_DATE.match(value)
        if m:
            first_big |= int(m.group(1)) > 12
            second_big |= int(m.group(2)) > 12
    if first_big and not second_big:
        return True
    if second_big:
        return False
    return None


_PATTERNS: dict[tuple[str, bool], tuple[str, bool]] = {}


@cache
def _patterns(day_first: bool) -> tuple[tuple[str, bool], ...]:
    formats = DATE_FORMATS
    if day_first:
        formats = tuple(f.replace("%m/%d", "%d/%m").replace("%m-%d", "%d-%m") for f in DATE_FORMATS)
    return tuple((d, False) if t is None else (f"{d} {t}", True) for d in formats for t in (None, *TIME_FORMATS))


def parse_moment(raw: str, time_raw: str, zone, *, day_first: bool = False) -> tuple[datetime, bool]:
    """A date or date-time as platforms write it, in `zone` unless it carries its own offset; and
    whether it had a time (a bare date is taken as noon, so it reads the same day everywhere)."""
    text = " ".join(part for part in (raw.strip(), time_raw.strip()) if part)
    if not text:
        raise ValueError("no date")
    iso = text.replace(" UTC", "Z").replace(" GMT", "Z")
    if re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d", iso):
        try:
            moment = datetime.fromisoformat(iso)
        except ValueError:
            moment = None
        if moment is not None:
            return (moment.replace(tzinfo=zone) if moment.tzinfo is None else moment), True
    text = re.sub(r"\s+", " ", text.replace(" at ", " ")).strip()
    text = re.sub(r"\s*\(?\b(UTC|GMT|[ECMP][SD]T)\)?$", "", text)
    shape = (re.sub(r"\d", "9", text), day_first)
    known = _PATTERNS.get(shape)
    for pattern, has_time in ((known,) if known else _patterns(day_first)):
        try:
            moment = datetime.strptime(text, pattern)
        except ValueError:
            continue
        _PATTERNS[shape] = (pattern, has_time)  # the next date written the same way is read in one try
        if not has_time:
            return datetime.combine(moment.date(), time(12), tzinfo=zone), False
        return moment.replace(tzinfo=zone), True
    raise ValueError(f"“{raw[:30]}” isn't a date we can read; use 2025-03-01 or 03/01/2025 (with a time if you like)")


_COUNTRIES: dict[str, str] = {}


def country_code(value: str) -> str | None:
    """A two-letter country code from "US", "USA", "United States" or "Canada"."""
    if not _COUNTRIES:
        for code, name in Locale("en").territories.items():
            if len(code) == 2:
                _COUNTRIES[squash(name)] = code
        _COUNTRIES.update({"usa": "US", "unitedstatesofamerica": "US", "uk": "GB", "greatbritain": "GB"})
    value = value.strip()
    if len(value) == 2 and value.isalpha():
        return value.upper()
    return _COUNTRIES.get(squash(value))


# A plain ASCII address (dot-atom local part): only its domain needs the validator's rules.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)


@lru_cache(maxsize=4096)
def _checked_domain(domain: str) -> str:
    return check_email(f"x@{domain}").split("@", 1)[1]


def _checked_email(address: str) -> str:
    """`check_email`'s answer, quicker for a file of 50,000 addresses: a plain address's domain (where
    the validator's rules are: special-use names, label lengths, a real top-level domain) is checked
    once per file; anything else (quoted, non-ASCII) goes through the validator whole."""
    address = address.strip()
    match = _PLAIN_EMAIL.fullmatch(address)
    if match and len(address) <= 254 and match.start(1) <= 65:
        return f"{address[:match.start(1) - 1].lower()}@{_checked_domain(match.group(1).lower())}"
    return check_email(address)


def _truthy(value: str) -> bool:
    return value.strip().lower() in TRUE_WORDS


def check_rows(
    session: Session, csv_file: CsvFile, mapping: ColumnMapping, campaigns: Sequence[Campaign], today: date, tz
) -> Check:
    """The dry run: every row checked (date, amount, status, donor, campaign, duplicates) and nothing written."""
    source = mapping.source
    prefix = "import:" if source == "csv" else f"import:{source}:"
    date_column = mapping.columns.get("received_on")
    header_of = {name: csv_file.header[i] for name, i in mapping.columns.items()}
    dates = [row[date_column] for row in csv_file.rows if date_column is not None and date_column < len(row)]
    day_first = day_first_file(dates)
    notes = [f"Read as {csv_file.encoding}; columns guessed for {SOURCES[source]}."]
    if day_first:
        notes.append("Dates are read day first (31/01/2025 is 31 January), as some dates in the file can only be.")
    fingerprints: Counter = Counter()
    legacy_prints: Counter = Counter()
    newly_named = {k for k, header in header_of.items() if squash(header) in LATER_NAMES.get(k, ())}
    first_line: dict[str, int] = {}
    ids_seen: dict[str, int] = {}
    results: list[RowResult] = []
    for offset, row in enumerate(csv_file.rows):
        number = offset + 2  # as the spreadsheet numbers it, after the header row
        cells = {name: (row[i].strip() if i < len(row) else "") for name, i in mapping.columns.items()}
        cleaned = text.problem("".join(row)) is not None
        if cleaned:
            # The donor-text rule at the boundary (no control character reaches a mail header), as
            # for payments and forms; one regex search a row keeps clean files fast.
            cells = {name: text.clean(value, multiline=name in MULTI_LINE_CELLS).strip() for name, value in cells.items()}
        external = cells.get("external_id", "")[:200]
        line = "\x1f".join(c.strip() for c in row)
        legacy = None
        if external:
            key = f"{prefix}{external}"
        else:
            # Of the mapped cells, as before: files imported by earlier versions keep their keys.
            key = _row_key(cells, LATER_FIELDS, fingerprints)
            if newly_named:
                legacy = _row_key(cells, LATER_FIELDS | newly_named, legacy_prints)
        result = RowResult(number=number, cells=cells, source_key=key, legacy_key=legacy)
        results.append(result)
        if cleaned:
            result.warnings.append("invisible control characters removed")
        if offset in csv_file.suspect_rows:
            result.warnings.append(f"this row {csv_file.suspect_rows[offset]}: check the names")
        if len(row) != len(csv_file.header):
            result.errors.append(f"has {len(row)} columns; the header has {len(csv_file.header)}")
            continue
        if external:
            if external in ids_seen:
                result.skipped = f"repeats transaction {external[:40]} of row {ids_seen[external]}; imported once"
                continue
            ids_seen[external] = number
        elif line in first_line:
            result.warnings.append(f"identical to row {first_line[line]}: check it isn't entered twice")
        else:
            first_line[line] = number
        _check_one(result, cells, mapping, mapping.campaign_values, header_of, day_first, today, tz)
    _mark_already_imported(session, results)
    _match_donors(session, results)
    return Check(rows=results, source=source, notes=notes)


def _row_key(cells: dict[str, str], left_out: frozenset[str] | set[str], seen: Counter) -> str:
    """A row without a transaction id: a fingerprint of its mapped cells, numbered among its twins."""
    values = "\x1f".join(f"{k}={cells[k]}" for k in sorted(cells) if k not in left_out)
    fingerprint = hashlib.sha256(values.encode()).hexdigest()[:40]
    seen[fingerprint] += 1
    return f"import:row:{fingerprint}:{seen[fingerprint]}"


def _check_one(result: RowResult, cells, mapping: ColumnMapping, lookup, header_of, day_first, today, tz) -> None:
    status = squash(cells.get("status", ""))
    kind = squash(cells.get("kind", ""))
    if status in SKIPPED_STATUSES:
        result.skipped = f"status “{cells['status'][:30]}” (not a completed payment)"
        return
    if kind in NOT_GIFT_KIND_NAMES or any(word in kind for word in NOT_GIFT_KINDS):
        result.skipped = f"type “{cells['kind'][:30]}” (not a gift)"
        return
    mode = squash(cells.get("mode", ""))
    if mode == "test" or (mode in ("false", "no", "0") and squash(header_of.get("mode", "")) == "livemode"):
        result.skipped = "a test payment (no money moved)"
        return
    if squash(cells.get("balance_impact", "")) == "memo":
        result.skipped = "a memo line (it didn't change the balance)"
        return
    refunded_status = status in REFUNDED_STATUSES
    if status not in GIFT_STATUSES and not refunded_status:
        result.errors.append(f"unknown status “{cells['status'][:30]}” (expected paid, succeeded, refunded, failed, pending…)")
    campaign = mapping.default_campaign
    value = cells.get("campaign", "")
    if value:
        campaign = lookup.get(value) or mapping.default_campaign
    if campaign is None:
        result.errors.append(
            f"campaign “{value[:60]}” isn't matched to one of ours: choose one for it above" if value
            else "no campaign: choose the campaign for rows without one"
        )
        return
    currency = (cells.get("currency") or campaign.currency).strip().upper()
    if currency != campaign.currency:
        result.errors.append(f"the gift is in {currency[:3]} but {campaign.title} takes {campaign.currency}")
        return
    amount = 0
    try:
        amount = parse_export_amount(cells.get("amount"), currency)
    except MoneyError as exc:
        result.errors.append(f"amount: {exc}")
    zone = _timezone_of(header_of.get("received_on", ""), cells.get("timezone", ""), tz)
    moment = None
    try:
        moment, _ = parse_moment(cells.get("received_on", ""), cells.get("time", ""), zone, day_first=bool(day_first))
    except ValueError as exc:
        result.errors.append(f"date: {exc}" if str(exc) != "no date" else "date: missing")
    if moment is not None:
        moment = moment.astimezone(tz)
        if moment.date() > today:
            result.errors.append("date: in the future")
        elif moment.date() < EARLIEST:
            result.errors.append("date: before 2000; please check the year")
        elif day_first is None and SLASH_DATE.match(cells.get("received_on", "")):
            m = SLASH_DATE.match(cells["received_on"])
            if int(m.group(1)) != int(m.group(2)):
                result.warnings.append(f"date {cells['received_on'][:10]} read month first ({moment:%B %-d}); it could be day first")
    if amount == 0 and not result.errors:
        result.errors.append("amount: zero")
    if result.errors:
        return
    refund_words = "refund" in kind or "reversal" in kind
    if amount < 0 or (refund_words and cells.get("refund_of")):
        # A refund row of its own (PayPal writes them): it takes money back from the gift it names.
        original = cells.get("refund_of", "")
        if not original:
            result.errors.append("a negative amount (a refund) without the transaction it refunds")
            return
        prefix = "import:" if mapping.source == "csv" else f"import:{mapping.source}:"
        result.refund_of = f"{prefix}{original[:200]}"
        result.refund_cents = abs(amount)
        result.refund_at = moment
        return
    fee = None
    try:
        if cells.get("fee"):
            fee = abs(parse_export_amount(cells["fee"], currency))
        elif cells.get("net"):
            fee = amount - abs(parse_export_amount(cells["net"], currency))
    except MoneyError as exc:
        result.warnings.append(f"fee not read ({exc})")
    if fee is not None and not 0 <= fee <= amount:
        result.warnings.append("fee not kept: it isn't between zero and the amount")
        fee = None
    refund = 0
    if cells.get("refunded_amount"):
        try:
            refund = abs(parse_export_amount(cells["refunded_amount"], currency))
        except MoneyError:
            if _truthy(cells["refunded_amount"]):
                refund = amount
            elif squash(cells["refunded_amount"]) not in ("no", "false", "0", "n"):
                result.errors.append(f"amount refunded: “{cells['refunded_amount'][:20]}” isn't an amount")
                return
    if refunded_status and not refund:
        refund = amount
    refund_reason = "Refunded (as the export shows)"
    if squash(cells.get("dispute_status", "")) == "lost":
        # The bank took the payment back: it stands as given, then taken back whole.
        result.warnings.append("dispute lost: recorded as taken back")
        refund, refund_reason = amount, "Dispute lost (as the export shows)"
    if refund > amount:
        result.errors.append("the refunded amount is more than the gift")
        return
    refund_at = None
    if refund and cells.get("refunded_on"):
        refund_zone = _timezone_of(header_of.get("refunded_on", ""), cells.get("timezone", ""), tz)
        try:
            refund_at = parse_moment(cells["refunded_on"], "", refund_zone, day_first=bool(day_first))[0].astimezone(tz)
        except ValueError:
            result.warnings.append("refund date not read: the refund is dated with the gift")
        else:
            if refund_at.date() > today or refund_at < moment:
                result.warnings.append("refund date in the future or before the gift: the refund is dated with the gift")
                refund_at = None
    method_text = cells.get("method", "") or ("PayPal" if mapping.source == "paypal" else "")
    method = mapping.default_method
    if method_text:
        method = METHOD_WORDS.get(squash(method_text))
        if method is None:
            method = GiftMethod.OTHER
            result.warnings.append(f"method “{method_text[:30]}” kept in the note, recorded as other")
    online = mapping.source in ONLINE_SOURCES and method not in (GiftMethod.CHECK, GiftMethod.CASH, GiftMethod.STOCK)
    email = None
    if cells.get("donor_email"):
        try:
            email = _checked_email(cells["donor_email"])
        except ValueError:
            result.errors.append(f"“{cells['donor_email'][:60]}” isn't an email address")
            return
    name = cells.get("donor_name") or " ".join(p for p in (cells.get("first_name"), cells.get("last_name")) if p)
    name = name.strip()[:200] or None
    anonymous = _truthy(cells.get("anonymous", ""))
    if name and squash(name) == "anonymous" and not email:
        name, anonymous = None, True
    if not name and not email and not anonymous:
        result.errors.append("no donor name or email (mark the row anonymous if it was)")
        return
    contact = {}
    for part in ("phone", "address_line1", "address_line2", "city", "region", "postal_code"):
        if cells.get(part):
            contact[part] = cells[part][:40 if part == "phone" else 20 if part == "postal_code" else 200]
    if cells.get("country"):
        code = country_code(cells["country"])
        if code:
            contact["country"] = code
        else:
            result.warnings.append(f"country “{cells['country'][:30]}” not recognised; left off the donor")
    recurring = _truthy(cells.get("recurring", "")) or squash(cells.get("recurring", "")) in RECURRING_WORDS or any(
        w in kind for w in ("subscription", "recurring")
    )
    notes = [f"Imported from {SOURCES[mapping.source]}" + (f" (transaction {cells['external_id'][:60]})" if cells.get("external_id") else "")]
    if method_text and squash(method_text) not in (method.value.replace("_", ""), "card", "check", "cash", "stripe"):
        notes.append(f"paid with {method_text[:40]}")
    if recurring:
        frequency = cells.get("recurring", "")
        notes.append("recurring" + (f" ({frequency[:20]})" if squash(frequency) in RECURRING_WORDS else ""))
    note = "; ".join(notes) + "."
    if cells.get("note"):
        note += "\n" + cells["note"][:1800]
    result.entry = ImportedGift(
        campaign=campaign, amount_cents=amount, currency=currency, received_at=moment, method=method,
        channel=GiftChannel.ONLINE if online else GiftChannel.OFFLINE, fee_cents=fee, is_anonymous=anonymous,
        public_comment=cells.get("comment", "")[:1000] or None, private_note=note,
        reference=(cells.get("reference") or cells.get("external_id") or "")[:200] or None, refund_cents=refund,
        refund_at=refund_at, refund_reason=refund_reason if refund else None, email=email, name=name, contact=contact,
    )


def _mark_already_imported(session: Session, results: list[RowResult]) -> None:
    """Rows whose gift (or refund) the ledger already has; a later refund of an imported gift still counts."""
    aliases = _recorded_elsewhere(session, [r for r in results if r.entry is not None])
    from_stripe = {row: gift_id for row, (gift_id, key) in aliases.items() if not key.startswith("import:")}
    stored = {row: key for row, (_, key) in aliases.items() if key.startswith("import:")}
    stored |= {key: key for key in _present(session, Gift.source_key, [r.legacy_key for r in results if r.legacy_key])}
    for r in results:
        # Imported before under another layout's key, or an earlier version's: this row is that
        # gift, and so are its refunds.
        r.source_key = stored.get(r.legacy_key or "", stored.get(r.source_key, r.source_key))
        if r.refund_of is not None:
            r.refund_of = stored.get(r.refund_of, r.refund_of)
    keys = [r.source_key for r in results if r.entry is not None or r.refund_of is not None]
    known = _present(session, Gift.source_key, keys) | _present(session, LedgerEntry.source_key, keys)
    refunded = _present(session, LedgerEntry.source_key,
                        [f"{r.source_key}:refund" for r in results if r.entry is not None and r.entry.refund_cents])
    in_file = {r.source_key for r in results
               if r.entry is not None and not r.errors and not r.skipped and r.source_key not in from_stripe}
    for r in results:
        if r.source_key in from_stripe:
            # Recorded from Stripe's own events while the app was live: its refunds come the same way.
            r.already_imported = True
            r.warnings.append(f"recorded already from Stripe as gift {from_stripe[r.source_key]}")
        elif r.refund_of is not None and r.refund_of in from_stripe:
            r.skipped = "refunds a payment recorded from Stripe, whose refunds come from Stripe too"
        elif r.source_key in known:
            r.already_imported = True
            r.refund_pending = bool(r.entry and r.entry.refund_cents and f"{r.source_key}:refund" not in refunded)
            if r.refund_of is not None:
                r.refund_of = None
        elif (
            r.refund_of is not None and r.refund_of not in in_file and r.refund_of not in known
            and session.scalar(select(Gift.id).where(Gift.source_key == r.refund_of)) is None
        ):
            r.errors.append("refunds a transaction that is neither in this file nor imported before")


def _present(session: Session, column, values: list[str]) -> set[str]:
    """The values the column holds, asked 900 at a time (older SQLite takes at most 999 parameters)."""
    found: set[str] = set()
    for start in range(0, len(values), 900):
        found.update(session.scalars(select(column).where(column.in_(values[start:start + 900]))))
    return found


# Stripe's charge, payment and PaymentIntent ids: unique across every export and layout, unlike a
# platform's own gift numbers (another platform's "1001" is another gift).
STRIPE_ID = re.compile(r"(ch|py|pi)_[0-9A-Za-z]+")


def _recorded_elsewhere(session: Session, results: list[RowResult]) -> dict[str, tuple[int, str]]:
    """Rows whose Stripe payment the ledger has under another key ({row key: (gift id, its key)}):
    recorded by a webhook while the app was live (an export of the months before and after going
    live holds both), or imported before from the other layout of Stripe's export, or as a
    spreadsheet ("import:ch_1" and "import:stripe:ch_1")."""
    by_id = {r.cells["external_id"][:200]: r.source_key for r in results
             if STRIPE_ID.fullmatch(r.cells.get("external_id", "")[:200])}
    found: dict[str, tuple[int, str]] = {}
    ids = list(by_id)
    for start in range(0, len(ids), 200):
        chunk = ids[start:start + 200]
        keys = {f"import:{i}": i for i in chunk} | {f"import:stripe:{i}": i for i in chunk}
        for gift_id, key, charge, intent in session.execute(
            select(Gift.id, Gift.source_key, Gift.stripe_charge_id, Gift.stripe_payment_intent_id).where(or_(
                Gift.stripe_charge_id.in_(chunk), Gift.stripe_payment_intent_id.in_(chunk), Gift.source_key.in_(list(keys))))
        ):
            for external in (keys.get(key), charge, intent):
                if external in by_id and by_id[external] != key:
                    found[by_id[external]] = (gift_id, key)
    return found


def _match_donors(session: Session, results: list[RowResult]) -> None:
    """Say for each row whether its donor is known by email, new, or only shares a name (for review)."""
    emails = {r.entry.email for r in results if r.entry and r.entry.email}
    known_emails: dict[str, str] = {}
    email_list = sorted(emails)
    for start in range(0, len(email_list), 900):
        for email, name in session.execute(
            select(Donor.email, Donor.name).where(Donor.email.in_(email_list[start:start + 900]))
        ):
            known_emails[email] = name
    names = {r.entry.name.lower() for r in results if r.entry and r.entry.name and not r.entry.email}
    names |= {r.entry.name.lower() for r in results if r.entry and r.entry.name and r.entry.email not in known_emails}
    known_names: dict[str, int] = {}
    name_list = sorted(names)
    for start in range(0, len(name_list), 900):
        for name, count in session.execute(
            select(func.lower(Donor.name), func.count()).where(
                func.lower(Donor.name).in_(name_list[start:start + 900]), Donor.merged_into_id.is_(None)
            ).group_by(func.lower(Donor.name))
        ):
            known_names[name] = count
    for r in results:
        if r.entry is None:
            continue
        if r.entry.email and r.entry.email in known_emails:
            r.donor_match, r.matched_donor = "email", known_emails[r.entry.email]
        elif r.entry.name and r.entry.name.lower() in known_names:
            r.donor_match = "name"
            r.warnings.append(
                f"a donor called {r.entry.name} already exists; a new donor is created (merge them on the donor page if the same)"
            )
        elif r.entry.name or r.entry.email:
            r.donor_match = "new"
        else:
            r.donor_match = "none"


# ------------------------------------------------------------------------------ importing


@dataclass
class ImportSummary:
    imported: int = 0
    refunds: int = 0
    already: int = 0
    skipped: int = 0
    problems: int = 0
    donors_matched: int = 0
    donors_created: int = 0
    gift_ids: list[int] = field(default_factory=list)

    def lines(self, check: Check) -> list[str]:
        """What happened, as the command prints it and the page shows it."""
        out = [
            f"Imported {self.imported} gift{'s' if self.imported != 1 else ''}; recorded {self.refunds} refund{'s' if self.refunds != 1 else ''}.",
            f"Donors: {self.donors_matched} matched by email, {self.donors_created} created.",
        ]
        if self.already:
            out.append(f"{self.already} row{'s' if self.already != 1 else ''} imported before (nothing added).")
        for r in check.rows:
            if r.skipped or r.errors:
                out.append(f"Row {r.number}: {r.outcome}")
        return out


def import_rows(
    session: Session, actor: Actor, check: Check, filename: str, *,
    on_batch: Callable[[int, ImportSummary], None] | None = None, batch_rows: int = BATCH_ROWS,
    send_receipts: bool = False,
) -> ImportSummary:
    """Record every importable row through the ledger: new gifts (with the refunds the export
    shows) a batch at a time, then refunds of gifts imported before, then refund rows of their own.

    After each batch `on_batch(rows done, summary)` lets the caller commit and report progress;
    source keys make a re-run after an interruption add only what is missing. Imported gifts are
    often old ones already thanked elsewhere, so receipts are queued only when asked.
    """
    from .receipts import queue_for_gift

    summary = ImportSummary(already=check.count("already"), skipped=check.count("skipped"), problems=check.count("problem"))
    donors = DonorBook(session)
    new = [r for r in check.rows if r.importable and r.refund_of is None and not r.already_imported]
    later = [r for r in check.rows if r.importable and (r.refund_of is not None or r.already_imported)]
    done = 0
    for start in range(0, len(new), batch_rows):
        batch = new[start:start + batch_rows]
        donors.resolve([(r.entry.email, r.entry.name, r.entry.contact) for r in batch])
        written = ledger.record_gift_batch(session, [
            ledger.NewGift(
                campaign=r.entry.campaign, amount_cents=r.entry.amount_cents, currency=r.entry.currency,
                received_at=r.entry.received_at, channel=r.entry.channel, method=r.entry.method,
                source_key=r.source_key, donor_id=donors.donor_id(r.entry.email, r.entry.name), reference=r.entry.reference,
                fee_cents=r.entry.fee_cents, is_anonymous=r.entry.is_anonymous, public_comment=r.entry.public_comment,
                private_note=r.entry.private_note, refund_cents=r.entry.refund_cents, refund_at=r.entry.refund_at,
                refund_reason=r.entry.refund_reason,
                recorded_by_id=actor.user_id,
            )
            for r in batch
        ])
        summary.donors_matched, summary.donors_created = donors.matched, len(donors.created)
        summary.imported += len(written)
        summary.refunds += sum(1 for r in batch if r.source_key in written and r.entry.refund_cents)
        summary.gift_ids.extend(written.values())
        if send_receipts:
            for gift in session.scalars(select(Gift).where(Gift.id.in_(list(written.values())))):
                queue_for_gift(session, gift)
        done += len(batch)
        if on_batch is not None:
            on_batch(done, summary)
    for r in later:
        if r.refund_of is not None:
            gift = session.scalar(select(Gift).where(Gift.source_key == r.refund_of))
            cents, key, when, reason = r.refund_cents, r.source_key, r.refund_at, "Refund (imported)"
        else:
            gift = session.scalar(select(Gift).where(Gift.source_key == r.source_key))
            cents, key, reason = r.entry.refund_cents, f"{r.source_key}:refund", r.entry.refund_reason
            when = r.entry.refund_at or r.entry.received_at
        left = ledger.gift_net(session, gift)
        if left > 0:
            ledger.refund_gift(session, gift, min(cents, left), reason=reason, source_key=key,
                               reference=r.cells.get("external_id") or None, by_user_id=actor.user_id, occurred_at=when)
            summary.refunds += 1
        done += 1
    audit.record(
        session, actor, "gifts.import", "import", filename[:50] or "upload",
        after={"source": check.source, "imported": summary.imported, "refunds": summary.refunds,
               "gift_ids": summary.gift_ids[:5000], "donors_created": donors.created[:5000],
               "skipped": len(check.rows) - len(new) - len(later)},
    )
    session.flush()
    if on_batch is not None:
        on_batch(done, summary)
    return summary


def rejected_csv(csv_file: CsvFile, check: Check) -> str:
    """The rows that weren't imported because of a problem, as they were, with a reason column: fix, upload again."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*csv_file.header, "Reason"])
    for r in check.rows:
        if r.errors:
            writer.writerow([*csv_file.rows[r.number - 2], "; ".join(r.errors)])
    return out.getvalue()
