"""The wording of each kind of receipt, as admins edit it on the staff Receipts page.

Admins change the subject and the thank-you message of each kind (placeholders like {donor_name}
filled in per gift, a little Markdown at most). What the law asks a receipt to state (the charity
and its EIN, the amount or description, the date, the goods-or-services statement, the sponsor
statement) is never part of this text: receipts.py always adds it, so no edit can remove it.

Text is checked when saved (unknown placeholders, stray braces and HTML are refused with a message
saying why) and sanitised again when rendered (nh3), so a donor's name or an admin's text can never
put markup of its own into an email.
"""

from __future__ import annotations

import html
import re
import threading
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from html.parser import HTMLParser

import markdown
import nh3
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit
from .audit import Actor
from .db import utcnow
from .models import ReceiptWording


class ReceiptKind(StrEnum):
    """Which wording a gift's receipt uses (receipts.kind_of decides)."""

    ONE_TIME = "one_time"
    MONTHLY = "monthly"
    OFFLINE = "offline"
    DAF = "daf"
    NONCASH = "noncash"
    IN_KIND = "in_kind"
    QUID_PRO_QUO = "quid_pro_quo"
    EVENT_PROCEEDS = "event_proceeds"


KIND_LABELS = {
    ReceiptKind.ONE_TIME: "One-time online gift",
    ReceiptKind.MONTHLY: "Monthly, quarterly or yearly gift (each payment)",
    ReceiptKind.OFFLINE: "Check, cash or bank transfer",
    ReceiptKind.DAF: "Donor-advised fund grant",
    ReceiptKind.NONCASH: "Stock and other property",
    ReceiptKind.IN_KIND: "In-kind gift (goods or services)",
    ReceiptKind.QUID_PRO_QUO: "Gift with goods or services received",
    ReceiptKind.EVENT_PROCEEDS: "Event proceeds passed on by a host",
}

PLACEHOLDERS = {
    "donor_name": "the donor's name",
    "amount": "the amount, as it stands now (not for property: we never state its value)",
    "date": "the date the gift was received",
    "campaign": "the campaign it is for",
    "charity_name": "the charity of record (the fiscal sponsor)",
    "org_name": "your organisation's name",
    "description": "what was given (stock, in-kind gifts)",
    "method": "how it was given (card, check, …)",
    "frequency": "monthly, quarterly or yearly (recurring gifts)",
    "how_often": "each month, every three months or each year (recurring gifts)",
    "receipt_number": "the receipt's number",
    "event_name": "the event (event proceeds)",
    "host_name": "who hosted the event (event proceeds)",
}
# We never state a value for property (IRS Publication 1771: describe it, don't value it).
PROPERTY_KINDS = frozenset({ReceiptKind.IN_KIND, ReceiptKind.NONCASH})
NOT_FOR_KIND = {kind: frozenset({"amount"}) for kind in PROPERTY_KINDS}

SUBJECT_MAX = 200
BODY_MAX = 5000

DEFAULTS: dict[ReceiptKind, tuple[str, str]] = {
    ReceiptKind.ONE_TIME: (
        "Your receipt: {amount} to {org_name}",
        ("Dear {donor_name},\n\nThank you for your gift to {org_name} for {campaign}. "
        "This is your receipt; please keep it for your tax records."),
    ),
    ReceiptKind.MONTHLY: (
        "Your {frequency} gift receipt: {amount} to {org_name}",
        ("Dear {donor_name},\n\nThank you for giving to {org_name} {how_often}. "
        "This is your receipt for the payment of {date}; please keep it for your tax records."),
    ),
    ReceiptKind.OFFLINE: (
        "Your receipt: {amount} to {org_name}",
        ("Dear {donor_name},\n\nThank you for your gift to {org_name} for {campaign}. "
        "This is your receipt; please keep it for your tax records."),
    ),
    ReceiptKind.DAF: (
        "Grant received: {amount} to {org_name}",
        ("Dear {donor_name},\n\nThank you for recommending this grant to {org_name} for {campaign}. "
        "This letter acknowledges the grant we received."),
    ),
    ReceiptKind.NONCASH: (
        "Your receipt from {org_name}",
        ("Dear {donor_name},\n\nThank you for your gift of {description} to {org_name}. "
        "This is your receipt; please keep it for your tax records."),
    ),
    ReceiptKind.IN_KIND: (
        "Your receipt from {org_name}",
        ("Dear {donor_name},\n\nThank you for your in-kind gift to {org_name}. "
        "This is your receipt; please keep it for your tax records."),
    ),
    ReceiptKind.QUID_PRO_QUO: (
        "Your receipt: {amount} to {org_name}",
        ("Dear {donor_name},\n\nThank you for your gift to {org_name} for {campaign}. "
        "This is your receipt; please keep it for your tax records."),
    ),
    ReceiptKind.EVENT_PROCEEDS: (
        "Proceeds received: {amount} from {event_name}",
        ("Dear {donor_name},\n\nThank you for hosting {event_name} and passing on what it raised "
         "for {org_name} ({campaign})."),
    ),
}


class WordingError(ValueError):
    """Wording that can't be saved; `errors` maps each form field to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Wording:
    kind: ReceiptKind
    subject: str
    body_md: str
    is_default: bool


def default(kind: ReceiptKind) -> Wording:
    subject, body = DEFAULTS[kind]
    return Wording(kind, subject, body, True)


def load(session: Session, kind: ReceiptKind) -> Wording:
    """The wording receipts of this kind use now: the admin's, else the default."""
    row = session.get(ReceiptWording, kind.value)
    if row is None:
        return default(kind)
    return Wording(kind, row.subject, row.body_md, False)


def all_wordings(session: Session) -> list[Wording]:
    saved = {r.kind: r for r in session.scalars(select(ReceiptWording))}
    return [
        Wording(k, saved[k.value].subject, saved[k.value].body_md, False) if k.value in saved else default(k)
        for k in ReceiptKind
    ]


def parse_kind(raw: str) -> ReceiptKind | None:
    return ReceiptKind(raw) if raw in ReceiptKind._value2member_map_ else None


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_HTML_TAG = re.compile(r"<\s*/?\s*[A-Za-z!?]")


def problems(kind: ReceiptKind, text: str, *, field_name: str) -> str | None:
    """The first thing wrong with a piece of wording, in words an admin can act on (None: fine)."""
    allowed = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS if name not in NOT_FOR_KIND.get(kind, ()))
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1).strip()
        if name not in PLACEHOLDERS:
            return f"{field_name}: “{match.group(0)[:40]}” is not a placeholder we know. You can use: {allowed}."
        if name in NOT_FOR_KIND.get(kind, ()):
            return (
                f"{field_name}: {{{name}}} can't be used for {KIND_LABELS[kind].lower()}: we never state a "
                "value for gifts of property, only describe them ({description})."
            )
        if match.group(1) != name:
            return f"{field_name}: write placeholders without spaces, like {{{name}}}."
    leftover = _PLACEHOLDER.sub("", text)
    if "{" in leftover or "}" in leftover:
        return f"{field_name}: braces are only for placeholders like {{donor_name}}; please remove the stray brace."
    if _HTML_TAG.search(text):
        return (
            f"{field_name}: HTML tags can't be used. Write plain text; **bold**, *italic*, lists "
            "and [links](https://example.org) work."
        )
    return None


def validate(kind: ReceiptKind, subject: str, body: str) -> tuple[str, str]:
    """Cleaned subject and body, or WordingError with a message per field."""
    subject = " ".join(subject.split())
    body = body.replace("\r\n", "\n").strip()
    errors: dict[str, str] = {}
    if not subject:
        errors["subject"] = "Please give the email a subject."
    elif len(subject) > SUBJECT_MAX:
        errors["subject"] = f"Please keep the subject to {SUBJECT_MAX} characters (it has {len(subject)})."
    elif (problem := problems(kind, subject, field_name="Subject")) is not None:
        errors["subject"] = problem
    if not body:
        errors["body_md"] = "Please write the message (at least a greeting and a thank-you)."
    elif len(body) > BODY_MAX:
        errors["body_md"] = f"Please keep the message to {BODY_MAX} characters (it has {len(body)})."
    elif (problem := problems(kind, body, field_name="Message")) is not None:
        errors["body_md"] = problem
    if errors:
        raise WordingError(errors)
    return subject, body


def save(session: Session, actor: Actor, kind: ReceiptKind, subject: str, body: str) -> Wording:
    """Validate and store one kind's wording with an audit entry; flushes only."""
    subject, body = validate(kind, subject, body)
    before = load(session, kind)
    row = session.get(ReceiptWording, kind.value)
    if row is None:
        row = ReceiptWording(kind=kind.value)
        session.add(row)
    row.subject, row.body_md = subject, body
    row.updated_at, row.updated_by_id = utcnow(), actor.user_id
    session.flush()
    audit.record(
        session, actor, "receipt_wording.update", "receipt_wording", kind.value,
        before={"subject": before.subject, "body_md": before.body_md},
        after={"subject": subject, "body_md": body},
    )
    return Wording(kind, subject, body, False)


# ------------------------------------------------------------------------------ rendering

ALLOWED_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a"}


def fill_subject(subject: str, values: dict[str, str]) -> str:
    """The subject with its placeholders filled (plain text: one line)."""
    filled = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), subject)
    return " ".join(filled.split())[:300]


def render_body(body_md: str, values: dict[str, str]) -> tuple[str, str]:
    """(HTML, plain text) of the wording with placeholders filled; values are never markup."""
    clean, text, tokens = _rendered(body_md)
    for key, name in tokens:
        value = values.get(name, "")
        clean = clean.replace(key, html.escape(value))
        text = text.replace(key, value)
    return clean, text


@lru_cache(maxsize=64)
def _rendered(body_md: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """The wording rendered once with a token per placeholder: a batch of receipts (a webhook
    backlog) converts and sanitises each wording once, not once a receipt."""
    tokens: list[tuple[str, str]] = []

    def token(match: re.Match) -> str:
        # A plain word Markdown leaves alone, swapped for the escaped value after sanitising.
        key = f"zzph{len(tokens)}zz"
        tokens.append((key, match.group(1)))
        return key

    source = _PLACEHOLDER.sub(token, body_md)
    rendered = _markdown().reset().convert(source)
    clean = nh3.clean(
        rendered, tags=ALLOWED_TAGS, attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer",
    )
    return clean, html_to_text(clean), tuple(tokens)


_local = threading.local()


def _markdown() -> markdown.Markdown:
    """This thread's Markdown converter: building one per receipt cost more than the conversion."""
    converter = getattr(_local, "markdown", None)
    if converter is None:
        converter = _local.markdown = markdown.Markdown(extensions=["sane_lists"], output_format="html")
    return converter


class _TextWriter(HTMLParser):
    """The plain-text part from the sanitised HTML: paragraphs, list bullets, links with their address."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.href: str | None = None
        self.link_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "li":
            self.parts.append("\n- ")
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "a":
            self.href = dict(attrs).get("href")
            self.link_text = []

    def handle_endtag(self, tag):
        if tag in ("p", "ul", "ol"):
            self.parts.append("\n\n")
        elif tag == "a" and self.href:
            if self.href not in "".join(self.link_text):
                self.parts.append(f" ({self.href})")
            self.href = None

    def handle_data(self, data):
        if not data.strip() and "\n" in data:
            return  # the line breaks Markdown puts between blocks; blocks add their own
        data = data.replace("\n", " ")
        if self.href is not None:
            self.link_text.append(data)
        self.parts.append(data)


def html_to_text(fragment: str) -> str:
    writer = _TextWriter()
    writer.feed(fragment)
    writer.close()
    text = "".join(writer.parts)
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
