"""What other platforms' exports look like: the header names each field is guessed from, the
words their status, type and method columns use, and the headers that tell one platform's file
from another's. The import engine (imports.py) reads files by these tables."""

from __future__ import annotations

import re

from .models import GiftMethod

# (field, label, header names it is guessed from, best first). Headers are compared without case,
# spaces, underscores or punctuation, so "Created date (UTC)" matches "created_date_utc".
TARGETS: list[tuple[str, str, tuple[str, ...]]] = [
    ("received_on", "Date (or date and time)", (
        "date", "donated at", "created date (utc)", "created (utc)", "transaction date (utc)", "transaction date",
        "payment date", "gift date", "donation date", "date received", "received", "created", "created at",
        "transacted at", "date/time", "datetime", "contribution date")),
    ("time", "Time (when separate from the date)", ("time", "transaction time")),
    ("timezone", "Time zone", ("timezone", "time zone")),
    ("amount", "Amount", (
        "amount", "gross", "gross amount", "gift amount", "donation amount", "total amount", "amount (usd)", "total",
        "value", "gross transaction amount")),
    ("currency", "Currency", ("currency", "currency code")),
    ("status", "Status", ("status", "payment status", "transaction status", "contribution status")),
    ("mode", "Live or test payment", ("mode", "livemode")),
    ("balance_impact", "Balance impact (PayPal)", ("balance impact",)),
    ("dispute_status", "Dispute status", ("dispute status",)),
    ("refunded_on", "Date refunded", (
        "refunded date (utc)", "refunded date", "refund date", "date refunded", "cancelled / refunded date")),
    ("refunded_amount", "Amount refunded", (
        "amount refunded", "refunded amount", "refund amount", "refunded", "total refunded")),
    ("fee", "Processing fee", (
        "fee", "fees", "total fee", "total fees", "processing fee", "transaction fee", "stripe fee", "fee amount")),
    ("net", "Net amount", ("net", "net amount", "payout", "net total")),
    ("external_id", "Transaction id (unique per gift)", (
        "id", "transaction id", "donation id", "gift id", "lgl gift id", "payment id", "transaction number",
        "external id", "receipt id", "stripe charge id", "charge id", "paymentintent id", "paypal transaction id")),
    ("refund_of", "Original transaction (on refund rows)", (
        "reference txn id", "original transaction id", "refund of", "parent transaction id")),
    ("kind", "Transaction type", ("type", "transaction type", "gift type")),
    ("donor_name", "Donor name", (
        "name", "donor name", "full name", "constituent name", "account name", "customer name", "donor", "supporter",
        "customer description", "card name", "contact name", "display name", "supporter name")),
    ("first_name", "First name", (
        "first name", "donor first name", "first", "given name", "firstname", "donor's first name",
        "billing first name")),
    ("last_name", "Last name", (
        "last name", "donor last name", "last", "surname", "family name", "lastname", "donor's last name",
        "billing last name")),
    ("donor_email", "Donor email", (
        "email", "donor email", "customer email", "from email address", "email address", "e-mail", "supporter email",
        "primary email", "billing email address")),
    ("phone", "Phone", ("phone", "phone number", "donor phone", "contact phone number", "mobile", "primary phone")),
    ("address_line1", "Address", (
        "address", "address 1", "address line 1", "address1", "street", "street address", "card address line1",
        "billing address line 1", "primary street")),
    ("address_line2", "Address line 2", (
        "address 2", "address line 2", "address2", "card address line2", "address line 2/district/neighborhood")),
    ("city", "City", ("city", "town/city", "town", "card address city", "primary city")),
    ("region", "State or province", (
        "state", "state / province", "province", "region", "state/province", "card address state", "primary state",
        "state/province/region/county/territory/prefecture/republic")),
    ("postal_code", "ZIP or postal code", (
        "zip", "zip code", "postal code", "zip/postal code", "postcode", "card address zip", "primary zip")),
    ("country", "Country", ("country", "card address country", "primary country")),
    ("anonymous", "Anonymous", (
        "anonymous", "make donation anonymous", "is anonymous", "anonymous donation", "given anonymously",
        "anonymous gift", "donor is anonymous")),
    ("comment", "Donor's comment", (
        "donor comment", "donor's comment", "comment", "comments", "message", "public message", "dedication message")),
    ("note", "Internal note", ("note", "notes", "internal notes", "internal note", "memo", "gift note", "description")),
    ("method", "Method", ("method", "payment method", "payment type", "donation type", "card brand", "card type")),
    ("recurring", "Recurring", (
        "recurring", "recurring donation", "frequency", "donation frequency", "is recurring", "interval")),
    ("campaign", "Campaign", (
        "campaign", "campaign title", "campaign name", "form name", "form title", "fund", "appeal", "designation",
        "item title", "internal campaign name")),
    ("reference", "Check or reference number", (
        "check number", "check #", "check/reference no.", "check no", "reference", "ref", "reference number",
        "offline check #")),
]
MULTI_LINE_CELLS = frozenset({"comment", "note"})
LABELS = {name: label for name, label, _ in TARGETS}
REQUIRED = ("received_on", "amount")
SOURCES = {
    "csv": "a spreadsheet", "donorbox": "Donorbox", "givebutter": "Givebutter", "stripe": "Stripe", "paypal": "PayPal",
    "zeffy": "Zeffy", "lgl": "Little Green Light", "bloomerang": "Bloomerang",
}
ONLINE_SOURCES = {"donorbox", "givebutter", "stripe", "paypal", "zeffy"}
# Headers only one platform writes, to tell which export a file is.
SIGNATURES = [
    ("stripe", ("createddateutc", "amountrefunded")),
    ("paypal", ("fromemailaddress",)),
    ("paypal", ("gross", "timezone")),
    ("givebutter", ("campaigntitle",)),
    ("givebutter", ("transactiondateutc",)),
    ("donorbox", ("donatedat",)),
    ("donorbox", ("makedonationanonymous",)),
    ("zeffy", ("formname",)),
    ("zeffy", ("formtitle",)),
    ("lgl", ("lglconstituentid",)),
    ("lgl", ("lglgiftid",)),
    ("bloomerang", ("accountnumber", "transactionnumber")),
]
METHOD_WORDS = {
    "check": GiftMethod.CHECK, "cheque": GiftMethod.CHECK, "cash": GiftMethod.CASH, "stock": GiftMethod.STOCK,
    "securities": GiftMethod.STOCK, "inkind": GiftMethod.IN_KIND, "daf": GiftMethod.DAF,
    "donoradvisedfund": GiftMethod.DAF, "card": GiftMethod.CARD, "creditcard": GiftMethod.CARD,
    "debitcard": GiftMethod.CARD, "visa": GiftMethod.CARD, "mastercard": GiftMethod.CARD, "amex": GiftMethod.CARD,
    "americanexpress": GiftMethod.CARD, "discover": GiftMethod.CARD, "applepay": GiftMethod.CARD,
    "googlepay": GiftMethod.CARD, "stripe": GiftMethod.CARD, "link": GiftMethod.CARD, "ach": GiftMethod.BANK,
    "bank": GiftMethod.BANK, "banktransfer": GiftMethod.BANK, "usbankaccount": GiftMethod.BANK, "eft": GiftMethod.BANK,
    "wire": GiftMethod.BANK, "directdebit": GiftMethod.BANK, "paypal": GiftMethod.OTHER, "venmo": GiftMethod.OTHER,
    "other": GiftMethod.OTHER,
}
GIFT_STATUSES = {
    "", "succeeded", "success", "successful", "paid", "completed", "complete", "captured", "approved", "processed",
    "settled", "active", "deposited", "received",
}
REFUNDED_STATUSES = {"refunded", "partiallyrefunded", "partialrefund", "refund", "reversed", "fullyrefunded"}
SKIPPED_STATUSES = {
    "failed", "pending", "cancelled", "canceled", "declined", "denied", "voided", "void", "incomplete", "authorized",
    "uncaptured", "open", "expired", "requirespaymentmethod", "processing", "unpaid", "blocked", "held",
}
# Transaction types that move money but aren't gifts (PayPal withdrawals, holds, LGL pledges): a
# type containing one of these words, or named exactly as in the second list (PayPal's own fee on a
# payment, a hold's release; whole names, since "Coffee morning" or "Feed a family" are gifts).
NOT_GIFT_KINDS = ("withdrawal", "currencyconversion", "hold", "authorization", "transferto", "transferfrom")
NOT_GIFT_KIND_NAMES = frozenset({"pledge", "partnerfee", "feereversal", "paymentrelease"})
# Fields added after row keys were fixed: a file without transaction ids keeps the key it was
# imported under by an earlier version (the key is a fingerprint of the mapped cells).
LATER_FIELDS = frozenset({"mode", "balance_impact", "dispute_status", "refunded_on"})
TRUE_WORDS = {"yes", "y", "true", "t", "1", "x", "anonymous", "on", "checked"}
RECURRING_WORDS = {"monthly", "weekly", "quarterly", "yearly", "annually", "annual", "recurring", "subscription"}

UTC_ABBREVIATIONS = {
    "utc": 0, "gmt": 0, "z": 0, "est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
    "akst": -9, "akdt": -8, "hst": -10,
}


def squash(text: str) -> str:
    """A header as compared: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


# Header names guessed only since December 2026 (Classy, CiviCRM, Donorbox's real layout): an
# earlier version left such a column unmapped unless staff chose it, so a row without an id may
# carry either fingerprint; both are looked for (RowResult.legacy_key). The date and the amount
# are left out: they were always mapped, by hand where not guessed.
LATER_NAMES = {field: {squash(name) for name in names} for field, names in {
    "status": ("contribution status",),
    "donor_name": ("display name", "supporter name"), "first_name": ("donor's first name", "billing first name"),
    "last_name": ("donor's last name", "billing last name"), "donor_email": ("billing email address",),
    "anonymous": ("donor is anonymous",), "comment": ("donor's comment",), "campaign": ("internal campaign name",),
    "reference": ("offline check #",),
}.items()}
