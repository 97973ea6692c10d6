"""Donor text at the boundary: no control characters in what people and webhooks send us.

Names, emails and dedications end up in mail headers (To:, Subject:), CSV exports and PDF
statements; a carriage return or line separator there could add a header (`\\r\\nBcc: ...`), and
PostgreSQL refuses NUL in text. Forms reject such text with a message (`problem`); data from
machines (Stripe metadata, imports) is cleaned instead (`clean`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# C0 controls and DEL, C1 controls (NEL U+0085 among them), and Unicode's line and paragraph
# separators. Tab and newline are allowed in multi-line text only.
_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MULTI_LINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile("\r\n?|[\u2028\u2029\x85]")


def normalise_lines(value: str) -> str:
    """Browsers send a textarea's line breaks as CRLF; store LF (and treat U+2028/2029, NEL as LF)."""
    return _LINE_BREAKS.sub("\n", value)


def problem(value: str | None, *, multiline: bool = False) -> str | None:
    """A message for a person when `value` holds characters that have no place in it, else None."""
    if not value:
        return None
    if multiline:
        return CONTROL_MESSAGE if _MULTI_LINE.search(normalise_lines(value)) else None
    if _SINGLE_LINE.search(value):
        return LINE_BREAK_MESSAGE if _LINE_BREAKS.search(value) or "\n" in value else CONTROL_MESSAGE
    return None


def clean(value: str | None, *, multiline: bool = False) -> str | None:
    """`value` with those characters removed (a line break in single-line text becomes a space)."""
    if value is None:
        return None
    if multiline:
        return _MULTI_LINE.sub("", normalise_lines(value))
    return _SINGLE_LINE.sub("", _LINE_BREAKS.sub(" ", value).replace("\n", " "))


def form_problems(form: Mapping[str, str], prefix: str = "") -> dict[str, str]:
    """A message for each field of a submitted form (those named `prefix...`) holding such characters.

    Only the fields people write paragraphs in (textareas: MULTI_LINE_FIELDS) may hold line breaks.
    """
    found = {}
    for name, value in form.items():
        if name.startswith(prefix) and isinstance(value, str):
            message = problem(value, multiline=name.removeprefix(prefix) in MULTI_LINE_FIELDS)
            if message:
                found[name] = message
    return found


# Textareas of the donate form and the staff console; every other field is one line.
MULTI_LINE_FIELDS = frozenset({"comment", "note", "notes", "description", "summary", "story_md", "itemised", "reason", "impact_lines"})
LINE_BREAK_MESSAGE = "Please keep this on one line."
CONTROL_MESSAGE = "Please remove the invisible control characters from this text."


def refuse_nul() -> None:
    """Before every request: a NUL in the address, query or form is never meant (PostgreSQL also
    refuses it in text), so answer 400 at the door instead of failing deep in a query."""
    from flask import abort, request

    values = [request.path, *request.args.values()]
    # Only form bodies have a form to look in; reading `form` for any other (a Stripe webhook's
    # JSON) parses nothing, yet took 7% of the workers' GIL time in a flood of webhooks.
    if request.method != "GET" and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += request.form.values()
    if any("\x00" in v for v in values if isinstance(v, str)):
        abort(400, "The request contains a NUL character, which no field accepts.")


def init_app(app) -> None:
    """Check every request for NUL before any view reads it."""
    app.before_request(refuse_nul)
