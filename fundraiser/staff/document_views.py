"""Staff pages for paperwork: a gift's acknowledgment letter, letters for a date range, and the
year-end statements (preview, send, download the pages to post). Routes live on the staff
blueprint, so only staff and admins reach them."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for

from .. import letters, yearend
from ..db import get_session
from ..models import Gift, StatementChannel, YearEndRun
from ..organisation import current_organisation
from ..settings import current_settings
from .views import actor, bp, get_or_404, today

# At most this many days per batch of letters (a year and a bit), so a click never builds thousands of pages.
MAX_LETTER_DAYS = 400


def pdf_response(body: bytes, filename: str, *, download: bool):
    disposition = "attachment" if download else "inline"
    return body, 200, {"Content-Type": "application/pdf", "Content-Disposition": f'{disposition}; filename="{filename}"'}


@bp.get("/gifts/<int:gift_id>/letter.pdf")
def gift_letter(gift_id: int):
    """The acknowledgment letter for one gift, to print and post."""
    gift = get_or_404(Gift, gift_id, "gift")
    letter = letters.gift_letter(get_session(), gift, current_settings().tz, issued_on=today())
    if letter is None:
        reason = "it has no donor record" if gift.donor is None else "it was voided or fully refunded"
        abort(404, description=f"There is no letter for gift {gift.id}: {reason}.")
    body = letters.documents_pdf([letter], current_settings(), current_organisation())
    return pdf_response(body, f"acknowledgment-gift-{gift.id}.pdf", download=False)


def _letter_form(args) -> tuple[dict[str, str], dict[str, str], tuple[date, date] | None]:
    """The batch form's values, a message per wrong field, and the date range when all is well."""
    values = {
        "start": (args.get("start") or "").strip(), "end": (args.get("end") or "").strip(),
        "per": args.get("per") if args.get("per") in ("gift", "donor") else "gift",
        "who": args.get("who") if args.get("who") in ("no_email", "all") else "no_email",
    }
    errors: dict[str, str] = {}
    days: dict[str, date] = {}
    for name in ("start", "end"):
        try:
            days[name] = date.fromisoformat(values[name])
        except ValueError:
            errors[name] = "Please enter a date, like 2025-01-31."
    if not errors:
        if days["end"] < days["start"]:
            errors["end"] = "The last day must be on or after the first day."
        elif (days["end"] - days["start"]).days > MAX_LETTER_DAYS:
            errors["end"] = f"Please choose at most {MAX_LETTER_DAYS} days at a time."
    return values, errors, None if errors else (days["start"], days["end"])


def _batch(values, period):
    return letters.letters_for_period(
        get_session(), period[0], period[1], current_settings().tz, issued_on=today(),
        per_donor=values["per"] == "donor", without_email_only=values["who"] == "no_email",
    )


@bp.get("/letters")
def letter_batch():
    """Letters for every gift (or donor) of a date range: the counts first, then the PDF."""
    if not request.args:
        first = today().replace(day=1)
        values = {"start": first.isoformat(), "end": today().isoformat(), "per": "gift", "who": "no_email"}
        return render_template("staff/letters.html", values=values, errors={}, batch=None)
    values, errors, period = _letter_form(request.args)
    if period is None:
        return render_template("staff/letters.html", values=values, errors=errors, batch=None), 400
    return render_template("staff/letters.html", values=values, errors={}, batch=_batch(values, period))


@bp.get("/letters.pdf")
def letter_batch_pdf():
    values, errors, period = _letter_form(request.args)
    if period is None:
        return render_template("staff/letters.html", values=values, errors=errors, batch=None), 400
    batch = _batch(values, period)
    body = letters.documents_pdf(batch.letters, current_settings(), current_organisation())
    return pdf_response(body, f"letters-{period[0].isoformat()}-to-{period[1].isoformat()}.pdf", download=True)


def _default_year() -> int:
    """Last year until the summer (when statements are due), this year after."""
    now = today()
    return now.year - 1 if now.month <= 6 else now.year


@bp.get("/year-end")
def year_end():
    """Who would get a statement for the chosen year, and how; nothing is sent from this page view."""
    session = get_session()
    year = request.args.get("year", type=int) or _default_year()
    resend = request.args.get("resend") == "yes"
    try:
        plan = yearend.plan(session, year, current_settings().tz, resend=resend, issued_on=today())
    except yearend.YearEndError as exc:
        flash(str(exc), "error")
        return redirect(url_for("staff.year_end"))
    return render_template(
        "staff/year_end.html", plan=plan, years=range(today().year, today().year - 5, -1),
        runs=yearend.runs(session), year_open=year >= today().year,
    )


@bp.post("/year-end")
def year_end_send():
    """Send the year's statements: emails queued (and delivered in the background), pages to print recorded."""
    session = get_session()
    year = request.form.get("year", type=int) or 0
    resend = request.form.get("resend") == "yes"
    try:
        record = yearend.run(session, current_settings(), current_organisation(), year, resend=resend, user_id=actor().user_id)
    except yearend.YearEndError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("staff.year_end", year=year or None))
    session.commit()
    flash(
        f"{year} statements: {record.emailed_count} emailed, {record.printed_count} to print"
        + (f", {record.skipped_count} already sent and skipped" if record.skipped_count else "") + ".",
        "success",
    )
    return redirect(url_for("staff.year_end_run", run_id=record.id))


@bp.get("/year-end/runs/<int:run_id>")
def year_end_run(run_id: int):
    session = get_session()
    record = get_or_404(YearEndRun, run_id, "year-end run")
    rows = yearend.run_statements(session, record)
    return render_template(
        "staff/year_end_run.html", run=record,
        emailed=[r for r in rows if r.channel == StatementChannel.EMAIL],
        printed=[r for r in rows if r.channel == StatementChannel.PRINT],
        has_address=letters.has_mailing_address, mailing_lines=letters.mailing_lines,
    )


@bp.get("/year-end/runs/<int:run_id>/to-print.pdf")
def year_end_print(run_id: int):
    """One PDF, a page per donor without email, to print, fold and post in #10 window envelopes."""
    record = get_or_404(YearEndRun, run_id, "year-end run")
    body = yearend.print_pdf(get_session(), current_settings(), current_organisation(), record)
    return pdf_response(body, f"year-end-{record.year}-run-{record.id}-to-print.pdf", download=True)
