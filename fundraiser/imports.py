"""CSV import of gifts: read the file, map its columns, check every row (a dry run that writes
nothing), then record all valid rows in one transaction.

Each row gets a source key: "import:<id>" from the file's own unique-id column, or, without one,
a fingerprint of the row's values (numbered when the same row appears more than once). Gift
source keys are unique, so importing the same file again records nothing new.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, gifts
from .audit import Actor
from .donors import check_email, surviving
from .models import Campaign, Donor, Gift, GiftMethod
from .money import MoneyError, parse_amount

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
TARGETS: list[tuple[str, str, tuple[str, ...]]] = [
    # (field, label, header names it is guessed from)
    ("received_on", "Date received", ("date", "received", "date received", "gift date", "created", "donation date")),
    ("amount", "Amount", ("amount", "gift amount", "total", "donation amount", "net amount", "value")),
    ("donor_name", "Donor name", ("name", "donor", "donor name", "full name", "supporter")),
    ("donor_email", "Donor email", ("email", "e-mail", "donor email", "email address")),
    ("campaign", "Campaign (web address or title)", ("campaign", "fund", "appeal", "designation")),
    ("method", "Method", ("method", "payment method", "type", "payment type")),
    ("reference", "Check or reference number", ("check", "check number", "check #", "reference", "ref")),
    ("external_id", "The gift's unique id in this file", ("id", "transaction id", "gift id", "external id", "donation id")),
    ("note", "Note", ("note", "notes", "memo", "comment")),
    # The donor's mailing address, for letters and statements posted to donors without email.
    ("address_line1", "Donor address", ("address", "address line 1", "address1", "street", "street address", "mailing address")),
    ("address_line2", "Donor address line 2", ("address line 2", "address2", "apt", "suite")),
    ("city", "Donor city", ("city", "town")),
    ("region", "Donor state or region", ("state", "region", "province")),
    ("postal_code", "Donor ZIP or postal code", ("zip", "zip code", "zipcode", "postal code", "postcode")),
    ("country", "Donor country code", ("country", "country code")),
]
ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "region", "postal_code", "country")
REQUIRED = ("received_on", "amount")
METHOD_WORDS = {
    "check": GiftMethod.CHECK, "cheque": GiftMethod.CHECK, "cash": GiftMethod.CASH, "stock": GiftMethod.STOCK,
    "in-kind": GiftMethod.IN_KIND, "in kind": GiftMethod.IN_KIND, "in_kind": GiftMethod.IN_KIND,
    "daf": GiftMethod.DAF, "donor-advised fund": GiftMethod.DAF, "donor advised fund": GiftMethod.DAF,
    "card": GiftMethod.CARD, "credit card": GiftMethod.CARD, "ach": GiftMethod.BANK, "bank": GiftMethod.BANK,
    "bank transfer": GiftMethod.BANK, "wire": GiftMethod.BANK, "other": GiftMethod.OTHER,
}


class ImportProblem(ValueError):
    """The file can't be imported at all; the message says what to do."""


@dataclass
class CsvFile:
    header: list[str]
    rows: list[list[str]]


def read_csv(data: bytes) -> CsvFile:
    """Decode and split a CSV file, refusing what isn't one with a message a person can act on."""
    if not data.strip():
        raise ImportProblem("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ImportProblem(f"The file is {len(data) // 1024 // 1024} MB; split it into files under {MAX_BYTES // 1024 // 1024} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportProblem(
            "This file isn't UTF-8 text. In Excel, use File → Save As → “CSV UTF-8”; in Google Sheets, "
            "File → Download → CSV."
        ) from None
    if "\x00" in text:
        raise ImportProblem("This looks like a spreadsheet file, not CSV. Save it as CSV first.")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise ImportProblem(f"The file isn't valid CSV ({exc}).") from None
    if len(rows) < 2:
        raise ImportProblem("The file needs a header row and at least one gift.")
    if len(rows) - 1 > MAX_ROWS:
        raise ImportProblem(f"The file has {len(rows) - 1} rows; import at most {MAX_ROWS} at a time.")
    header = [h.strip() for h in rows[0]]
    return CsvFile(header=header, rows=rows[1:])


def guess_mapping(header: Sequence[str]) -> dict[str, str]:
    """Column (as its index, text) for each field, guessed from the header names."""
    lowered = [h.strip().lower() for h in header]
    mapping = {}
    for name, _, candidates in TARGETS:
        for i, column in enumerate(lowered):
            if column in candidates and str(i) not in mapping.values():
                mapping[name] = str(i)
                break
    return mapping


@dataclass
class ColumnMapping:
    columns: dict[str, int]
    default_campaign: Campaign | None
    default_method: GiftMethod


def parse_mapping(form: Mapping[str, str], header: Sequence[str], campaigns: Sequence[Campaign]) -> tuple[ColumnMapping | None, dict[str, str]]:
    """The chosen column for each field and the defaults; every missing choice gets a message."""
    errors: dict[str, str] = {}
    columns: dict[str, int] = {}
    for name, label, _ in TARGETS:
        raw = (form.get(f"map_{name}") or "").strip()
        if raw.isdigit() and int(raw) < len(header):
            columns[name] = int(raw)
        elif name in REQUIRED:
            errors[f"map_{name}"] = f"Please choose the column with the {label.lower()}."
    if "donor_name" not in columns and "donor_email" not in columns:
        errors["map_donor_name"] = "Please choose the column with the donor's name or email (or both)."
    by_id = {str(c.id): c for c in campaigns}
    default_campaign = by_id.get((form.get("default_campaign") or "").strip())
    if "campaign" not in columns and default_campaign is None:
        errors["default_campaign"] = "Choose a campaign column, or the campaign all these gifts are for."
    method_raw = (form.get("default_method") or GiftMethod.CHECK.value).strip()
    default_method = GiftMethod(method_raw) if method_raw in GiftMethod._value2member_map_ else GiftMethod.CHECK
    if errors:
        return None, errors
    return ColumnMapping(columns, default_campaign, default_method), {}


@dataclass
class RowResult:
    """One row of the file after checking: its gift, or why it can't be imported."""

    number: int
    cells: dict[str, str]
    source_key: str
    errors: list[str] = field(default_factory=list)
    already_imported: bool = False
    entry: gifts.OfflineGift | None = None
    donor_email: str | None = None
    donor_name: str | None = None
    address: dict[str, str] = field(default_factory=dict)

    @property
    def importable(self) -> bool:
        return not self.errors and not self.already_imported


def _campaign_lookup(campaigns: Sequence[Campaign]) -> dict[str, Campaign]:
    lookup = {}
    for c in campaigns:
        lookup[c.slug.lower()] = c
        lookup[c.title.strip().lower()] = c
    return lookup


def check_rows(session: Session, csv_file: CsvFile, mapping: ColumnMapping, campaigns: Sequence[Campaign], today: date) -> list[RowResult]:
    """The dry run: every row checked (amount, date, email, campaign, method) and nothing written."""
    lookup = _campaign_lookup(campaigns)
    seen: dict[str, int] = {}
    results = []
    for offset, row in enumerate(csv_file.rows):
        number = offset + 2  # as the spreadsheet numbers it, after the header row
        cells = {name: (row[i].strip() if i < len(row) else "") for name, i in mapping.columns.items()}
        external = cells.get("external_id", "")
        if external:
            key = f"import:{external[:200]}"
        else:
            fingerprint = hashlib.sha256("\x1f".join(f"{k}={cells[k]}" for k in sorted(cells)).encode()).hexdigest()[:40]
            seen[fingerprint] = seen.get(fingerprint, 0) + 1
            key = f"import:row:{fingerprint}:{seen[fingerprint]}"
        result = RowResult(number=number, cells=cells, source_key=key)
        results.append(result)
        if len(row) != len(csv_file.header):
            result.errors.append(f"has {len(row)} columns; the header has {len(csv_file.header)}")
        campaign = mapping.default_campaign
        if cells.get("campaign"):
            campaign = lookup.get(cells["campaign"].lower())
            if campaign is None:
                result.errors.append(f"unknown campaign “{cells['campaign'][:60]}”")
        amount = 0
        try:
            amount = parse_amount(cells.get("amount"), campaign.currency if campaign else "USD")
        except MoneyError as exc:
            result.errors.append(f"amount: {exc}")
        day = today
        try:
            day = gifts.parse_date(cells.get("received_on"), today)
        except ValueError as exc:
            result.errors.append(f"date: {exc}")
        method = mapping.default_method
        if cells.get("method"):
            method = METHOD_WORDS.get(cells["method"].lower())
            if method is None:
                result.errors.append(f"unknown method “{cells['method'][:40]}” (use check, cash, card, stock, in-kind, DAF, bank or other)")
        email = None
        if cells.get("donor_email"):
            try:
                email = check_email(cells["donor_email"])
            except ValueError:
                result.errors.append(f"“{cells['donor_email'][:60]}” isn't an email address")
        name = cells.get("donor_name", "")[:200] or None
        if not name and not email:
            result.errors.append("no donor name or email")
        address = {field_name: cells[field_name] for field_name in ADDRESS_FIELDS if cells.get(field_name)}
        if "country" in address:
            address["country"] = address["country"].upper()
            if len(address["country"]) != 2 or not address["country"].isalpha():
                result.errors.append(f"country “{cells['country'][:40]}”: use the two-letter code, like US or CA")
        for field_name, value in address.items():
            limit = Donor.__table__.c[field_name].type.length
            if len(value) > limit:
                result.errors.append(f"{field_name.replace('_', ' ')} is longer than {limit} characters")
        if session.scalar(select(Gift.id).where(Gift.source_key == key)) is not None:
            result.already_imported = True
        if result.errors:
            continue
        result.donor_email, result.donor_name, result.address = email, name, address
        result.entry = gifts.OfflineGift(
            campaign=campaign, amount_cents=amount, received_on=day, method=method,
            reference=cells.get("reference", "")[:200] or None, private_note=cells.get("note") or None,
            description="Imported gift" if method == GiftMethod.IN_KIND else None,
        )
    return results


def _donor_for(session: Session, actor: Actor, email: str | None, name: str | None, address: Mapping[str, str]) -> int:
    """The donor a row names (by email, or an exact unique name), or a new one; a mailing address
    in the file is given to an existing donor only when they have none (never mixed with, nor
    overwriting, an address staff entered)."""
    donor = None
    if email:
        found = session.scalar(select(Donor).where(Donor.email == email))
        donor = surviving(session, found) if found is not None else None
    elif name:
        matches = gifts.find_donors(session, name, exact=True, limit=2)
        donor = matches[0] if len(matches) == 1 else None
    if donor is None:
        donor = Donor(name=name or email, email=email, **address)
        session.add(donor)
        session.flush()
        audit.record(session, actor, "donor.create", "donor", donor.id,
                     after={"name": donor.name, "email": email, **address, "via": "import"})
        return donor.id
    filled = {} if any(getattr(donor, k) for k in ADDRESS_FIELDS) else dict(address)
    if filled:
        audit.record(session, actor, "donor.update", "donor", donor.id,
                     before={k: None for k in filled}, after={**filled, "via": "import"})
        for k, v in filled.items():
            setattr(donor, k, v)
        session.flush()
    return donor.id


def import_rows(
    session: Session, actor: Actor, results: Sequence[RowResult], tz, filename: str, *, send_receipts: bool = False
) -> list[Gift]:
    """Record every importable row in the caller's transaction (all of them, or none on error).

    Imported gifts are often old ones already thanked elsewhere, so receipts go out only when asked.
    """
    recorded = []
    for result in results:
        if not result.importable:
            continue
        result.entry.donor_id = _donor_for(session, actor, result.donor_email, result.donor_name, result.address)
        recorded.append(gifts.record_entry(session, actor, result.entry, result.source_key, tz, send_receipt=send_receipts))
    audit.record(
        session, actor, "gifts.import", "import", filename[:50] or "upload",
        after={"gift_ids": [g.id for g in recorded], "skipped": len(results) - len(recorded)},
    )
    return recorded
