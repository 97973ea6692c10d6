"""Donors in the staff console: search for the gift forms, the list and its CSV, the form, one donor (merge, statements)."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from .. import (
    audit,
    donors,
    exports,
    gifts,
    households,
    letters,
    receipts,
    soft_credits,
    statements,
)
from ..db import get_session
from ..ledger import LedgerError
from ..models import (
    Donor,
)
from ..settings import current_settings
from .views import actor, bp, csv_response, get_or_404, today


@bp.get("/donors/search.json")
def donor_search():
    """Search-as-you-type for the gift forms: up to 10 donors matching the words typed."""
    found = gifts.find_donors(get_session(), request.args.get("q", "")[:100])
    return jsonify(
        [{"id": d.id, "name": d.name, "email": d.email or "", "kind": d.kind.value, "do_not_contact": d.do_not_contact} for d in found]
    )



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


@bp.get("/donors/newsletter.csv")
def newsletter_export():
    """The donors who ticked "Keep me informed" on the donate form, for the mailing tool."""
    rows = exports.newsletter_rows(donors.newsletter_list(get_session()), current_settings().tz)
    return csv_response(f"newsletter-{today().isoformat()}.csv", exports.to_csv(exports.NEWSLETTER_HEADER, rows))


def render_donor_form(donor, values, errors, status=200, duplicates=()):
    return render_template("staff/donor_form.html", donor=donor, values=values, errors=errors, duplicates=duplicates), status


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
    if donor is None and request.form.get("create_anyway") != "yes":
        duplicates = donors.likely_duplicates(
            session, name=cleaned["name"], email=cleaned["email"], postal_code=cleaned["postal_code"],
            address_line1=cleaned["address_line1"],
        )
        if duplicates:
            return render_donor_form(None, request.form.to_dict(), {}, duplicates=duplicates)
    saved = donors.save_donor(session, actor(), donor, cleaned)
    session.commit()
    flash(f"Saved {saved.name}.", "success")
    return redirect(url_for("staff.donor_detail", donor_id=saved.id))


@bp.get("/donors/<int:donor_id>")
def donor_detail(donor_id: int):
    return render_donor_page(get_or_404(Donor, donor_id, "donor"))


def render_donor_page(donor, *, merge_error=None, merge_values=None, household_error=None, household_values=None,
                      status=200):
    session = get_session()
    return render_template(
        "staff/donor.html", donor=donor, summary=statements.summary(session, donor),
        merged_into=donors.surviving(session, donor) if donor.merged_into_id else None,
        history=audit.history(session, "donor", donor.id), this_year=today().year,
        merge_error=merge_error, merge_values=merge_values or {},
        **donor_records(session, donor, household_error, household_values),
    ), status


def _named(donor: Donor) -> str:
    """A donor told apart from a namesake: "Ann Lee (donor 12, ann@example.org)"."""
    return f"{donor.name} (donor {donor.id}{', ' + donor.email if donor.email else ''})"


def donor_records(session, donor, household_error=None, household_values=None) -> dict:
    """The donor page's soft credits received and household, apart from the donor's own giving."""
    received = soft_credits.received_by(session, donor)
    return dict(
        credits_received=received, credit_totals=soft_credits.total_for(received),
        credit_kind_names=soft_credits.KIND_NAMES, households=households.all_households(session),
        household_error=household_error, household_values=household_values or {},
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
            raise ValueError(f"Please tick the box to confirm that {_named(duplicate)} is the same donor as {_named(keep)}.")
        moved = donors.merge(session, actor(), duplicate, keep)
        change = receipts.after_donor_change(session, moved)
    except (ValueError, LedgerError) as exc:
        session.rollback()
        # The duplicate picked stays picked: only the box or the pick needs doing again.
        kept = {"donor_query": request.form.get("donor_query", ""), "donor_id": request.form.get("donor_id", "")}
        return render_donor_page(keep, merge_error=str(exc), merge_values=kept, status=400)
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
