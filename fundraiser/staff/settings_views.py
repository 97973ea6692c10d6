"""Console pages about the organisation itself: its identity (Settings, admins) and its mail (Mail).

Registered on the staff blueprint: its before_request already turns visitors and board accounts away.
"""

from __future__ import annotations

import calendar
import tempfile

from flask import abort, flash, redirect, render_template, request, send_file, url_for

from .. import audit, housekeeping, mail, organisation
from ..auth.access import roles_required
from ..backup import BackupError, backup_archive
from ..db import get_engine, get_session, utcnow
from ..models import MessageStatus, OutboxMessage, Role
from ..settings import current_settings
from .views import actor, bp


@bp.context_processor
def identity_banner():
    """The console's banner while documents would go out under the demo organisation's name."""

    def identity_warning() -> list[str]:
        return organisation.identity_needs_fixing(get_session(), current_settings(), organisation.current_organisation())

    return {"identity_warning": identity_warning}


def _stored_values(org: organisation.Organisation) -> dict[str, str]:
    return {name: getattr(org, name) for name in organisation.EDITABLE}


def _render(org, values, errors, status=200):
    return render_template(
        "staff/settings.html", stored=org, values=values, errors=errors, labels=organisation.FIELD_LABELS,
        demo=organisation.demo_field_labels(org), logo_max_mb=organisation.LOGO_MAX_BYTES // 1024 // 1024,
        fiscal_months=[(str(n), calendar.month_name[n]) for n in range(1, 13)],
        backups=housekeeping.backup_status(current_settings(), utcnow()),
    ), status


@bp.route("/settings", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def org_settings():
    """The organisation's identity as every receipt, letter and page states it."""
    session = get_session()
    settings = current_settings()
    org = organisation.load_organisation(session, settings)
    if request.method == "GET":
        return _render(org, _stored_values(org), {})
    values, errors = organisation.clean_identity(request.form)
    upload = request.files.get("logo")
    logo = None
    if upload is not None and upload.filename:
        try:
            logo = organisation.check_logo(upload.read(organisation.LOGO_MAX_BYTES + 1))
        except organisation.LogoError as exc:
            errors["logo"] = str(exc)
    if errors:
        return _render(org, values, errors, status=400)
    changes = dict(values)
    if logo is not None:
        changes["logo_file"] = organisation.store_logo(settings.instance_path, logo)
    elif request.form.get("remove_logo") == "yes":
        changes["logo_file"] = ""
    before = org
    after = organisation.update_organisation(session, settings, changes, actor())
    session.commit()
    changed = [organisation.FIELD_LABELS[k] for k in organisation.FIELD_NAMES if getattr(before, k) != getattr(after, k)]
    if changed:
        flash(f"Saved: {', '.join(changed)}. Receipts and letters from now on use them.", "success")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("staff.org_settings"))


@bp.post("/settings/backup")
@roles_required(Role.ADMIN)
def download_backup():
    """Everything (the database and the uploaded pictures) as one file for an admin to keep: a
    volunteer-run site should not need a terminal to have a backup. Each download is in the audit
    log, as it holds every donor's name and address."""
    # Not a with block: the response closes it once sent, and the file is gone from the disk then.
    out = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        name = backup_archive(get_engine(), current_settings().instance_path, out, utcnow())
    except BackupError as exc:
        out.close()
        flash(f"No backup was made: {exc}", "error")
        return redirect(url_for("staff.org_settings") + "#backup")
    session = get_session()
    audit.record(session, actor(), "backup.download", "organisation", "backup", after={"file": name})
    session.commit()
    out.seek(0)
    response = send_file(out, mimetype="application/x-tar", as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "no-store"
    return response


# ------------------------------------------------------------------------------ mail


@bp.get("/mail")
@roles_required(Role.ADMIN, Role.STAFF)
def mail_outbox():
    """Mail waiting, sent and failed, newest first, a page at a time."""
    session = get_session()
    status = request.args.get("status") or None
    if status is not None and status not in MessageStatus._value2member_map_:
        abort(404, description="There is no such mail status.")
    rows = mail.browse(session, status=status, before_id=request.args.get("before", type=int))
    return render_template(
        "staff/mail.html", rows=rows, status=status, counts=mail.counts(session), page_size=mail.PAGE_SIZE,
        statuses=[s.value for s in MessageStatus],
    )


@bp.post("/mail/retry")
@roles_required(Role.ADMIN, Role.STAFF)
def mail_retry():
    """Send failed messages again: one (message_id) or every failed one."""
    session = get_session()
    message_id = request.form.get("message_id", type=int)
    if message_id is None and request.form.get("all") != "failed":
        abort(400, description="Choose a message to retry, or retry all failed messages.")
    if message_id is not None and session.get(OutboxMessage, message_id) is None:
        abort(404, description="We couldn't find that message.")
    count = mail.retry_failed(session, actor(), [message_id] if message_id is not None else None)
    session.commit()
    mail.sender().wake(resume=True)
    if count:
        flash(f"{count} message{'s' if count != 1 else ''} will be sent again in a moment.", "success")
    else:
        flash("That message isn't failed any more; nothing to retry.", "info")
    return redirect(url_for("staff.mail_outbox", status=request.form.get("status") or None))
