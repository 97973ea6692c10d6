"""The staff console's blueprint under /staff: its access rule, the helpers every area shares and the
console's front page. Each area (gifts, deposits, campaigns, events, donors, wall, accounts, audit,
paperwork, imports, settings) keeps its routes in its own module, imported at the bottom.

Views parse the request, call one domain function, commit once and render. Every route is for
admin and staff accounts only (checked before each request); account pages are for admins.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)

from .. import (
    gifts,
)
from ..audit import Actor
from ..auth.access import STAFF_ROLES, current_user
from ..db import get_session, utcnow
from ..settings import current_settings

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.before_request
def staff_only():
    """Every console page: visitors sign in first, board accounts are refused."""
    user = current_user()
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if user.role not in STAFF_ROLES:
        abort(403, description="This page is for staff and admins.")
    return None


def actor() -> Actor:
    return Actor(current_user().id, request.remote_addr)


def today():
    return utcnow().astimezone(current_settings().tz).date()


def get_or_404(model, object_id: int, what: str):
    obj = get_session().get(model, object_id)
    if obj is None:
        abort(404, description=f"We couldn't find that {what}.")
    return obj


@bp.get("/")
def index():
    session = get_session()
    return render_template(
        "staff/index.html",
        unattributed_count=len(gifts.unattributed(session)),
        recent=gifts.recent_entered(session, limit=10),
    )



def campaign_choices(campaigns) -> list[tuple[int, str]]:
    """Campaign options for a select: title, with the status when it isn't active, and currency."""
    return [
        (c.id, f"{c.title}{'' if c.status == 'active' else f' ({c.status})'} · {c.currency}") for c in campaigns
    ]


METHOD_CHOICES = [(m.value, gifts.METHOD_NAMES[m]) for m in gifts.OFFLINE_METHODS]


def csv_response(filename: str, chunks):
    """A CSV download. The rows are built here, while the request's database session is open: a
    stream read after the view returns would find the session closed (HTTP 500 on a real server)."""
    response = Response("".join(chunks), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response



# Each area of the console keeps its routes in its own module, registered on this blueprint.
from . import (  # noqa: F401
    audit_views,
    campaign_views,
    deposit_views,
    document_views,
    donor_views,
    event_views,
    gift_views,
    household_views,
    housekeeping,
    import_views,
    receipt_views,
    settings_views,
    user_views,
    wall_views,
)
from . import payouts as payout_pages  # noqa: F401 - its routes join this blueprint
