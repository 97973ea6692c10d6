"""Community events in the staff console: the list and its CSV, the form, and recording proceeds."""

from __future__ import annotations

from flask import (
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from .. import (
    audit,
    events,
    exports,
    gifts,
)
from ..db import get_session
from ..donations import FormErrors
from ..ledger import LedgerError
from ..models import (
    Campaign,
    CommunityEvent,
    GiftMethod,
)
from ..money import format_money
from ..settings import current_settings
from . import confirm
from .views import METHOD_CHOICES, actor, bp, campaign_choices, csv_response, get_or_404, today


@bp.get("/events")
def event_list():
    session = get_session()
    rows = [(e, events.event_total(session, e)) for e in events.all_events(session)]
    return render_template("staff/events.html", rows=rows)


@bp.get("/events.csv")
def event_export():
    session = get_session()
    rows = exports.event_rows(session, events.all_events(session))
    return csv_response(f"events-{today().isoformat()}.csv", exports.to_csv(exports.EVENT_HEADER, rows))


def render_event_form(event, values, errors, status=200):
    session = get_session()
    return render_template(
        "staff/event_form.html", event=event, values=values, errors=errors,
        campaigns=campaign_choices(gifts.open_campaigns(session)),
    ), status


@bp.route("/events/new", methods=["GET", "POST"])
def event_new():
    return event_form(None)


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
def event_edit(event_id: int):
    return event_form(get_or_404(CommunityEvent, event_id, "event"))


def event_form(event):
    session = get_session()
    if request.method == "GET":
        values = {"event_date": today().isoformat()}
        if event is not None:
            values = {
                "name": event.name, "slug": event.slug, "host_name": event.host_name,
                "host_donor_id": event.host_donor_id or "", "host_donor_query": event.host_donor.name if event.host_donor else "",
                "event_date": event.event_date.isoformat(), "place": event.place, "campaign_id": event.campaign_id,
                "description": event.description,
            }
        return render_event_form(event, values, {})
    values = request.form.to_dict()
    parsed = events.parse_event(session, request.form, gifts.open_campaigns(session), event, today())
    if isinstance(parsed, FormErrors):
        return render_event_form(event, values, parsed.errors, status=400)
    if event is not None and parsed.campaign_id != event.campaign_id and not confirm.confirmed():
        moving = events.proceeds_to_move(session, event, parsed.campaign_id)
        if moving:
            target = session.get(Campaign, parsed.campaign_id)
            total = sum(m.net_cents for m in moving)
            return confirm.ask(
                f"Move {event.name}'s proceeds to {target.title}?",
                f"The event's {len(moving)} proceeds entr{'y' if len(moving) == 1 else 'ies'} "
                f"({format_money(total, target.currency)}) will count toward {target.title} instead of "
                f"{event.campaign.title}; both campaigns' totals and the board follow. Each move stays in the gift's history.",
                "Yes, move the proceeds", url_for("staff.event_edit", event_id=event.id),
                items=[
                    f"Gift {m.gift.id}: {format_money(m.net_cents, m.gift.currency)} received "
                    f"{m.gift.received_at.astimezone(current_settings().tz).strftime('%B %-d, %Y')}"
                    f"{f' (#{m.gift.reference})' if m.gift.reference else ''}"
                    for m in moving
                ],
            )
    try:
        saved = events.save_event(session, actor(), event, parsed)
    except LedgerError as exc:
        session.rollback()
        return render_event_form(event, values, {"campaign_id": str(exc)}, status=400)
    session.commit()
    flash(f"Saved the event “{saved.name}”.", "success")
    return redirect(url_for("staff.event_detail", event_id=saved.id))


def render_event(event, values=None, errors=None, status=200):
    session = get_session()
    if values is None:
        values = {"received_on": today().isoformat(), "method": GiftMethod.CASH.value, "token": gifts.new_submission_token()}
    return render_template(
        "staff/event.html", event=event, total=events.event_total(session, event), entries=events.proceeds(session, event),
        values=values, errors=errors or {}, methods=METHOD_CHOICES, today=today().isoformat(),
        history=audit.history(session, "event", event.id),
    ), status


@bp.get("/events/<int:event_id>")
def event_detail(event_id: int):
    return render_event(get_or_404(CommunityEvent, event_id, "event"))


@bp.post("/events/<int:event_id>/proceeds")
def event_proceeds(event_id: int):
    session = get_session()
    event = get_or_404(CommunityEvent, event_id, "event")
    values = request.form.to_dict()
    if not gifts.valid_token(values.get("token")):
        values["token"] = gifts.new_submission_token()
        return render_event(event, values, {"form": gifts.EXPIRED_FORM}, status=400)
    parsed = events.parse_proceeds(session, request.form, event, today())
    if isinstance(parsed, FormErrors):
        return render_event(event, values, parsed.errors, status=400)
    try:
        gift = gifts.record_offline_gift(session, actor(), parsed, values.get("token", ""), current_settings().tz, event_id=event.id)
    except gifts.AlreadySaved:
        session.rollback()
        flash("Those proceeds were already saved (the form was sent twice); nothing was recorded a second time.", "info")
        return redirect(url_for("staff.event_detail", event_id=event.id))
    except LedgerError as exc:
        session.rollback()
        return render_event(event, values, {"amount": str(exc)}, status=400)
    session.commit()
    flash(
        f"Saved {format_money(gift.amount_cents, gift.currency)} of proceeds, credited to {event.host_name}. "
        f"The event has now raised {format_money(events.event_total(session, event), gift.currency)}.", "success",
    )
    return redirect(url_for("staff.event_detail", event_id=event.id))


# ------------------------------------------------------------------------------ donors
