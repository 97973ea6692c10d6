"""The staff console under /staff: gifts, deposits, campaigns, events, donors; accounts for admins.

Views parse the request, call one domain function, commit once and render. Every route is for
admin and staff accounts only (checked before each request); account pages are for admins.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from .. import (
    audit,
    campaign_admin,
    deposits,
    donors,
    events,
    exports,
    gifts,
    letters,
    matches,
    receipts,
    security,
    statements,
    wall,
)
from ..audit import Actor
from ..auth import throttle, users
from ..auth.access import STAFF_ROLES, current_user, roles_required
from ..campaigns import render_story
from ..db import get_session, utcnow
from ..donations import FormErrors
from ..ledger import LedgerError
from ..models import (
    Campaign,
    CommunityEvent,
    Donor,
    Gift,
    GiftChannel,
    GiftMethod,
    MatchingChallenge,
    Role,
    User,
)
from ..money import format_money
from ..organisation import current_organisation
from ..payments import disputes, payouts
from ..settings import current_settings
from . import confirm, forms

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


# ------------------------------------------------------------------------------ accounts


@bp.get("/users")
@roles_required(Role.ADMIN)
def user_list():
    return render_users({}, FormErrors())


def render_users(values, errors, status=200, link=None):
    session = get_session()
    people = session.query(User).order_by(User.is_active.desc(), User.email).all()
    return render_template(
        "staff/users.html", people=people, values=values, errors=errors.errors,
        role_choices=forms.ROLE_CHOICES, link=link, blocked=throttle.blocked_accounts(session),
    ), status


def _password_link(user: User) -> str:
    token = users.set_password_token(current_settings().secret_key, user)
    return current_settings().base_url + url_for("auth.choose", token=token)


@bp.post("/users")
@roles_required(Role.ADMIN)
def user_invite():
    session = get_session()
    values, errors = forms.parse_invite(request.form)
    if not errors.errors:
        try:
            user = users.invite_user(session, actor(), values["email"], values["role"], values["name"])
        except users.AccountError as exc:
            errors.add("email", str(exc))
        else:
            link = _password_link(user)
            users.queue_password_email(session, user, link, current_organisation().name, invitation=True)
            session.commit()
            flash(f"Invited {user.email} as {user.role}. The invitation is on its way by email.", "success")
            return render_users({}, FormErrors(), link=(user.email, link))
    return render_users(values, errors, status=400)


@bp.post("/users/<int:user_id>")
@roles_required(Role.ADMIN)
def user_change(user_id: int):
    """One account change at a time: role, deactivate, reactivate, unlock sign-in or reset password."""
    session = get_session()
    user = get_or_404(User, user_id, "account")
    change = request.form.get("change")
    if change == "deactivate" and not confirm.confirmed():
        return confirm.ask(
            f"Deactivate {user.email}?", f"{user.email} will be signed out everywhere and can't sign in until an "
            "admin reactivates the account.", "Yes, deactivate", url_for("staff.user_list"),
        )
    link = None
    try:
        if change == "role":
            role = request.form.get("role", "")
            if role not in Role._value2member_map_:
                raise users.AccountError("Please choose a role.")
            users.change_role(session, actor(), user, role)
            message = f"{user.email} is now {user.role}."
        elif change in ("deactivate", "reactivate"):
            users.set_active(session, actor(), user, change == "reactivate")
            message = f"{user.email} is {'active again' if user.is_active else 'deactivated and signed out everywhere'}."
        elif change == "unlock":
            throttle.unlock_account(session, actor(), user)
            message = f"{user.email} can sign in again now."
        elif change == "reset":
            users.reset_password(session, actor(), user)
            link = (user.email, _password_link(user))
            users.queue_password_email(session, user, link[1], current_organisation().name, invitation=False)
            message = f"{user.email}'s password was reset; they were signed out and emailed a link to choose a new one."
        else:
            abort(400, description="Unknown change.")
    except users.AccountError as exc:
        session.rollback()
        flash(str(exc), "error")
        return render_users({}, FormErrors(), status=400)
    session.commit()
    flash(message, "success")
    if link:
        return render_users({}, FormErrors(), link=link)
    return redirect(url_for("staff.user_list"))


@bp.get("/audit")
@roles_required(Role.ADMIN)
def audit_log():
    session = get_session()
    args = request.args
    user_id = args.get("user", type=int)
    rows = audit.browse(
        session, user_id=user_id, object_type=args.get("type") or None, object_id=args.get("id") or None,
        action=args.get("action") or None, older_than_id=args.get("before", type=int),
    )
    people = session.query(User).order_by(User.email).all()
    return render_template("staff/audit.html", rows=rows, people=people, filters=args, page_size=audit.PAGE_SIZE)


# ------------------------------------------------------------------------------ gifts


@bp.get("/donors/search.json")
def donor_search():
    """Search-as-you-type for the gift forms: up to 10 donors matching the words typed."""
    found = gifts.find_donors(get_session(), request.args.get("q", "")[:100])
    return jsonify(
        [{"id": d.id, "name": d.name, "email": d.email or "", "kind": d.kind.value, "do_not_contact": d.do_not_contact} for d in found]
    )


def campaign_choices(campaigns) -> list[tuple[int, str]]:
    """Campaign options for a select: title, with the status when it isn't active, and currency."""
    return [
        (c.id, f"{c.title}{'' if c.status == 'active' else f' ({c.status})'} · {c.currency}") for c in campaigns
    ]


METHOD_CHOICES = [(m.value, gifts.METHOD_NAMES[m]) for m in gifts.OFFLINE_METHODS]


def _gift_form_context(values, errors):
    return dict(
        values=values, errors=errors, campaigns=campaign_choices(gifts.open_campaigns(get_session())),
        methods=METHOD_CHOICES, today=today().isoformat(),
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


BATCH_ROWS = 12


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


GIFT_LIST_LIMIT = 200


def csv_response(filename: str, chunks):
    """A CSV download. The rows are built here, while the request's database session is open: a
    stream read after the view returns would find the session closed (HTTP 500 on a real server)."""
    response = Response("".join(chunks), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


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
    view = gifts.describe(session, gift)
    current = session.get(Campaign, view.campaign_id) if view.campaign_id else None
    return render_template(
        "staff/gift.html", view=view, gift=gift, current_campaign=current, errors=errors or {},
        values=values or {}, campaigns=campaign_choices(gifts.open_campaigns(session)), history=audit.history(session, "gift", gift.id),
        method_name=gifts.method_name(gift),
        disputes=disputes.cases_for_gift(session, gift), costs=disputes.costs_for_gift(session, gift),
        payout_lines=payouts.lines_for_gift(session, gift),
        receipts_sent=receipts.earlier_receipts(session, gift), receipt_refused=receipts.why_not_receiptable(session, gift),
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


@bp.get("/gifts/unattributed")
def unattributed():
    session = get_session()
    return render_template(
        "staff/unattributed.html", waiting=gifts.unattributed(session),
        campaigns=campaign_choices(gifts.open_campaigns(session)),
    )


# ------------------------------------------------------------------------------ campaigns


@bp.get("/campaigns")
def campaign_list():
    return render_template("staff/campaigns.html", rows=campaign_admin.staff_list(get_session()), now=utcnow())


def render_campaign_form(campaign, values, errors, status=200, preview=None, match_values=None, match_errors=None):
    settings = current_settings()
    if campaign:
        security.allow("frame-src", "'self'")  # the widget's live preview
    return render_template(
        "staff/campaign_form.html", campaign=campaign, values=values, errors=errors, preview=preview,
        currency_options=campaign_admin.currency_options(campaign),
        actions=campaign_admin.allowed_actions(campaign) if campaign else [],
        history=audit.history(get_session(), "campaign", campaign.id) if campaign else [],
        match_statuses=matches.campaign_matches(get_session(), campaign) if campaign else [],
        match_values=match_values or {"ratio": "1:1"}, match_errors=match_errors or {},
        embed_url=settings.base_url + url_for("embed.campaign", slug=campaign.slug) if campaign else None,
        embed_origins=settings.embed_allowed_origins,
    ), status


@bp.route("/campaigns/new", methods=["GET", "POST"])
def campaign_new():
    return campaign_form(None)


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
def campaign_edit(campaign_id: int):
    return campaign_form(get_or_404(Campaign, campaign_id, "campaign"))


def campaign_form(campaign):
    session = get_session()
    tz = current_settings().tz
    if request.method == "GET":
        values = campaign_admin.form_values(campaign, tz) if campaign else {"currency": "USD"}
        return render_campaign_form(campaign, values, {})
    values = request.form.to_dict()
    if request.form.get("preview"):
        # Preview renders the story exactly as the public page will; nothing is saved.
        return render_campaign_form(campaign, values, {}, preview=render_story(values.get("story_md", "")))
    parsed = campaign_admin.parse_campaign(session, request.form, campaign)
    if isinstance(parsed, FormErrors):
        return render_campaign_form(campaign, values, parsed.errors, status=400)
    saved = campaign_admin.save_campaign(session, actor(), campaign, parsed, tz)
    session.commit()
    flash(f"Saved “{saved.title}”." + (" It is a draft until you publish it." if saved.status == "draft" else ""), "success")
    return redirect(url_for("staff.campaign_edit", campaign_id=saved.id))


@bp.post("/campaigns/<int:campaign_id>/status")
def campaign_status(campaign_id: int):
    session = get_session()
    campaign = get_or_404(Campaign, campaign_id, "campaign")
    if request.form.get("action") == "close" and not confirm.confirmed():
        return confirm.ask(
            f"Close “{campaign.title}”?", "Its page stops taking gifts online (staff can still enter late checks). "
            "You can reopen it later.", "Yes, close the campaign", url_for("staff.campaign_edit", campaign_id=campaign.id),
        )
    try:
        campaign_admin.change_status(session, actor(), campaign, request.form.get("action", ""))
    except campaign_admin.CampaignError as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        session.commit()
        flash(f"“{campaign.title}” is now {campaign.status}.", "success")
    return redirect(url_for("staff.campaign_edit", campaign_id=campaign.id))


@bp.post("/campaigns/<int:campaign_id>/cover")
def campaign_cover(campaign_id: int):
    session = get_session()
    campaign = get_or_404(Campaign, campaign_id, "campaign")
    upload = request.files.get("cover")
    try:
        campaign_admin.store_cover(
            session, actor(), campaign, upload.filename if upload else "", upload.read() if upload else b"",
            current_settings().instance_path / "covers",
        )
    except campaign_admin.CampaignError as exc:
        session.rollback()
        values = campaign_admin.form_values(campaign, current_settings().tz)
        return render_campaign_form(campaign, values, {"cover": str(exc)}, status=400)
    session.commit()
    flash("Cover image saved.", "success")
    return redirect(url_for("staff.campaign_edit", campaign_id=campaign.id))


@bp.post("/campaigns/<int:campaign_id>/matches")
def match_new(campaign_id: int):
    """Add a matching challenge; the form sits on the campaign's page."""
    session = get_session()
    campaign = get_or_404(Campaign, campaign_id, "campaign")
    terms = matches.parse_terms(request.form, campaign, current_settings().tz)
    if isinstance(terms, dict):
        values = campaign_admin.form_values(campaign, current_settings().tz)
        return render_campaign_form(campaign, values, {}, match_values=request.form.to_dict(), match_errors=terms,
                                    status=400)
    matches.save_match(session, actor(), campaign, terms)
    session.commit()
    flash(f"Match from {terms.sponsor} added. It shows on the campaign page at once.", "success")
    return redirect(url_for("staff.campaign_edit", campaign_id=campaign.id) + "#matches")


@bp.route("/campaigns/<int:campaign_id>/matches/<int:match_id>", methods=["GET", "POST"])
def match_edit(campaign_id: int, match_id: int):
    """Change a match: its cap, dates, ratio, what counts. End it early by setting its end date."""
    session = get_session()
    campaign = get_or_404(Campaign, campaign_id, "campaign")
    match = get_or_404(MatchingChallenge, match_id, "match")
    if match.campaign_id != campaign.id:
        abort(404, description="We couldn't find that match.")
    tz = current_settings().tz
    if request.method == "GET":
        return render_template("staff/match_form.html", campaign=campaign, match=match,
                               values=matches.form_values(match, tz), errors={})
    terms = matches.parse_terms(request.form, campaign, tz, editing=match)
    if isinstance(terms, dict):
        return render_template("staff/match_form.html", campaign=campaign, match=match,
                               values=request.form.to_dict(), errors=terms), 400
    matches.save_match(session, actor(), campaign, terms, match)
    session.commit()
    flash(f"Match from {terms.sponsor} saved.", "success")
    return redirect(url_for("staff.campaign_edit", campaign_id=campaign.id) + "#matches")


# ------------------------------------------------------------------------------ events


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
    saved = events.save_event(session, actor(), event, parsed)
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


@bp.get("/donors")
def donor_list():
    session = get_session()
    query = request.args.get("q", "")[:100]
    offset = max(request.args.get("offset", 0, type=int), 0)
    found = donors.search(session, query, offset=offset)
    return render_template("staff/donors.html", found=found, q=query, offset=offset, page=donors.DONOR_PAGE)


@bp.get("/donors.csv")
def donor_export():
    session = get_session()
    found = donors.search(session, request.args.get("q", "")[:100], limit=None)
    header, rows = exports.donor_export(session, found, current_settings().tz)
    return csv_response(f"donors-{today().isoformat()}.csv", exports.to_csv(header, rows))


def render_donor_form(donor, values, errors, status=200):
    return render_template("staff/donor_form.html", donor=donor, values=values, errors=errors), status


@bp.route("/donors/new", methods=["GET", "POST"])
def donor_new():
    return donor_form(None)


@bp.route("/donors/<int:donor_id>/edit", methods=["GET", "POST"])
def donor_edit(donor_id: int):
    return donor_form(get_or_404(Donor, donor_id, "donor"))


def donor_form(donor):
    session = get_session()
    if request.method == "GET":
        values = {"kind": "person"}
        if donor is not None:
            values = {name: getattr(donor, name) for name in donors.DONOR_FIELDS}
            values = {k: (v.value if hasattr(v, "value") else ("" if v is None else v)) for k, v in values.items()}
            values["do_not_contact"] = "yes" if donor.do_not_contact else ""
            values["anonymous_by_default"] = "yes" if donor.anonymous_by_default else ""
        return render_donor_form(donor, values, {})
    cleaned, errors = donors.parse_donor_form(session, request.form, donor)
    if errors:
        return render_donor_form(donor, request.form.to_dict(), errors, status=400)
    saved = donors.save_donor(session, actor(), donor, cleaned)
    session.commit()
    flash(f"Saved {saved.name}.", "success")
    return redirect(url_for("staff.donor_detail", donor_id=saved.id))


@bp.get("/donors/<int:donor_id>")
def donor_detail(donor_id: int):
    session = get_session()
    donor = get_or_404(Donor, donor_id, "donor")
    return render_template(
        "staff/donor.html", donor=donor, summary=statements.summary(session, donor),
        merged_into=donors.surviving(session, donor) if donor.merged_into_id else None,
        history=audit.history(session, "donor", donor.id), this_year=today().year,
        merge_error=None,
    )


@bp.post("/donors/<int:donor_id>/merge")
def donor_merge(donor_id: int):
    """Merge the duplicate chosen on this donor's page into this donor."""
    session = get_session()
    keep = get_or_404(Donor, donor_id, "donor")
    duplicate = session.get(Donor, request.form.get("donor_id", type=int) or 0)
    try:
        if duplicate is None:
            raise ValueError("Please search for the duplicate donor and pick them from the list.")
        if request.form.get("confirm") != "yes":
            raise ValueError(f"Please tick the box to confirm that {duplicate.name} is the same donor as {keep.name}.")
        moved = donors.merge(session, actor(), duplicate, keep)
        change = receipts.after_donor_change(session, moved)
    except (ValueError, LedgerError) as exc:
        session.rollback()
        return render_template(
            "staff/donor.html", donor=keep, summary=statements.summary(session, keep), merged_into=None,
            history=audit.history(session, "donor", keep.id), this_year=today().year, merge_error=str(exc),
        ), 400
    session.commit()
    flash(f"Merged {duplicate.name} (donor {duplicate.id}) into {keep.name}: {len(moved)} gift{'s' if len(moved) != 1 else ''} moved.", "success")
    notice = receipts.donor_change_notice(change, current_settings())
    if notice:
        flash(notice, "info")
    return redirect(url_for("staff.donor_detail", donor_id=keep.id))


@bp.get("/donors/<int:donor_id>/statement/<int:year>")
def donor_statement(donor_id: int, year: int):
    session = get_session()
    donor = get_or_404(Donor, donor_id, "donor")
    if not 2000 <= year <= today().year:
        abort(404, description="Statements cover years from 2000 to this year.")
    settings = current_settings()
    statement = statements.year_statement(session, donor, year, settings.tz)
    return render_template(
        "staff/statement.html", statement=statement, notes=statements.notes(statement), thanks=statements.THANKS,
        line_words=[statements.line_words(line, settings) for line in statement.lines],
        mailing_lines=letters.mailing_lines(donor, settings.locale),
    )


@bp.get("/donors/<int:donor_id>/statement/<int:year>.pdf")
def donor_statement_pdf(donor_id: int, year: int):
    session = get_session()
    donor = get_or_404(Donor, donor_id, "donor")
    if not 2000 <= year <= today().year:
        abort(404, description="Statements cover years from 2000 to this year.")
    statement = statements.year_statement(session, donor, year, current_settings().tz)
    body = statements.statement_pdf(statement, current_settings())
    filename = f"giving-statement-{year}-donor-{donor.id}.pdf"
    return body, 200, {"Content-Type": "application/pdf", "Content-Disposition": f'inline; filename="{filename}"'}


# ------------------------------------------------------------------------------ donor wall


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
# Paperwork pages (letters, year-end statements) register their routes on this blueprint.
# Routes kept in their own modules, registered on this blueprint.
from . import (  # noqa: F401
    deposit_views,
    document_views,
    housekeeping,
    import_views,
    receipt_views,
    settings_views,
)
from . import payouts as payout_pages  # noqa: F401 - its routes join this blueprint
