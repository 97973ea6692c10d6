"""Staff routes for keeping the console tidy without a terminal: the donor wall's bulk moderation
and removing the demo data. Registered on the staff blueprint (imported from staff/views.py)."""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from .. import demo, wall
from ..auth.access import roles_required
from ..db import get_session
from ..models import Role
from . import confirm
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


@bp.post("/demo/remove")
@roles_required(Role.ADMIN)
def demo_remove():
    """The admin's "Remove the demo data" button: asks first, then removes it all in one transaction."""
    if not confirm.confirmed():
        return confirm.ask(
            "Remove the demo data?", "Every demo campaign, sample donor, sample gift and sample event will be deleted, "
            "and the totals rebuilt. Real gifts, donors and campaigns stay as they are. This can't be undone.",
            "Yes, remove the demo data", url_for("staff.index"),
        )
    session = get_session()
    report = demo.remove_demo(session, actor())
    session.commit()
    flash(report, "success")
    return redirect(url_for("staff.index"))
