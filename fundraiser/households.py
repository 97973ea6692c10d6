"""Households: donors who live together, grouped for mailing and reporting. A household adds up its
members' own giving (each gift has one giver, so nothing counts twice) and never moves a gift."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, text
from .models import Donor, Household
from .statements import LifetimeGiving, lifetime_giving

HOUSEHOLD_FIELDS = ("name", "mailing_name", "address_line1", "address_line2", "city", "region", "postal_code", "country")
LIMITS = {"name": 200, "mailing_name": 200, "address_line1": 200, "address_line2": 200, "city": 100, "region": 100,
          "postal_code": 20}


def parse_form(form: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """A household's fields, cleaned, and a message for each field that is wrong."""
    errors: dict[str, str] = text.form_problems(form)
    values = {name: (form.get(name) or "").strip() for name in HOUSEHOLD_FIELDS}
    if not values["name"]:
        errors["name"] = "Please name the household, like “Smith household”."
    if not values["mailing_name"]:
        errors["mailing_name"] = "Please enter how envelopes are addressed, like “The Smith Family”."
    if values["country"] and len(values["country"]) != 2:
        errors["country"] = "Use the two-letter country code, like US or CA."
    for name, limit in LIMITS.items():
        if len(values[name]) > limit:
            errors.setdefault(name, f"Please shorten this to {limit} characters.")
    return values, errors


def create(session: Session, actor: audit.Actor, values: Mapping[str, str], first_member: Donor | None = None) -> Household:
    """A new household (its address defaults to its first member's), recorded in the audit log."""
    household = Household(created_by_id=actor.user_id, **{k: v or None for k, v in values.items()})
    household.name, household.mailing_name = values["name"], values["mailing_name"]
    if first_member is not None and not household.address_line1:
        for name in ("address_line1", "address_line2", "city", "region", "postal_code", "country"):
            setattr(household, name, getattr(first_member, name))
    if household.country:
        household.country = household.country.upper()
    session.add(household)
    session.flush()
    audit.record(session, actor, "household.create", "household", household.id,
                 after=audit.snapshot(household, HOUSEHOLD_FIELDS))
    if first_member is not None:
        add_member(session, actor, household, first_member)
    return household


def update(session: Session, actor: audit.Actor, household: Household, values: Mapping[str, str]) -> None:
    """Change a household's names or address, with before and after in the audit log."""
    before = audit.snapshot(household, HOUSEHOLD_FIELDS)
    for name in HOUSEHOLD_FIELDS:
        setattr(household, name, values[name] or None)
    household.name, household.mailing_name = values["name"], values["mailing_name"]
    if household.country:
        household.country = household.country.upper()
    session.flush()
    audit.record(session, actor, "household.update", "household", household.id, before=before,
                 after=audit.snapshot(household, HOUSEHOLD_FIELDS))


def add_member(session: Session, actor: audit.Actor, household: Household, donor: Donor) -> None:
    """Put a donor in a household (out of any other one), recorded on the donor's history."""
    if donor.merged_into_id is not None:
        raise ValueError("This donor was merged into another; add the donor it was merged into.")
    if donor.household_id == household.id:
        raise ValueError(f"{donor.name} is already in {household.name}.")
    before = {"household_id": donor.household_id}
    donor.household_id = household.id
    session.flush()
    audit.record(session, actor, "donor.household", "donor", donor.id, before=before, after={"household_id": household.id})


def remove_member(session: Session, actor: audit.Actor, donor: Donor) -> None:
    """Take a donor out of their household; the household and its other members stay."""
    if donor.household_id is None:
        raise ValueError(f"{donor.name} is not in a household.")
    before = {"household_id": donor.household_id}
    donor.household_id = None
    session.flush()
    audit.record(session, actor, "donor.household", "donor", donor.id, before=before, after={"household_id": None})


def all_households(session: Session) -> list[Household]:
    return list(session.scalars(select(Household).order_by(Household.name, Household.id)))


def members(session: Session, household: Household) -> list[Donor]:
    """A household's members; a duplicate merged away is represented by the donor it was merged into."""
    return list(session.scalars(
        select(Donor).where(Donor.household_id == household.id, Donor.merged_into_id.is_(None)).order_by(Donor.name, Donor.id)
    ))


@dataclass
class HouseholdGiving:
    """Each member's own giving and the household's, per currency: a gift counts once, for its giver."""

    members: list[tuple[Donor, LifetimeGiving]]
    totals_by_currency: dict[str, int] = field(default_factory=dict)
    gift_count: int = 0


def giving(session: Session, household: Household) -> HouseholdGiving:
    """The household page's figures: every member's lifetime giving and their sum."""
    people = members(session, household)
    by_donor = lifetime_giving(session, [d.id for d in people])
    result = HouseholdGiving(members=[(d, by_donor.get(d.id) or LifetimeGiving()) for d in people])
    for _, given in result.members:
        result.gift_count += given.gift_count
        for currency, cents in given.totals_by_currency.items():
            result.totals_by_currency[currency] = result.totals_by_currency.get(currency, 0) + cents
    return result


MAILING_HEADER = ["household_id", "donor_id", "mailing_name", "address_line1", "address_line2", "city", "region",
                  "postal_code", "country", "members", "do_not_contact"]


def mailing_rows(session: Session) -> Iterator[list[object]]:
    """One row per household (its mailing name and address), then one per donor in none; merged-away
    records are left out. A household is do-not-contact only when every member is."""
    live = list(session.scalars(select(Donor).where(Donor.merged_into_id.is_(None)).order_by(Donor.name, Donor.id)))
    grouped: dict[int, list[Donor]] = {}
    for donor in live:
        if donor.household_id is not None:
            grouped.setdefault(donor.household_id, []).append(donor)
    for household in all_households(session):
        people = grouped.get(household.id, [])
        yield [household.id, "", household.mailing_name, household.address_line1, household.address_line2,
               household.city, household.region, household.postal_code, household.country,
               "; ".join(d.name for d in people), bool(people) and all(d.do_not_contact for d in people)]
    for donor in live:
        if donor.household_id is None:
            yield ["", donor.id, donor.name, donor.address_line1, donor.address_line2, donor.city, donor.region,
                   donor.postal_code, donor.country, donor.name, donor.do_not_contact]
