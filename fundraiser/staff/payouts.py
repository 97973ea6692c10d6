"""Staff pages for Stripe payouts: each bank deposit, the lines it is made of, and CSVs for the books.

Routes join the staff blueprint (and its staff-only check). Reading and matching live in
payments/payouts.py; these views parse, call it and render.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from .. import exports
from ..db import get_session
from ..models import Payout
from ..payments import payouts
from ..settings import current_settings
from .views import bp, csv_response, get_or_404, today

PAYOUT_LIST_LIMIT = 200


@bp.get("/payouts")
def payout_list():
    session = get_session()
    return render_template(
        "staff/payouts.html", summaries=payouts.summaries(session, limit=PAYOUT_LIST_LIMIT), args=request.args,
        limit=PAYOUT_LIST_LIMIT,
    )


@bp.get("/payouts/<int:payout_id>")
def payout_detail(payout_id: int):
    session = get_session()
    payout = get_or_404(Payout, payout_id, "payout")
    return render_template(
        "staff/payout.html", summary=payouts.summary(session, payout), lines=payouts.line_views(session, [payout]),
        listable=payouts.is_listable(payout),
    )


@bp.get("/payouts/<int:payout_id>.csv")
def payout_export(payout_id: int):
    session = get_session()
    payout = get_or_404(Payout, payout_id, "payout")
    rows = payouts.csv_rows(payouts.line_views(session, [payout]), current_settings().tz)
    return csv_response(f"payout-{payout.arrival_date.isoformat()}-{payout.stripe_payout_id}.csv",
                        exports.to_csv(payouts.CSV_HEADER, rows))


@bp.get("/payouts.csv")
def payouts_export():
    session = get_session()
    start, end = payouts.parse_day(request.args.get("from")), payouts.parse_day(request.args.get("to"))
    if start and end and start > end:
        abort(400, description="The first date must not be after the last.")
    rows = payouts.csv_rows(payouts.line_views(session, payouts.payouts_arriving(session, start, end)), current_settings().tz)
    return csv_response(f"payouts-{today().isoformat()}.csv", exports.to_csv(payouts.CSV_HEADER, rows))


@bp.post("/payouts/<int:payout_id>/fetch")
def payout_fetch(payout_id: int):
    session = get_session()
    payout = get_or_404(Payout, payout_id, "payout")
    if payout.lines_fetched_at is not None:
        flash("The lines of this payout are already here.", "success")
    elif not payouts.is_listable(payout):
        flash("Stripe lists a payout's transactions only once the payout is paid and reconciled.", "error")
    else:
        # No transaction of ours stays open while Stripe answers.
        session.rollback()
        report = payouts.fetch_due_lines([payout_id], now=True)
        if report.fetched:
            flash("Fetched the payout's lines from Stripe.", "success")
        else:
            flash("Stripe could not be reached; nothing changed. Please try again in a few minutes.", "error")
    return redirect(url_for("staff.payout_detail", payout_id=payout_id))
