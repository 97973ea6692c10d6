"""A donor's own link to their year-end statement PDF (sent in the statement email): signed,
expiring, and rendered on demand from the ledger as it stands, dated when it was issued."""

from __future__ import annotations

from flask import abort

from .. import letters, yearend
from ..db import get_session
from ..models import YearStatement
from ..organisation import current_organisation
from ..settings import current_settings
from .views import bp


@bp.get("/statements/<token>.pdf")
def statement_pdf(token: str):
    settings = current_settings()
    org = current_organisation()
    try:
        record_id = yearend.record_for_token(settings, token)
    except yearend.LinkInvalid as exc:
        contact = f" Write to {org.contact_email} for a new copy." if org.contact_email else ""
        abort(410 if exc.expired else 404, description=f"{exc}{contact}")
    session = get_session()
    row = session.get(YearStatement, record_id)
    if row is None:
        abort(404, description="We couldn't find that statement.")
    body = letters.documents_pdf([yearend.recorded_statement(session, row, settings.tz)], settings, org)
    filename = f"giving-statement-{row.year}.pdf"
    return body, 200, {
        "Content-Type": "application/pdf", "Content-Disposition": f'inline; filename="{filename}"',
        # The statement names the donor and their gifts: never kept by shared caches.
        "Cache-Control": "private, no-store", "X-Robots-Tag": "noindex",
    }
