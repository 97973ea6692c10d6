"""Form fields of the staff console that are not money: accounts, donors, campaigns, events.

Gift fields are parsed by `fundraiser.gifts` (the same rules serve single entry, deposits and
event proceeds). Every parser returns the values to keep in the form and per-field messages.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..donations import FormErrors
from ..models import Role
from ..text import form_problems

ROLE_CHOICES = [
    (Role.STAFF.value, "Staff: campaigns, gifts, events, donors, imports"),
    (Role.BOARD.value, "Board: read-only dashboards, reports and lists"),
    (Role.ADMIN.value, "Admin: everything staff can do, plus accounts and the audit log"),
]


def text(form: Mapping[str, str], name: str) -> str:
    return (form.get(name) or "").strip()


def parse_invite(form: Mapping[str, str]) -> tuple[dict[str, str], FormErrors]:
    """Email, name and role of a person to invite."""
    errors = FormErrors()
    for name, message in form_problems(form).items():
        errors.add(name, message)
    values = {"email": text(form, "email"), "name": text(form, "name"), "role": text(form, "role")}
    if not values["email"]:
        errors.add("email", "Please enter the person's email address; the invitation goes there.")
    if len(values["name"]) > 200:
        errors.add("name", "Please shorten the name to 200 characters.")
    if values["role"] not in Role._value2member_map_:
        errors.add("role", "Please choose a role.")
    return values, errors
