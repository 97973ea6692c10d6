"""Donor records: matching a giver to an existing donor by normalised email."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import Donor, DonorKind


def normalise_email(email: str | None) -> str | None:
    """Trimmed and lower-cased, or None when blank: the key donors are matched on."""
    email = (email or "").strip().lower()
    return email or None


def check_email(email: str) -> str:
    """A normalised, syntactically valid email address, or ValueError with a readable message."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def find_or_create_donor(
    session: Session, *, email: str | None, name: str | None, kind: DonorKind = DonorKind.PERSON
) -> Donor | None:
    """The donor with this email (name refreshed from what the payment reports), or a new one."""
    email = normalise_email(email)
    name = (name or "").strip()
    if email is None:
        if not name:
            return None
        donor = Donor(name=name, kind=kind)
        session.add(donor)
        session.flush()
        return donor
    donor = session.scalar(select(Donor).where(Donor.email == email))
    if donor is None:
        try:
            with session.begin_nested():
                donor = Donor(name=name or email, email=email, kind=kind)
                session.add(donor)
                session.flush()
        except IntegrityError:
            # Another worker created the same donor a moment ago.
            donor = session.scalar(select(Donor).where(Donor.email == email))
    elif name and donor.name != name:
        donor.name = name
    return donor
