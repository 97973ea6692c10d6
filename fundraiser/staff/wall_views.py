"""The donor wall's moderation queue."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from .. import (
    wall,
)
from ..db import get_session
from ..models import (
    Gift,
)
from ..settings import current_settings
from .views import actor, bp, get_or_404


@bp.get("/wall")
def wall_queue():
    session = get_session()
    waiting_only = request.args.get("show") != "all"
    return render_template(
        "staff/wall.html", entries=wall.queue(session, waiting_only=waiting_only), waiting_only=waiting_only,
        approve_first=current_settings().wall_moderation == "approve",
    )


@bp.post("/wall/<int:gift_id>")
def wall_moderate(gift_id: int):
    session = get_session()
    gift = get_or_404(Gift, gift_id, "gift")
    try:
        wall.moderate(session, actor(), gift, request.form.get("action", ""))
    except ValueError as exc:
        abort(400, description=str(exc))
    session.commit()
    flash(f"Gift {gift.id}: done; the campaign page shows the change now.", "success")
    return redirect(url_for("staff.wall_queue", show=request.form.get("show") or None))


# The organisation's Settings and Mail pages register on this blueprint.
