"""Staff routes for keeping the console tidy without a terminal: the donor wall's bulk moderation
and removing the demo data. Registered on the staff blueprint (imported from staff/views.py)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from .. import wall
from ..db import get_session
from .views import actor, bp


@bp.post("/wall/bulk")
def wall_bulk():
    """Approve or hide every ticked entry of the wall queue with one button."""
    session = get_session()
    ids = [int(v) for v in request.form.getlist("gift_ids") if v.isdigit()]
    show = request.form.get("show") or None
    try:
        done = wall.moderate_many(session, actor(), ids, request.form.get("action", ""))
    except ValueError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("staff.wall_queue", show=show))
    session.commit()
    what = "approved" if request.form.get("action") == "approve" else "hidden from the wall"
    flash(f"{done} entr{'y' if done == 1 else 'ies'} {what}; campaign pages show the change now.", "success")
    return redirect(url_for("staff.wall_queue", show=show))
