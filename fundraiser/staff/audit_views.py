"""The audit log page, for admins: the log told as a story, filtered by person, record and dates."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import (
    render_template,
    request,
)
from sqlalchemy import select

from .. import (
    audit,
)
from ..auth.access import roles_required
from ..db import get_session
from ..models import (
    Role,
    User,
)
from ..settings import current_settings
from .views import bp


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


@bp.get("/audit")
@roles_required(Role.ADMIN)
def audit_log():
    session = get_session()
    args = request.args
    tz = current_settings().tz
    errors = {}
    since, until = _day(args.get("from")), _day(args.get("to"))
    for name, value in (("from", since), ("to", until)):
        if args.get(name) and value is None:
            errors[name] = "Please enter a date like 2026-12-01, or leave it empty."
    if since and until and until < since:
        errors["to"] = "The end date is before the start date."
    object_type, object_id = args.get("type") or None, (args.get("id") or "").strip() or None
    if args.get("gift", "").strip():
        object_type, object_id = "gift", args["gift"].strip().lstrip("#")
        if not object_id.isdigit():
            errors["gift"] = "A gift number is digits, like 348."
    # A filter that can't be read shows nothing, not everything: the list would look filtered.
    rows = [] if errors else audit.browse(
        session, user_id=args.get("user", type=int), object_type=object_type, object_id=object_id,
        action=args.get("action") or None, older_than_id=args.get("before", type=int),
        since=datetime.combine(since, time(0), tzinfo=tz) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(0), tzinfo=tz) if until else None,
    )
    people = session.scalars(select(User).order_by(User.email)).all()
    kept = {k: v for k, v in args.items() if k != "before" and v}
    return render_template(
        "staff/audit.html", lines=audit.story(session, rows), people=people, filters=args, kept=kept,
        errors=errors, page_size=audit.PAGE_SIZE, next_before=rows[-1].id if len(rows) == audit.PAGE_SIZE else None,
    ), 400 if errors else 200
