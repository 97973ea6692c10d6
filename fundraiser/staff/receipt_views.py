"""Staff pages for receipt wording: admins edit each kind's subject and message and preview the
receipt a sample gift of that kind would get. Registered on the staff blueprint."""

from __future__ import annotations

import base64
import hashlib
import re

from flask import abort, flash, redirect, render_template, request, url_for

from .. import receipt_wording, receipts, security
from ..auth.access import roles_required
from ..db import get_session
from ..models import Role
from ..settings import current_settings
from .views import actor, bp

_STYLE_ATTR = re.compile(r'style="([^"]*)"')


@bp.get("/receipts")
@roles_required(Role.ADMIN)
def receipt_wordings():
    return render_template(
        "staff/receipts.html", wordings=receipt_wording.all_wordings(get_session()), labels=receipt_wording.KIND_LABELS
    )


def _kind_or_404(kind: str) -> receipt_wording.ReceiptKind:
    found = receipt_wording.parse_kind(kind)
    if found is None:
        abort(404, description="There is no such kind of receipt.")
    return found


def _allow_preview_styles(page: str) -> None:
    """The preview shows the email exactly as sent, inline styles included: allow just those styles."""
    hashes = {
        "'sha256-" + base64.b64encode(hashlib.sha256(value.encode()).digest()).decode() + "'"
        for value in _STYLE_ATTR.findall(page)
    }
    security.allow("style-src", "'unsafe-hashes'", *sorted(hashes))
    security.allow("img-src", current_settings().base_url)


def render_wording(kind, values, errors, status=200, preview=None):
    if preview is not None:
        _allow_preview_styles(preview.html)
    return render_template(
        "staff/receipt_wording.html", kind=kind, label=receipt_wording.KIND_LABELS[kind], values=values,
        errors=errors, preview=preview, placeholders=[
            (name, meaning) for name, meaning in receipt_wording.PLACEHOLDERS.items()
            if name not in receipt_wording.NOT_FOR_KIND.get(kind, ())
        ],
        default=receipt_wording.default(kind),
    ), status


@bp.route("/receipts/<kind>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def receipt_wording_edit(kind: str):
    """Edit one kind's wording: Preview renders it with a sample gift, Save stores it (audit logged)."""
    session = get_session()
    kind = _kind_or_404(kind)
    settings = current_settings()
    if request.method == "GET":
        current = receipt_wording.load(session, kind)
        values = {"subject": current.subject, "body_md": current.body_md}
        return render_wording(kind, values, {}, preview=receipts.preview(kind, current, settings))
    action = request.form.get("action", "preview")
    if action == "default":
        wording = receipt_wording.default(kind)
        values = {"subject": wording.subject, "body_md": wording.body_md}
        flash("The default wording is in the form below; save it to use it again.", "info")
        return render_wording(kind, values, {}, preview=receipts.preview(kind, wording, settings))
    values = {"subject": request.form.get("subject", ""), "body_md": request.form.get("body_md", "")}
    try:
        subject, body = receipt_wording.validate(kind, values["subject"], values["body_md"])
    except receipt_wording.WordingError as exc:
        return render_wording(kind, values, exc.errors, status=400)
    if action != "save":
        wording = receipt_wording.Wording(kind, subject, body, False)
        return render_wording(kind, values, {}, preview=receipts.preview(kind, wording, settings))
    receipt_wording.save(session, actor(), kind, subject, body)
    session.commit()
    flash(f"Saved the wording of {receipt_wording.KIND_LABELS[kind].lower()} receipts; the next one uses it.", "success")
    return redirect(url_for("staff.receipt_wording_edit", kind=kind.value))
