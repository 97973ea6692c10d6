"""Numbered deposit batches in the staff console: the list, one deposit (add checks already entered,
enter new ones, close against the slip) and its printable report for the fiscal sponsor.
Registered on the staff blueprint (imported from staff/views.py)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from .. import deposits, gifts
from ..db import get_session
from ..ledger import LedgerError
from ..models import DepositBatch, Gift, GiftMethod
from ..money import format_money
from ..settings import current_settings
from .views import METHOD_CHOICES, actor, bp, campaign_choices, get_or_404, today

BATCH_ROWS = 12  # blank rows on a new deposit form


def _currencies(campaigns) -> list[str]:
    return sorted({c.currency for c in campaigns}) or ["USD"]


@bp.get("/deposits")
def deposit_list():
    session = get_session()
    return render_template(
        "staff/deposits.html", rows=deposits.summaries(session),
        currencies=_currencies(gifts.open_campaigns(session)), error=None,
    )


@bp.post("/deposits")
def deposit_open():
    """Open the next numbered deposit."""
    session = get_session()
    try:
        batch = deposits.open_batch(session, actor(), request.form.get("currency", ""), request.form.get("memo", ""))
    except deposits.DepositError as exc:
        session.rollback()
        return render_template(
            "staff/deposits.html", rows=deposits.summaries(session),
            currencies=_currencies(gifts.open_campaigns(session)), error=str(exc),
        ), 400
    session.commit()
    flash(f"Opened deposit {batch.number}. Add the checks already entered, or enter new ones.", "success")
    return redirect(url_for("staff.deposit_batch", batch_id=batch.id))


def render_batch(batch: DepositBatch, *, values=None, errors=None, row_errors=None, row_count=BATCH_ROWS,
                 close_error=None, status=200):
    session = get_session()
    campaigns = [c for c in gifts.open_campaigns(session) if c.currency == batch.currency]
    lines = deposits.lines(session, batch)
    if values is None:
        values = {"received_on": today().isoformat(), "method": GiftMethod.CHECK.value, "token": gifts.new_submission_token()}
    return render_template(
        "staff/deposit_batch.html", batch=batch, lines=lines, total=sum(line.net_cents for line in lines),
        candidates=deposits.candidates(session, batch) if batch.status == "open" else [],
        campaigns=campaign_choices(campaigns), methods=METHOD_CHOICES, today=today().isoformat(),
        values=values, errors=errors or {}, row_errors=row_errors or {}, row_count=row_count, close_error=close_error,
    ), status


@bp.get("/deposits/<int:batch_id>")
def deposit_batch(batch_id: int):
    return render_batch(get_or_404(DepositBatch, batch_id, "deposit"))


@bp.post("/deposits/<int:batch_id>/add")
def deposit_add(batch_id: int):
    """Put ticked checks, already entered as they came in the mail, into this deposit."""
    session = get_session()
    batch = get_or_404(DepositBatch, batch_id, "deposit")
    ids = [int(v) for v in request.form.getlist("gift_ids") if v.isdigit()]
    try:
        added = deposits.add_gifts(session, actor(), batch, ids)
    except deposits.DepositError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("staff.deposit_batch", batch_id=batch.id))
    session.commit()
    flash(f"Added {added} gift{'s' if added != 1 else ''} to deposit {batch.number}.", "success")
    return redirect(url_for("staff.deposit_batch", batch_id=batch.id))


@bp.post("/deposits/<int:batch_id>/remove/<int:gift_id>")
def deposit_remove(batch_id: int, gift_id: int):
    session = get_session()
    batch = get_or_404(DepositBatch, batch_id, "deposit")
    gift = get_or_404(Gift, gift_id, "gift")
    try:
        deposits.remove_gift(session, actor(), batch, gift)
    except deposits.DepositError as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        session.commit()
        flash(f"Took gift {gift.id} out of deposit {batch.number}; the gift itself is unchanged.", "success")
    return redirect(url_for("staff.deposit_batch", batch_id=batch.id))


@bp.post("/deposits/<int:batch_id>/gifts")
def deposit_enter(batch_id: int):
    """Enter new checks straight into an open deposit: every row saved, or none (as the deposit form)."""
    session = get_session()
    batch = get_or_404(DepositBatch, batch_id, "deposit")
    if batch.status != "open":
        flash(f"Deposit {batch.number} is closed; open a new deposit for these checks.", "error")
        return redirect(url_for("staff.deposit_batch", batch_id=batch.id))
    values = request.form.to_dict()
    if gifts.valid_token(values.get("token")) and gifts.gifts_of_submission(session, values["token"]):
        # Sent twice (a reload): say so before checking the rows again (their new donors exist now).
        flash("Those checks were already saved (the form was sent twice); nothing was recorded a second time.", "info")
        return redirect(url_for("staff.deposit_batch", batch_id=batch.id))
    campaigns = [c for c in gifts.open_campaigns(session) if c.currency == batch.currency]
    parsed = gifts.parse_batch(session, request.form, today=today(), campaigns=campaigns, slip_required=False)
    if not gifts.valid_token(values.get("token")):
        values["token"] = gifts.new_submission_token()
        parsed.errors.add("rows", gifts.EXPIRED_FORM)
    row_count = min(max(BATCH_ROWS, request.form.get("row_count", type=int) or 0), gifts.BATCH_MAX_ROWS)
    if parsed.ok:
        try:
            saved = gifts.record_batch(session, actor(), parsed, values.get("token", ""), current_settings().tz,
                                       deposit_batch_id=batch.id)
        except gifts.AlreadySaved:
            session.rollback()
            flash("Those checks were already saved (the form was sent twice); nothing was recorded a second time.", "info")
            return redirect(url_for("staff.deposit_batch", batch_id=batch.id))
        except LedgerError as exc:
            session.rollback()
            parsed.errors.add("rows", str(exc))
        else:
            session.commit()
            total = format_money(sum(g.amount_cents for g in saved), batch.currency)
            flash(f"Saved {len(saved)} gift{'s' if len(saved) != 1 else ''} totalling {total} into deposit {batch.number}.", "success")
            return redirect(url_for("staff.deposit_batch", batch_id=batch.id))
    return render_batch(batch, values=values, errors=parsed.errors.errors, row_errors=parsed.row_errors, row_count=row_count,
                        status=400)


@bp.post("/deposits/<int:batch_id>/close")
def deposit_close(batch_id: int):
    """Close the deposit when its checks add up to the slip; otherwise it stays open and says why."""
    session = get_session()
    batch = get_or_404(DepositBatch, batch_id, "deposit")
    try:
        slip = deposits.parse_slip(request.form.get("slip_total", ""), batch.currency)
        deposits.close_batch(session, actor(), batch, slip, request.form.get("memo"))
    except deposits.DepositError as exc:
        session.rollback()
        return render_batch(batch, close_error=str(exc), status=400)
    session.commit()
    flash(f"Closed deposit {batch.number}: {format_money(batch.slip_total_cents, batch.currency)}, matching the slip.", "success")
    return redirect(url_for("staff.deposit_batch", batch_id=batch.id))


@bp.get("/deposits/<int:batch_id>/report")
def deposit_report(batch_id: int):
    """The deposit report for the fiscal sponsor, made for printing."""
    session = get_session()
    batch = get_or_404(DepositBatch, batch_id, "deposit")
    lines = deposits.lines(session, batch)
    return render_template("staff/deposit_report.html", batch=batch, lines=lines, total=sum(line.net_cents for line in lines))


@bp.route("/gifts/deposit", methods=["GET", "POST"])
def deposit():
    """A bank deposit: many gifts, checked against the slip total, saved together or not at all."""
    session = get_session()
    campaigns = gifts.open_campaigns(session)
    context = dict(campaigns=campaign_choices(campaigns), methods=METHOD_CHOICES, today=today().isoformat())
    if request.method == "GET":
        values = {"received_on": today().isoformat(), "method": GiftMethod.CHECK.value, "token": gifts.new_submission_token()}
        return render_template("staff/deposit.html", values=values, errors={}, row_count=BATCH_ROWS, row_errors={}, **context)
    values = request.form.to_dict()
    batch = gifts.parse_batch(session, request.form, today=today(), campaigns=campaigns)
    if not gifts.valid_token(values.get("token")):
        values["token"] = gifts.new_submission_token()
        batch.errors.add("rows", gifts.EXPIRED_FORM)
    row_count = max(BATCH_ROWS, request.form.get("row_count", type=int) or 0)
    if batch.ok:
        try:
            # The whole deposit at once becomes a numbered deposit batch, closed against its slip.
            numbered = deposits.open_batch(session, actor(), batch.rows[0].campaign.currency)
            saved = gifts.record_batch(session, actor(), batch, values.get("token", ""), current_settings().tz,
                                       deposit_batch_id=numbered.id)
            deposits.close_batch(session, actor(), numbered, batch.slip_total_cents)
        except gifts.AlreadySaved:
            session.rollback()
            flash("That deposit was already saved (it was sent twice); nothing was recorded a second time.", "info")
            return redirect(url_for("staff.deposit_saved", token=values.get("token", "")))
        except (LedgerError, deposits.DepositError) as exc:
            session.rollback()
            batch.errors.add("rows", str(exc))
        else:
            session.commit()
            total = format_money(sum(g.amount_cents for g in saved), saved[0].currency)
            flash(f"Saved {len(saved)} gift{'s' if len(saved) != 1 else ''} totalling {total} as deposit {numbered.number}.", "success")
            return redirect(url_for("staff.deposit_saved", token=values.get("token", "")))
    return render_template(
        "staff/deposit.html", values=values, errors=batch.errors.errors, row_errors=batch.row_errors,
        row_count=min(row_count, gifts.BATCH_MAX_ROWS), **context,
    ), 400


@bp.get("/gifts/deposit/<token>")
def deposit_saved(token: str):
    saved = gifts.gifts_of_submission(get_session(), token)
    if not saved:
        abort(404, description="We couldn't find that deposit.")
    return render_template("staff/deposit_saved.html", saved=saved, total=sum(g.amount_cents for g in saved))
