"""The organisation's identity as documents and pages state it: names, tax ids, contact, policies.

Environment variables (`ORG_*`) give the defaults; admins override any of them on the staff
Settings page, kept as `OrgSetting` rows with an audit entry. Every receipt, letter, statement and
footer reads `current_organisation()` (or `load_organisation()` outside a request), never the
settings directly, so a change made in the browser reaches every document at once.

A fiscally sponsored project is not itself the charity of record: when a sponsor is named, the
documents say the gift is made to the sponsor (its legal name and EIN) for the project.
"""

from __future__ import annotations

import io
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit
from .config import DEMO_ONLY, DEMO_ORG, Settings
from .db import utcnow
from .models import OrgSetting

# Another process's change is seen within this many seconds (this process's at once).
CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Organisation:
    """Who the organisation is, as every public page and document states it."""

    name: str
    legal_name: str
    sponsor_name: str
    sponsor_ein: str
    tax_id: str
    mailing_address: str
    contact_email: str
    contact_phone: str
    website: str
    privacy_policy: str
    refund_policy: str
    # The donate form's preselected answers to "show my name / my amount on the page" ("yes"/"no").
    wall_show_name: str
    wall_show_amount: str
    # Path of the uploaded logo inside the instance folder ("" when none).
    logo_file: str
    # The month (1-12, as text like every setting) the fiscal year starts in: the board's year.
    fiscal_year_start: str = "1"

    @property
    def fiscal_year_start_month(self) -> int:
        return int(self.fiscal_year_start)

    @property
    def is_sponsored(self) -> bool:
        return bool(self.sponsor_name)

    @property
    def charity_name(self) -> str:
        """The charity of record: the fiscal sponsor when there is one."""
        return self.sponsor_name if self.is_sponsored else self.legal_name

    @property
    def charity_ein(self) -> str:
        return self.sponsor_ein if self.is_sponsored else self.tax_id

    @property
    def sponsor_statement(self) -> str:
        """The sentence that tells a donor who received the gift, for receipts and statements."""
        if self.is_sponsored:
            ein = f" (EIN {self.sponsor_ein})" if self.sponsor_ein else ""
            return (
                f"{self.legal_name} is a fiscally sponsored project of {self.sponsor_name}{ein}, "
                "a 501(c)(3) public charity. Your gift is made to "
                f"{self.sponsor_name} for the benefit of {self.legal_name} and is tax-deductible "
                "to the extent allowed by law."
            )
        ein = f" (EIN {self.tax_id})" if self.tax_id else ""
        return (
            f"{self.legal_name}{ein} is a 501(c)(3) public charity; your gift is tax-deductible "
            "to the extent allowed by law."
        )

    @property
    def contact_sentence(self) -> str:
        """How a donor reaches a person, for error messages ("" when no contact is set)."""
        ways = [w for w in (self.contact_email, self.contact_phone) if w]
        return f"Questions? Write to us at {' or call '.join(ways)}." if ways else ""

    def with_contact(self, message: str) -> str:
        """A problem as a donor reads it: what happened, then how to reach a person."""
        return f"{message} {self.contact_sentence}".strip()

    @property
    def address_lines(self) -> list[str]:
        return [line.strip() for line in self.mailing_address.splitlines() if line.strip()]

    def demo_fields(self) -> list[str]:
        """The ORG_* variables whose value is still the demo organisation's own (production must
        not send documents under them)."""
        return [
            var for name, var in ENV_NAMES.items()
            if var in DEMO_ONLY and getattr(self, name) == DEMO_ORG[var].replace(" | ", "\n")
        ]


# Field -> the environment variable that gives its default.
ENV_NAMES = {
    "name": "ORG_NAME",
    "legal_name": "ORG_LEGAL_NAME",
    "sponsor_name": "ORG_SPONSOR_NAME",
    "sponsor_ein": "ORG_SPONSOR_EIN",
    "tax_id": "ORG_TAX_ID",
    "mailing_address": "ORG_MAILING_ADDRESS",
    "contact_email": "ORG_CONTACT_EMAIL",
    "contact_phone": "ORG_CONTACT_PHONE",
    "website": "ORG_WEBSITE",
    "privacy_policy": "ORG_PRIVACY_POLICY",
    "refund_policy": "ORG_REFUND_POLICY",
    "fiscal_year_start": "ORG_FISCAL_YEAR_START",
    "wall_show_name": "ORG_WALL_SHOW_NAME",
    "wall_show_amount": "ORG_WALL_SHOW_AMOUNT",
}
# Defaults of the ORG_* variables that are policies rather than the demo's identity: names are shown,
# amounts kept private, unless the organisation chooses otherwise.
POLICY_DEFAULTS = {"ORG_WALL_SHOW_NAME": "yes", "ORG_WALL_SHOW_AMOUNT": "no"}
WALL_FIELDS = ("wall_show_name", "wall_show_amount")
FIELD_NAMES = tuple(f.name for f in fields(Organisation))


def from_settings(settings: Settings) -> Organisation:
    """The identity the environment gives (before any change made on the Settings page)."""
    env = settings.extra
    values = {name: env.get(var, DEMO_ORG.get(var, POLICY_DEFAULTS.get(var, ""))) for name, var in ENV_NAMES.items()}
    for name in WALL_FIELDS:
        if values[name] not in ("yes", "no"):
            values[name] = POLICY_DEFAULTS[ENV_NAMES[name]]
    # ORG_MAILING_ADDRESS may come on one line with " | " or "\n" escapes between lines.
    values["mailing_address"] = values["mailing_address"].replace(" | ", "\n").replace("\\n", "\n")
    values["fiscal_year_start"] = values["fiscal_year_start"].strip() or "1"  # checked at start (config.py)
    return Organisation(**values, logo_file="")


def load_organisation(session: Session, settings: Settings) -> Organisation:
    """The environment's identity overlaid with what admins saved in the database."""
    saved = dict(session.execute(select(OrgSetting.key, OrgSetting.value)).all())
    changes = {k: v for k, v in saved.items() if k in FIELD_NAMES}
    return replace(from_settings(settings), **changes)


_cache_lock = threading.Lock()


def current_organisation() -> Organisation:
    """The organisation for this app, read from the database at most every CACHE_SECONDS."""
    from .db import new_session
    from .settings import current_settings

    app = current_app._get_current_object()
    cached = app.extensions.get("fundraiser.organisation")
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    with _cache_lock:
        session = new_session()
        try:
            org = load_organisation(session, current_settings())
        finally:
            session.close()
        app.extensions["fundraiser.organisation"] = (time.monotonic(), org)
    return org


def forget_cached() -> None:
    """Drop this process's copy after a change, so the next page shows it at once."""
    if has_app_context():
        current_app.extensions.pop("fundraiser.organisation", None)


def update_organisation(
    session: Session, settings: Settings, changes: Mapping[str, str], actor: audit.Actor
) -> Organisation:
    """Save the fields that changed (validated by `clean_identity`) with one audit entry naming
    only those; writes nothing when nothing changed. Flushes only."""
    unknown = set(changes) - set(FIELD_NAMES)
    if unknown:
        raise ValueError(f"Not an organisation setting: {', '.join(sorted(unknown))}")
    before = load_organisation(session, settings)
    changed = {key: value for key, value in changes.items() if getattr(before, key) != value}
    if not changed:
        return before
    rows = {row.key: row for row in session.scalars(select(OrgSetting).where(OrgSetting.key.in_(list(changed))))}
    for key, value in changed.items():
        row = rows.get(key)
        if row is None:
            session.add(OrgSetting(key=key, value=value, updated_at=utcnow(), updated_by_id=actor.user_id))
        else:
            row.value = value
            row.updated_at = utcnow()
            row.updated_by_id = actor.user_id
    after = replace(before, **changed)
    audit.record(
        session, actor, "organisation.update", "organisation", "settings",
        before={k: getattr(before, k) for k in changed}, after=dict(changed),
    )
    session.flush()
    forget_cached()
    return after


# ------------------------------------------------------------------------------ the Settings page

# Each field as the Settings page labels it (doctor and the console's banner name fields this way).
FIELD_LABELS = {
    "name": "Public name",
    "legal_name": "Legal name",
    "sponsor_name": "Fiscal sponsor's legal name",
    "sponsor_ein": "Fiscal sponsor's EIN",
    "tax_id": "Your own EIN",
    "mailing_address": "Mailing address",
    "contact_email": "Contact email",
    "contact_phone": "Phone",
    "website": "Website",
    "privacy_policy": "Privacy policy",
    "refund_policy": "Refund policy",
    "wall_show_name": "Donors' names shown on the page unless they say no",
    "wall_show_amount": "Gift amounts shown on the page unless the donor says no",
    "logo_file": "Logo",
    "fiscal_year_start": "Fiscal year starts in",
}
EDITABLE = tuple(ENV_NAMES)  # every field but the logo, which is uploaded
EIN_PATTERN = re.compile(r"^\d{2}-\d{7}$")
PHONE_PATTERN = re.compile(r"^[0-9+().\- x]{7,40}$")
NAME_MAX = 200
POLICY_MAX = 20_000
LOGO_MAX_BYTES = 2 * 1024 * 1024
LOGO_MAX_PIXELS = 5000 * 5000  # refuse decompression bombs before decoding
LOGO_BOX = (600, 600)  # stored no larger than this (emails and headers show it small)
LOGO_FORMATS = {"PNG", "JPEG", "WEBP"}
LOGO_FOLDER = "branding"


def demo_field_labels(org: Organisation) -> list[str]:
    """"ORG_NAME (Public name)" for each setting still holding the demo organisation's value."""
    names = {var: name for name, var in ENV_NAMES.items()}
    return [f"{var} ({FIELD_LABELS[names[var]]})" for var in org.demo_fields()]


def identity_needs_fixing(session: Session, settings: Settings, org: Organisation) -> list[str]:
    """Demo identity fields the console should warn about: in production always, elsewhere once
    real (non-sample) gifts are recorded, i.e. the app is no longer only a demo."""
    from .models import Gift

    labels = demo_field_labels(org)
    if not labels or settings.is_production:
        return labels
    real_gift = session.scalar(select(Gift.id).where(Gift.is_sample.is_(False)).limit(1))
    return labels if real_gift is not None else []


def _ein(value: str, label: str, errors: dict[str, str], name: str) -> str:
    digits = re.sub(r"\s", "", value)
    if re.fullmatch(r"\d{9}", digits):
        digits = f"{digits[:2]}-{digits[2:]}"
    if digits and not EIN_PATTERN.match(digits):
        errors[name] = f"{label} must be nine digits written like 12-3456789."
    return digits


def clean_identity(form: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The Settings page's fields, tidied, and a message per field that isn't acceptable."""
    from email_validator import EmailNotValidError, validate_email

    values = {name: (form.get(name) or "").strip() for name in EDITABLE}
    errors: dict[str, str] = {}
    for name in ("name", "legal_name", "sponsor_name"):
        if len(values[name]) > NAME_MAX:
            errors[name] = f"Please shorten the {FIELD_LABELS[name].lower()} to {NAME_MAX} characters."
    if not values["name"]:
        errors["name"] = "Please enter the name donors know you by."
    if not values["legal_name"]:
        errors["legal_name"] = "Please enter the organisation's legal name, as receipts must state it."
    values["sponsor_ein"] = _ein(values["sponsor_ein"], "The sponsor's EIN", errors, "sponsor_ein")
    values["tax_id"] = _ein(values["tax_id"], "Your EIN", errors, "tax_id")
    if values["sponsor_name"] and not values["sponsor_ein"]:
        errors.setdefault("sponsor_ein", "Please enter the fiscal sponsor's EIN: receipts name it as the charity of record.")
    if values["sponsor_ein"] and not values["sponsor_name"]:
        errors.setdefault("sponsor_name", "Please enter the fiscal sponsor's legal name, or clear its EIN.")
    if not values["sponsor_name"] and not values["tax_id"]:
        errors.setdefault("tax_id", "Without a fiscal sponsor, receipts need your own EIN.")
    lines = [line.strip() for line in values["mailing_address"].splitlines() if line.strip()]
    values["mailing_address"] = "\n".join(lines)
    if not lines:
        errors["mailing_address"] = "Please enter a mailing address: receipts and letters show it."
    elif len(lines) > 6 or len(values["mailing_address"]) > 500:
        errors["mailing_address"] = "Please keep the address to 6 lines and 500 characters."
    try:
        values["contact_email"] = validate_email(values["contact_email"], check_deliverability=False).normalized
    except EmailNotValidError as exc:
        errors["contact_email"] = f"Please enter a contact email address like info@example.org: {exc}"
    if values["contact_phone"] and not PHONE_PATTERN.match(values["contact_phone"]):
        errors["contact_phone"] = "Please enter a phone number using digits, spaces and + ( ) - . only."
    if values["website"]:
        parsed = urlsplit(values["website"])
        if parsed.scheme not in ("http", "https") or not parsed.hostname or "." not in parsed.hostname \
                or len(values["website"]) > 300:
            errors["website"] = "Please enter the full web address, starting with https:// (e.g. https://www.example.org)."
    for name in ("privacy_policy", "refund_policy"):
        values[name] = values[name].replace("\r\n", "\n")
        if len(values[name]) > POLICY_MAX:
            errors[name] = f"Please shorten the {FIELD_LABELS[name].lower()} to {POLICY_MAX:,} characters."
    _fiscal_year_start(form, values, errors)
    for name in WALL_FIELDS:
        # Left out of the post (an older form): the stored choice stays.
        if not values[name]:
            del values[name]
        elif values[name] not in ("yes", "no"):
            errors[name] = "Please choose yes or no."
    return values, errors


def _fiscal_year_start(form: Mapping[str, str], values: dict[str, str], errors: dict[str, str]) -> None:
    """A month from 1 to 12; a form without the field (an older page) leaves the stored month as it is."""
    if "fiscal_year_start" not in form:
        values.pop("fiscal_year_start")
        return
    if values["fiscal_year_start"] not in {str(month) for month in range(1, 13)}:
        errors["fiscal_year_start"] = "Please choose the month your fiscal year starts in, from January to December."


class LogoError(ValueError):
    """An uploaded logo we can't use; the message says why."""


def check_logo(data: bytes) -> bytes:
    """Validate an uploaded logo (PNG, JPEG or WebP by its content, size-limited) and re-encode it
    as a PNG at most LOGO_BOX: whatever else the file carried (metadata, scripts) is dropped."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise LogoError("Please choose an image file.")
    if len(data) > LOGO_MAX_BYTES:
        raise LogoError(f"The image is {len(data) // 1024} KB; a logo can be at most {LOGO_MAX_BYTES // 1024 // 1024} MB.")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in LOGO_FORMATS:
                raise LogoError("A logo must be a PNG, JPEG or WebP image.")
            if probe.width * probe.height > LOGO_MAX_PIXELS:
                raise LogoError("That image is too large in pixels; please upload one under 5000 × 5000.")
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            image = image.convert("RGBA")
            image.thumbnail(LOGO_BOX)
            out = io.BytesIO()
            image.save(out, format="PNG", optimize=True)
    except LogoError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise LogoError("That file isn't a readable PNG, JPEG or WebP image.") from None
    return out.getvalue()


def logo_url(settings: Settings, org: Organisation) -> str:
    """The logo's absolute address (BASE_URL), for HTML mail that links it instead of attaching it."""
    if not org.logo_file:
        return ""
    return f"{settings.base_url}/media/{org.logo_file}"


def store_logo(instance_path: Path, data: bytes) -> str:
    """Write a checked logo (from `check_logo`) under the instance folder; returns its `logo_file`."""
    folder = instance_path / LOGO_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    name = f"logo-{secrets.token_hex(8)}.png"
    (folder / name).write_bytes(data)
    return f"{LOGO_FOLDER}/{name}"
