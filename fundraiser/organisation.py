"""The organisation's identity as documents and pages state it: names, tax ids, contact, policies.

Environment variables (`ORG_*`) give the defaults; admins override any of them on the staff
Settings page, kept as `OrgSetting` rows with an audit entry. Every receipt, letter, statement and
footer reads `current_organisation()` (or `load_organisation()` outside a request), never the
settings directly, so a change made in the browser reaches every document at once.

A fiscally sponsored project is not itself the charity of record: when a sponsor is named, the
documents say the gift is made to the sponsor (its legal name and EIN) for the project.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

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
    # Path of the uploaded logo inside the instance folder ("" when none).
    logo_file: str

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
}
FIELD_NAMES = tuple(f.name for f in fields(Organisation))


def from_settings(settings: Settings) -> Organisation:
    """The identity the environment gives (before any change made on the Settings page)."""
    env = settings.extra
    values = {name: env.get(var, DEMO_ORG.get(var, "")) for name, var in ENV_NAMES.items()}
    # ORG_MAILING_ADDRESS may come on one line with " | " or "\n" escapes between lines.
    values["mailing_address"] = values["mailing_address"].replace(" | ", "\n").replace("\\n", "\n")
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
    """Save changed fields (validated by the caller's form) with one audit entry; flushes only."""
    unknown = set(changes) - set(FIELD_NAMES)
    if unknown:
        raise ValueError(f"Not an organisation setting: {', '.join(sorted(unknown))}")
    before = load_organisation(session, settings)
    rows = {row.key: row for row in session.scalars(select(OrgSetting).where(OrgSetting.key.in_(list(changes))))}
    for key, value in changes.items():
        if getattr(before, key) == value:
            continue
        row = rows.get(key)
        if row is None:
            session.add(OrgSetting(key=key, value=value, updated_at=utcnow(), updated_by_id=actor.user_id))
        else:
            row.value = value
            row.updated_at = utcnow()
            row.updated_by_id = actor.user_id
    after = replace(before, **dict(changes))
    audit.record(
        session, actor, "organisation.update", "organisation", "settings",
        before={k: getattr(before, k) for k in changes}, after={k: getattr(after, k) for k in changes},
    )
    session.flush()
    forget_cached()
    return after
