"""Gifts in the staff console: enter one, the list and its CSV, one gift (correct, void, assign, resend its receipt), and the unattributed queue."""

from __future__ import annotations

from flask import (
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from .. import (
    audit,
    campaign_admin,
    donors,
    exports,
    gifts,
    receipts,
    soft_credits,
)
from ..db import get_session
from ..donations import FormErrors
from ..ledger import LedgerError
from ..models import (
    Campaign,
    Gift,
    GiftChannel,
    GiftMethod,
)
from ..money import format_money
from ..payments import disputes, payouts
from ..settings import current_settings
from . import confirm
from .views import METHOD_CHOICES, actor, bp, campaign_choices, csv_response, get_or_404, today


def _gift_form_context(values, errors, duplicates=()):
    return dict(
        values=values, errors=errors, campaigns=campaign_choices(gifts.open_campaigns(get_session())),
        methods=METHOD_CHOICES, today=today().isoformat(), duplicates=duplicates,
    )


def _saved_message(gift: Gift) -> Markup:
    """The confirmation after a save, linking to the gift so a mistake is one click from its fix."""
    who = gift.donor.name if gift.donor else "no donor record"
    ref = f" #{gift.reference}" if gift.reference else ""
    campaign = gift.campaign.title if gift.campaign else "no campaign"
    link = Markup('<a href="{}">Saved gift {}</a>').format(url_for("staff.gift_detail", gift_id=gift.id), gift.id)
    return link + Markup.escape(
        f": {format_money(gift.amount_cents, gift.currency)} "
        f"{gifts.METHOD_NAMES[gift.method].lower()}{ref} from {who} to {campaign}."
    )


@bp.route("/gifts/new", methods=["GET", "POST"])
def gift_new():
    session = get_session()
    if request.method == "GET":
        # After a save the next gift starts with the same campaign, date and method: fast for a stack of checks.
        values = {
            "campaign_id": request.args.get("campaign_id", ""),
            "received_on": request.args.get("received_on", today().isoformat()),
            "method": request.args.get("method", GiftMethod.CHECK.value),
            "token": gifts.new_submission_token(),
        }
        return render_template("staff/gift_new.html", **_gift_form_context(values, {}))
    values = request.form.to_dict()
    if not gifts.valid_token(values.get("token")):
        values["token"] = gifts.new_submission_token()
        return render_template("staff/gift_new.html", **_gift_form_context(values, {"form": gifts.EXPIRED_FORM})), 400
    parsed = gifts.parse_offline_gift(session, request.form, today=today(), campaigns=gifts.open_campaigns(session))
    if isinstance(parsed, FormErrors):
        return render_template("staff/gift_new.html", **_gift_form_context(values, parsed.errors)), 400
    new = parsed.new_donor
    if new is not None and values.get("create_anyway") != "yes":
        duplicates = donors.likely_duplicates(
            session, name=new.name, email=new.email, postal_code=new.address.get("postal_code"),
            address_line1=new.address.get("address_line1"),
        )
        if duplicates:
            return render_template("staff/gift_new.html", **_gift_form_context(values, {}, duplicates))
    try:
        gift = gifts.record_offline_gift(session, actor(), parsed, values.get("token", ""), current_settings().tz)
    except gifts.AlreadySaved as exc:
        session.rollback()
        flash("That form was already saved (it was sent twice); nothing was recorded a second time.", "info")
        return redirect(url_for("staff.gift_detail", gift_id=exc.gift_ids[0]))
    except LedgerError as exc:
        session.rollback()
        return render_template("staff/gift_new.html", **_gift_form_context(values, {"amount": str(exc)})), 400
    session.commit()
    flash(_saved_message(gift), "success")
    return redirect(url_for(
        "staff.gift_new", campaign_id=values.get("campaign_id"), received_on=values.get("received_on"),
        method=values.get("method"), saved=gift.id,
    ))



GIFT_LIST_LIMIT = 200



@bp.get("/gifts")
def gift_list():
    session = get_session()
    filters = gifts.GiftFilters.from_args(request.args)
    page = max(request.args.get("page", 1, type=int), 1)
    lines = gifts.filtered_gifts(
        session, filters, current_settings().tz, limit=GIFT_LIST_LIMIT + 1, newest_first=True,
        offset=(page - 1) * GIFT_LIST_LIMIT,
    )
    return render_template(
        "staff/gifts.html", lines=lines[:GIFT_LIST_LIMIT], filters=filters, args=request.args, limit=GIFT_LIST_LIMIT,
        page=page, more=len(lines) > GIFT_LIST_LIMIT,
        campaigns=campaign_choices(campaign_admin.all_campaigns(session)),
        methods=[(m.value, gifts.METHOD_NAMES[m]) for m in GiftMethod], channels=[(c.value, c.value) for c in GiftChannel],
    )


@bp.get("/gifts.csv")
def gift_export():
    session = get_session()
    tz = current_settings().tz
    lines = gifts.filtered_gifts(session, gifts.GiftFilters.from_args(request.args), tz)
    costs = disputes.costs_by_gift(session, [line.gift.id for line in lines])
    return csv_response(f"gifts-{today().isoformat()}.csv", exports.to_csv(exports.GIFT_HEADER, exports.gift_rows(lines, tz, costs)))


@bp.get("/gifts/<int:gift_id>")
def gift_detail(gift_id: int):
    return render_gift(get_or_404(Gift, gift_id, "gift"))


def render_gift(gift, errors=None, values=None, status=200):
    session = get_session()
    errors = errors or {}
    view = gifts.describe(session, gift)
    current = session.get(Campaign, view.campaign_id) if view.campaign_id else None
    editing = values if errors.get("edit") else gifts.edit_form_values(gift, current_settings().tz)
    return render_template(
        "staff/gift.html", view=view, gift=gift, current_campaign=current, errors=errors,
        values=values or {}, edit_values=editing, methods=METHOD_CHOICES, today=today().isoformat(),
        campaigns=campaign_choices(gifts.open_campaigns(session)), history=audit.history(session, "gift", gift.id),
        method_name=gifts.method_name(gift),
        disputes=disputes.cases_for_gift(session, gift), costs=disputes.costs_for_gift(session, gift),
        payout_lines=payouts.lines_for_gift(session, gift),
        receipts_sent=receipts.earlier_receipts(session, gift), receipt_refused=receipts.why_not_receiptable(session, gift),
        soft_credits=soft_credits.for_gift(session, gift), credit_kinds=list(soft_credits.KIND_NAMES.items()),
    ), status


@bp.post("/gifts/<int:gift_id>/correct")
def gift_correct(gift_id: int):
    session = get_session()
    gift = get_or_404(Gift, gift_id, "gift")
    try:
        _entry, corrected = gifts.correct(session, actor(), gift, request.form.get("amount", ""), request.form.get("reason", ""))
    except LedgerError as exc:
        session.rollback()
        return render_gift(gift, errors={"correct": str(exc)}, values=request.form.to_dict(), status=400)
    session.commit()
    sent = f" Corrected receipt {corrected.number} is on its way to {corrected.to_email}." if corrected else ""
    flash(f"Corrected gift {gift.id}; the original amount stays on record with your correction.{sent}", "success")
    return redirect(url_for("staff.gift_detail", gift_id=gift.id))


@bp.post("/gifts/<int:gift_id>/edit")
def gift_edit(gift_id: int):
    session = get_session()
    gift = get_or_404(Gift, gift_id, "gift")
    settings = current_settings()
    parsed = gifts.parse_edit(session, gift, request.form, today=today(), tz=settings.tz)
    if isinstance(parsed, FormErrors):
        problem = parsed.errors.get("form") or "Nothing was changed: please fix the marked fields and save again."
        return render_gift(gift, errors={**parsed.errors, "edit": problem}, values=request.form.to_dict(), status=400)
    try:
        outcome = gifts.edit_details(session, actor(), gift, parsed, settings.tz)
    except LedgerError as exc:
        session.rollback()
        return render_gift(gift, errors={"edit": str(exc)}, values=request.form.to_dict(), status=400)
    session.commit()
    what = ", ".join(dict.fromkeys(gifts.EDIT_LABELS[name] for name in outcome.changed))
    notes = [f"Changed gift {gift.id}'s {what}; the earlier details stay in its history with your reason."]
    if outcome.donor_change is not None:
        notes.append(receipts.donor_change_notice(outcome.donor_change, settings) or "")
    if outcome.corrected_receipt is not None:
        notes.append(f"Corrected receipt {outcome.corrected_receipt.number} is on its way to {outcome.corrected_receipt.to_email}.")
    flash(" ".join(n for n in notes if n), "success")
    return redirect(url_for("staff.gift_detail", gift_id=gift.id))


@bp.post("/gifts/<int:gift_id>/void")
def gift_void(gift_id: int):
    session = get_session()
    gift = get_or_404(Gift, gift_id, "gift")
    if not confirm.confirmed() and request.form.get("reason", "").strip():
        return confirm.ask(
            f"Void gift {gift.id}?", f"Gift {gift.id} ({format_money(gift.amount_cents, gift.currency)}) will stop counting "
            "toward every total. It stays on record, marked void; this can't be undone.", "Yes, void this gift",
            url_for("staff.gift_detail", gift_id=gift.id),
        )
    try:
        gifts.void(session, actor(), gift, request.form.get("reason", ""))
    except LedgerError as exc:
        session.rollback()
        return render_gift(gift, errors={"void": str(exc)}, values=request.form.to_dict(), status=400)
    session.commit()
    flash(f"Voided gift {gift.id}. It stays on record, marked void, and no longer counts toward any total.", "success")
    return redirect(url_for("staff.gift_detail", gift_id=gift.id))


@bp.post("/gifts/<int:gift_id>/assign")
def gift_assign(gift_id: int):
    session = get_session()
    gift = get_or_404(Gift, gift_id, "gift")
    campaign = session.get(Campaign, request.form.get("campaign_id", type=int) or 0)
    back = request.form.get("back") == "queue"
    try:
        if campaign is None:
            raise LedgerError("Please choose a campaign.")
        gifts.assign(session, actor(), gift, campaign)
    except LedgerError as exc:
        session.rollback()
        if back:
            flash(f"Gift {gift.id}: {exc}", "error")
            return redirect(url_for("staff.unattributed"))
        return render_gift(gift, errors={"assign": str(exc)}, status=400)
    session.commit()
    flash(f"Gift {gift.id} ({format_money(gift.amount_cents, gift.currency)}) now counts toward {campaign.title}.", "success")
    return redirect(url_for("staff.unattributed") if back else url_for("staff.gift_detail", gift_id=gift.id))


@bp.post("/gifts/<int:gift_id>/resend")
def gift_resend(gift_id: int):
    session = get_session()
    gift = get_or_404(Gift, gift_id, "gift")
    try:
        sent = gifts.resend_receipt(session, actor(), gift)
    except receipts.ReceiptRefused as exc:
        session.rollback()
        return render_gift(gift, errors={"resend": str(exc)}, status=400)
    if sent:
        session.commit()
        flash(f"The receipt for gift {gift.id} is on its way to {gift.donor.email}.", "success")
    else:
        flash("This gift has no donor email address, so there is nowhere to send a receipt.", "error")
    return redirect(request.form.get("next") if request.form.get("next", "").startswith("/staff/") else url_for("staff.gift_detail", gift_id=gift.id))


@bp.post("/gifts/<int:gift_id>/soft-credits")
def gift_soft_credit_add(gift_id: int):
    """Credit another donor with this gift, for reporting only."""
    session = get_session()
    gift = get_or_404(Gift, gift_id, "gift")
    try:
        credit = soft_credits.add(session, actor(), gift, soft_credits.parse(session, gift, request.form))
    except ValueError as exc:
        session.rollback()
        return render_gift(gift, errors={"soft_credit": str(exc)}, values=request.form.to_dict(), status=400)
    session.commit()
    flash(f"{credit.name} is soft-credited with {format_money(credit.amount_cents, gift.currency)} of gift {gift.id}; "
          "the gift, its receipt and every total stay as they were.", "success")
    return redirect(url_for("staff.gift_detail", gift_id=gift.id, _anchor="soft-credits"))


@bp.post("/gifts/<int:gift_id>/soft-credits/<int:credit_id>/remove")
def gift_soft_credit_remove(gift_id: int, credit_id: int):
    session = get_session()
    gift = get_or_404(Gift, gift_id, "gift")
    try:
        credit = soft_credits.remove(session, actor(), gift, credit_id)
    except ValueError as exc:
        session.rollback()
        return render_gift(gift, errors={"soft_credit": str(exc)}, status=400)
    session.commit()
    flash(f"Removed {credit.name}'s soft credit on gift {gift.id}; the history below keeps it.", "success")
    return redirect(url_for("staff.gift_detail", gift_id=gift.id, _anchor="soft-credits"))


@bp.get("/gifts/unattributed")
def unattributed():
    session = get_session()
    return render_template(
        "staff/unattributed.html", waiting=gifts.unattributed(session),
        campaigns=campaign_choices(gifts.open_campaigns(session)),
    )


# ------------------------------------------------------------------------------ campaigns
