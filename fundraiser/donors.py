"""Donor records: matching a giver to an existing donor by normalised email."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import text
from .db import dialect_insert, utcnow
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


def _identity(email: str | None, name: str | None) -> tuple[str | None, str]:
    """The email (normalised) and name a donor is found or created by, cleaned: names and emails
    come from Stripe, imports and forms, and no control character goes past here."""
    return normalise_email(text.clean(email)), (text.clean(name) or "").strip()


def find_or_create_donor(
    session: Session, *, email: str | None, name: str | None, kind: DonorKind = DonorKind.PERSON
) -> Donor | None:
    """The donor with this email (name refreshed from what the payment reports), or a new one."""
    email, name = _identity(email, name)
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


class DonorBook:
    """Find or create the donors of many gifts at once (an import), by the rules of
    `find_or_create_donor` (cleaned text, normalised email, a merged-away donor's gifts go to the
    survivor), in a few statements a batch instead of several a gift. Differences, on purpose:
    an import never renames a known donor (an old export's name is no fresher than ours) but fills
    its blank contact details; and without an email one donor is created per distinct name.
    `rename` (a webhook backlog: the payment's name is the freshest) renames known donors as
    `find_or_create_donor` does."""

    def __init__(self, session: Session, *, rename: bool = False) -> None:
        self.session = session
        self.rename = rename
        self.names: dict[str, str] = {}
        self.by_email: dict[str, int] = {}
        self.by_name: dict[str, int] = {}
        self.matched = 0
        self.created: list[int] = []

    def resolve(self, wanted: Sequence[tuple[str | None, str | None, Mapping[str, str]]]) -> None:
        """Find or create the donor of every (email, name, contact details) given."""
        people: dict[tuple[str | None, str], dict[str, str]] = {}
        for email, name, contact in wanted:
            key = _identity(email, name)
            if self.rename and key[0] and key[1]:
                self.names[key[0]] = key[1]
            if (key[0] and key[0] not in self.by_email) or (not key[0] and key[1] and key[1].lower() not in self.by_name):
                people.setdefault(key, {k: v for k, v in ((k, text.clean(v)) for k, v in contact.items()) if v})
        emails = sorted({email for email, _ in people if email})
        if emails:
            contacts: dict[str, Mapping[str, str]] = {}
            for (email, _), contact in people.items():
                if email:
                    contacts.setdefault(email, contact)
            self._match(emails, contacts)
        missing = {}
        for (email, name), contact in people.items():
            if email and email not in self.by_email:
                missing.setdefault(("email", email), (email, name or email, contact))
            elif not email and name:
                missing.setdefault(("name", name.lower()), (None, name, contact))
        if not missing:
            return
        now = utcnow()
        table = Donor.__table__
        rows = {key: {**NEW_DONOR, "created_at": now, "name": name, "email": email, **contact}
                for key, (email, name, contact) in missing.items()}
        named = [key for key in rows if key[0] == "name"]
        if named:
            result = self.session.connection().execute(
                table.insert().returning(table.c.id, sort_by_parameter_order=True), [rows[key] for key in named])
            for (_, key), row in zip(named, result, strict=True):
                self.by_name[key] = row.id
                self.created.append(row.id)
        emailed = [rows[key] for key in rows if key[0] == "email"]
        if emailed:
            # A donor another worker created a moment ago keeps its row (the email is unique) and is matched.
            statement = dialect_insert(self.session.get_bind().dialect.name, table).on_conflict_do_nothing(
                index_elements=["email"]).returning(table.c.id, table.c.email)
            for row in self.session.connection().execute(statement, emailed):
                self.by_email[row.email] = row.id
                self.created.append(row.id)
            raced = sorted(row["email"] for row in emailed if row["email"] not in self.by_email)
            if raced:
                self._match(raced, {})

    def _match(self, emails: Sequence[str], contacts: Mapping[str, Mapping[str, str]]) -> None:
        for start in range(0, len(emails), 900):
            for donor in self.session.scalars(select(Donor).where(Donor.email.in_(emails[start:start + 900]))):
                kept = surviving(self.session, donor)
                if self.rename and donor.email in self.names and kept.email == donor.email:
                    kept.name = self.names[donor.email]
                for name, value in contacts.get(donor.email, {}).items():
                    if not getattr(kept, name):
                        setattr(kept, name, value)
                self.by_email[donor.email] = kept.id
                self.matched += 1

    def donor_id(self, email: str | None, name: str | None) -> int | None:
        """The donor found or created for this email and name by `resolve`."""
        email, name = _identity(email, name)
        if email:
            return self.by_email[email]
        return self.by_name[name.lower()] if name else None


NEW_DONOR = {
    "kind": DonorKind.PERSON, "phone": None, "address_line1": None, "address_line2": None, "city": None,
    "region": None, "postal_code": None, "country": None, "anonymous_by_default": False, "do_not_contact": False,
    "notes": "", "merged_into_id": None, "is_sample": False,
}


# ------------------------------------------------------------------ the staff console's donors

DONOR_FIELDS = (
    "kind", "name", "email", "phone", "address_line1", "address_line2", "city", "region", "postal_code",
    "country", "do_not_contact", "anonymous_by_default", "notes", "merged_into_id", "household_id",
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
    """A page of donors (merged-away records left out; limit=None: all): all by name when nothing
    is typed, else as `find` ranks them (partial names, email fragments, near misses)."""
    if not _words(query):
        return list(session.scalars(
            select(Donor).where(Donor.merged_into_id.is_(None)).order_by(Donor.name, Donor.id).offset(offset).limit(limit)
        ))
    return find(session, query, offset=offset, limit=limit)


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
    if keep.household_id is None:
        keep.household_id = duplicate.household_id
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


# ------------------------------------------------------------------ near misses and likely duplicates

NAME_WORDS = 5


def _words(query: str) -> list[str]:
    return query.lower().split()[:NAME_WORDS]


def _allowed_typos(word: str) -> int:
    """How far a typed word may be from a name to count as a near miss: none under four letters
    (those are matched as the start or part of a name), one up to five, two beyond."""
    return 0 if len(word) < 4 else 1 if len(word) <= 5 else 2


def typo_distance(a: str, b: str, most: int) -> int:
    """Edits (insert, delete, change, swap two neighbours) from a to b, or most + 1 once past most."""
    if abs(len(a) - len(b)) > most:
        return most + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
        if min(current) > most:
            return most + 1
        previous2, previous = previous, current
    return previous[-1]


def _starts(word: str) -> tuple[str, str]:
    # A typo seldom changes the first letter; swapping the first two is allowed.
    return word[0], word[1::-1]


def _could_be_near(word: str, token: str) -> bool:
    return token.startswith(_starts(word))


def _word_clause(word: str):
    """SQL that keeps every donor a word could match (part of the name or email, or a name word
    starting with its first letter or its first two swapped), so Python ranks only those."""
    name, email = func.lower(Donor.name), func.lower(Donor.email)
    clauses = [name.contains(word, autoescape=True), email.contains(word, autoescape=True)]
    if _allowed_typos(word):
        for start in _starts(word):
            clauses += [name.startswith(start, autoescape=True), name.contains(" " + start, autoescape=True)]
    return or_(*clauses)


def _token_costs(words: list[str], token: str) -> tuple[int, ...]:
    """Typos between each word typed and one word of a name: 0 when it contains the word, else the
    distance to it (or to its first letters) within what the word allows, else more than allowed."""
    costs = []
    for word in words:
        most = _allowed_typos(word)
        if word in token:
            costs.append(0)
        elif most and _could_be_near(word, token):
            # A typo in the first letters of a longer name counts too ("Smtih" for Smithers).
            costs.append(min(typo_distance(word, token, most), typo_distance(word, token[:len(word)], most)))
        else:
            costs.append(most + 1)
    return tuple(costs)


def matching_ids(session: Session, query: str) -> list[int]:
    """Every live donor matching the words typed: those containing every word (in name or email)
    first, by name, then near misses ("Jonh Smtih" for John Smith, "Smtih" for Smithers), fewest
    typos first."""
    words = _words(query)
    allowed = [_allowed_typos(w) for w in words]
    live = Donor.merged_into_id.is_(None)
    rows = session.execute(
        select(Donor.id, Donor.name, Donor.email).where(live, *(_word_clause(w) for w in words))
        .order_by(Donor.name, Donor.id)
    ).all()
    by_token: dict[str, tuple[int, ...]] = {}  # names share words: each is measured once
    exact, close = [], []
    for row in rows:
        email = (row.email or "").lower()
        tokens = [by_token.get(t) or by_token.setdefault(t, _token_costs(words, t)) for t in row.name.lower().split()]
        cost = 0
        for i, word in enumerate(words):
            best = 0 if word in email else min((t[i] for t in tokens), default=allowed[i] + 1)
            if best > allowed[i]:
                break
            cost += best
        else:
            if cost == 0:
                exact.append(row.id)
            else:
                close.append((cost, row.name.lower(), row.id))
    return exact + [donor_id for _, _, donor_id in sorted(close)]


def find(session: Session, query: str, *, offset: int = 0, limit: int | None = 10) -> list[Donor]:
    """A page of donors matching what was typed: partial names, email fragments, near misses."""
    if limit is not None:
        # Donors containing every word come first: when they fill the page, no near miss can show.
        where = [Donor.merged_into_id.is_(None)]
        for word in _words(query):
            where.append(func.lower(Donor.name).contains(word, autoescape=True)
                         | func.lower(Donor.email).contains(word, autoescape=True))
        page = list(session.scalars(select(Donor).where(*where).order_by(Donor.name, Donor.id).offset(offset).limit(limit)))
        if len(page) == limit:
            return page
    ids = matching_ids(session, query)
    ids = ids[offset:] if limit is None else ids[offset:offset + limit]
    if not ids:
        return []
    found = {}
    for start in range(0, len(ids), 900):
        found.update({d.id: d for d in session.scalars(select(Donor).where(Donor.id.in_(ids[start:start + 900])))})
    return [found[i] for i in ids if i in found]


def picked(session: Session, form: Mapping[str, str]) -> Donor | None:
    """The donor a search-as-you-type picker chose (its hidden id), or, without JavaScript, the one
    donor whose name or email is exactly what was typed; merged-away records lead to their survivor."""
    raw_id, query = (form.get("donor_id") or "").strip(), (form.get("donor_query") or "").strip().lower()
    donor = session.get(Donor, int(raw_id)) if raw_id.isdigit() else None
    if donor is None and query:
        exact = session.scalars(select(Donor).where(
            Donor.merged_into_id.is_(None), (func.lower(Donor.name) == query) | (Donor.email == query)
        ).limit(2)).all()
        donor = exact[0] if len(exact) == 1 else None
    return surviving(session, donor) if donor is not None else None


def _plain(value: str | None) -> str:
    return "".join(ch for ch in (value or "").lower() if ch.isalnum())


def close_names(a: str, b: str) -> bool:
    """Two names that are likely one person: equal but for case, spacing and punctuation, a typo
    or two, or the same surname with the same first initial ("J. Smith", "John Smith")."""
    plain_a, plain_b = _plain(a), _plain(b)
    if not plain_a or not plain_b:
        return False
    if typo_distance(plain_a, plain_b, 2) <= min(2, max(len(plain_a), len(plain_b)) // 4):
        return True
    words_a, words_b = [_plain(w) for w in a.split()], [_plain(w) for w in b.split()]
    words_a, words_b = [w for w in words_a if w], [w for w in words_b if w]
    return (len(words_a) > 1 and len(words_b) > 1 and words_a[-1] == words_b[-1]
            and words_a[0][:1] == words_b[0][:1])


def likely_duplicates(
    session: Session, *, name: str, email: str | None = None, postal_code: str | None = None,
    address_line1: str | None = None, limit: int = 10,
) -> list[Donor]:
    """Donors a new record would probably duplicate: the same email, or a close name at the same
    address or postal code. Staff see them before anything is created."""
    found: dict[int, Donor] = {}
    email = normalise_email(email)
    if email:
        for donor in session.scalars(select(Donor).where(Donor.email == email)):
            kept = surviving(session, donor)
            found[kept.id] = kept
    places = []
    postal = _plain(postal_code)
    if postal:
        places.append(func.lower(func.replace(Donor.postal_code, " ", "")) == postal_code.lower().replace(" ", ""))
    street = (address_line1 or "").strip().lower()
    if street:
        places.append(func.lower(Donor.address_line1) == street)
    if name and places:
        for donor in session.scalars(
            select(Donor).where(Donor.merged_into_id.is_(None), or_(*places)).order_by(Donor.id).limit(500)
        ):
            if close_names(name, donor.name):
                found.setdefault(donor.id, donor)
    return list(found.values())[:limit]
def record_newsletter_consent(donor: Donor | None, at: datetime) -> None:
    """A donor ticked "Keep me informed": the first consent's date stands (a monthly gift's later
    instalments carry the same tick and must not move it)."""
    if donor is not None and donor.newsletter_consent_at is None:
        donor.newsletter_consent_at = at


def record_newsletter_consents(session: Session, first_consent: Mapping[int, datetime]) -> None:
    """`record_newsletter_consent` for the donors of a batch (donor id: the earliest ticked
    gift's date), in one statement: a date already recorded stands."""
    if not first_consent:
        return
    table = Donor.__table__
    session.connection().execute(
        table.update().where(table.c.id == bindparam("donor"), table.c.newsletter_consent_at.is_(None))
        .values(newsletter_consent_at=bindparam("at")),
        [{"donor": donor_id, "at": at} for donor_id, at in sorted(first_consent.items())],
    )


def newsletter_list(session: Session) -> list[Donor]:
    """Donors who asked to be kept informed, oldest consent first; not those staff marked
    do-not-contact, nor duplicates merged away (their consent went with their gifts to the survivor)."""
    return list(session.scalars(
        select(Donor)
        .where(Donor.newsletter_consent_at.is_not(None), Donor.do_not_contact.is_(False),
               Donor.merged_into_id.is_(None), Donor.email.is_not(None))
        .order_by(Donor.newsletter_consent_at, Donor.id)
    ))
