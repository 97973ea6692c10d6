"""Donor records: matching a giver to an existing donor by normalised email."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import text
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
    # Names and emails come from Stripe, imports and forms: no control characters past here.
    email = normalise_email(text.clean(email))
    name = (text.clean(name) or "").strip()
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
    else:
        # An email may still sit on a duplicate that was merged away; the gift goes to the survivor.
        donor = surviving(session, donor)
        if name and donor.name != name and donor.email == email:
            donor.name = name
    return donor


# ------------------------------------------------------------------ the staff console's donors

DONOR_FIELDS = (
    "kind", "name", "email", "phone", "address_line1", "address_line2", "city", "region", "postal_code",
    "country", "do_not_contact", "anonymous_by_default", "notes", "merged_into_id",
)
CONTACT_FIELDS = ("phone", "address_line1", "address_line2", "city", "region", "postal_code", "country")
DONOR_PAGE = 50


def surviving(session: Session, donor: Donor) -> Donor:
    """The record a merged-away donor now lives on (itself when never merged)."""
    seen = set()
    while donor.merged_into_id is not None and donor.id not in seen:
        seen.add(donor.id)
        donor = session.get(Donor, donor.merged_into_id)
    return donor


def parse_donor_form(session: Session, form, existing: Donor | None) -> tuple[dict, dict[str, str]]:
    """A donor's editable fields, cleaned, and a message for each field that is wrong."""
    errors: dict[str, str] = text.form_problems(form)
    values = {name: (form.get(name) or "").strip() for name in ("name", "email", "kind", "notes", *CONTACT_FIELDS)}
    values["do_not_contact"] = form.get("do_not_contact") in ("yes", "on")
    values["anonymous_by_default"] = form.get("anonymous_by_default") in ("yes", "on")
    if not values["name"]:
        errors["name"] = "Please enter the donor's name (a person or an organisation)."
    if values["kind"] not in DonorKind._value2member_map_:
        errors["kind"] = "Please choose person or organisation."
    if values["email"]:
        try:
            values["email"] = check_email(values["email"])
        except ValueError:
            errors["email"] = "Please enter a valid email address, or leave it empty."
        else:
            clash = session.scalar(select(Donor).where(Donor.email == values["email"]))
            if clash is not None and (existing is None or clash.id != existing.id):
                errors["email"] = f"{clash.name} (donor {clash.id}) already has this email; merge the two instead."
    if values["country"] and len(values["country"]) != 2:
        errors["country"] = "Use the two-letter country code, like US or CA."
    limits = {"name": 200, "phone": 40, "address_line1": 200, "address_line2": 200, "city": 100, "region": 100, "postal_code": 20}
    for name, limit in limits.items():
        if len(values[name]) > limit:
            errors.setdefault(name, f"Please shorten this to {limit} characters.")
    return values, errors


def save_donor(session: Session, actor, donor: Donor | None, values: dict) -> Donor:
    """Create or update a donor from cleaned values, with before and after in the audit log."""
    from . import audit

    before = audit.snapshot(donor, DONOR_FIELDS) if donor else None
    if donor is None:
        donor = Donor()
        session.add(donor)
    donor.name = values["name"]
    donor.kind = DonorKind(values["kind"])
    donor.email = values["email"] or None
    donor.notes = values["notes"]
    donor.do_not_contact = values["do_not_contact"]
    donor.anonymous_by_default = values["anonymous_by_default"]
    for name in CONTACT_FIELDS:
        setattr(donor, name, values[name] or None)
    if donor.country:
        donor.country = donor.country.upper()
    session.flush()
    audit.record(
        session, actor, "donor.update" if before else "donor.create", "donor", donor.id,
        before=before, after=audit.snapshot(donor, DONOR_FIELDS),
    )
    return donor


def search(session: Session, query: str, *, offset: int = 0, limit: int | None = DONOR_PAGE) -> list[Donor]:
    """A page of donors (merged-away records left out; limit=None: all), by name, filtered by the words typed."""
    from sqlalchemy import func, or_

    where = [Donor.merged_into_id.is_(None)]
    for word in query.lower().split()[:5]:
        where.append(
            or_(func.lower(Donor.name).contains(word, autoescape=True), func.lower(Donor.email).contains(word, autoescape=True))
        )
    return list(session.scalars(select(Donor).where(*where).order_by(Donor.name, Donor.id).offset(offset).limit(limit)))


def merge(session: Session, actor, duplicate: Donor, keep: Donor) -> list[int]:
    """Merge a duplicate donor into the one to keep: gifts, plans, events and credits move; nothing is deleted.

    The duplicate stays as a record pointing at the kept donor; its contact details fill any blanks
    on the kept one, and the audit log lists every gift that moved.
    """
    from sqlalchemy import update

    from . import audit, ledger
    from .models import CommunityEvent, GiftCredit, RecurringPlan

    if duplicate.id == keep.id:
        raise ValueError("Choose two different donors to merge.")
    if duplicate.merged_into_id is not None or keep.merged_into_id is not None:
        raise ValueError("One of these donors was already merged; open the donor it was merged into.")
    before_keep = audit.snapshot(keep, DONOR_FIELDS)
    gift_ids = ledger.move_donor_gifts(session, duplicate.id, keep.id)
    session.execute(update(RecurringPlan).where(RecurringPlan.donor_id == duplicate.id).values(donor_id=keep.id))
    session.execute(update(CommunityEvent).where(CommunityEvent.host_donor_id == duplicate.id).values(host_donor_id=keep.id))
    session.execute(update(GiftCredit).where(GiftCredit.donor_id == duplicate.id).values(donor_id=keep.id))
    for name in ("email", *CONTACT_FIELDS):
        if not getattr(keep, name) and getattr(duplicate, name):
            value = getattr(duplicate, name)
            if name == "email":
                duplicate.email = None  # the email is unique: it moves to the kept donor
                session.flush()
            setattr(keep, name, value)
    keep.do_not_contact = keep.do_not_contact or duplicate.do_not_contact
    if duplicate.notes:
        keep.notes = (keep.notes + "\n" if keep.notes else "") + f"From merged donor {duplicate.id}: {duplicate.notes}"
    duplicate.merged_into_id = keep.id
    session.flush()
    audit.record(
        session, actor, "donor.merge", "donor", keep.id,
        before=before_keep, after={**audit.snapshot(keep, DONOR_FIELDS), "merged_donor_id": duplicate.id, "gift_ids": gift_ids},
    )
    audit.record(session, actor, "donor.merged_into", "donor", duplicate.id, after={"merged_into_id": keep.id, "gift_ids": gift_ids})
    return gift_ids
