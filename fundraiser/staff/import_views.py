"""The staff import pages: upload a platform's export, check and map it (the dry run), import it in
the background with a progress bar, and download the rejected rows to fix and upload again.

The engine is fundraiser/imports.py, shared with `flask import-gifts`. The upload and the chosen
columns wait under the instance folder (by a one-time token) until the import runs.
"""

from __future__ import annotations

import json
import logging
import threading

from flask import Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from .. import gifts, imports
from ..audit import Actor
from ..db import get_session, utcnow
from ..models import GiftMethod, ImportJob
from ..settings import current_settings
from .views import actor, bp, campaign_choices, today

log = logging.getLogger(__name__)
PREVIEW_ROWS = 200
ALL_METHODS = [(m.value, gifts.METHOD_NAMES[m]) for m in GiftMethod]


def _folder():
    return current_settings().instance_path / "imports"


def _paths(token: str):
    folder = _folder()
    return folder / f"{token}.csv", folder / f"{token}.json"


def _rejected_path(token: str):
    return _folder() / f"{token}.rejected.csv"


def _valid(token: str) -> bool:
    return token.isalnum() and len(token) <= 64 and _paths(token)[0].exists()


def _load(token: str):
    data_path, values_path = _paths(token)
    csv_file = imports.read_csv(data_path.read_bytes())
    values = json.loads(values_path.read_text()) if values_path.exists() else {}
    return csv_file, values


def _check(csv_file, values):
    """The mapping chosen on the page and the dry run of every row (nothing written)."""
    session = get_session()
    campaigns = gifts.open_campaigns(session)
    mapping, errors = imports.parse_mapping(values, csv_file.header, campaigns, csv_file)
    check = imports.check_rows(session, csv_file, mapping, campaigns, today(), current_settings().tz) if mapping else None
    return campaigns, mapping, errors, check


def _preview(token, filename, csv_file, values, status=200):
    campaigns, mapping, errors, check = _check(csv_file, values)
    column = mapping.columns.get("campaign") if mapping else (
        int(values["map_campaign"]) if str(values.get("map_campaign", "")).isdigit() else None)
    distinct = sorted(imports.campaign_values(csv_file, column).items())
    chosen = {}
    for i, (value, _count) in enumerate(distinct):
        raw = values.get(f"campaign_value_{i}")
        guess = imports.guess_campaign(value, campaigns)
        chosen[f"campaign_value_{i}"] = raw if raw is not None else (str(guess.id) if guess else "")
    rows = []
    if check is not None:
        flagged = [r for r in check.rows if r.errors or r.skipped or r.warnings or r.already_imported]
        plain = [r for r in check.rows if not (r.errors or r.skipped or r.warnings or r.already_imported)]
        rows = sorted(flagged[:1000] + plain[:PREVIEW_ROWS], key=lambda r: r.number)
    importable = check.importable if check else []
    currency = importable[0].entry.currency if importable and importable[0].entry else "USD"
    return render_template(
        "staff/import_preview.html", token=token, filename=filename, header=csv_file.header, targets=imports.TARGETS,
        values={**values, **chosen}, errors=errors, check=check, rows=rows, distinct=distinct,
        importable=importable, currency=currency,
        total=sum(r.entry.amount_cents for r in importable if r.entry and not r.already_imported),
        sources=list(imports.SOURCES.items()), source=mapping.source if mapping else imports.guess_source(csv_file.header),
        campaigns=campaign_choices(campaigns), methods=ALL_METHODS,
    ), status


@bp.route("/import", methods=["GET", "POST"])
def import_upload():
    """Step 1: upload the export; it is kept under the instance folder until imported."""
    if request.method == "GET":
        return render_template("staff/import.html", error=None)
    upload = request.files.get("file")
    data = upload.read(imports.MAX_BYTES + 1) if upload else b""
    try:
        csv_file = imports.read_csv(data)
    except imports.ImportProblem as exc:
        return render_template("staff/import.html", error=str(exc)), 400
    token = gifts.new_submission_token()
    data_path, values_path = _paths(token)
    data_path.parent.mkdir(parents=True, exist_ok=True)
    data_path.write_bytes(data)
    values = {f"map_{k}": v for k, v in imports.guess_mapping(csv_file.header).items()}
    values["source"] = imports.guess_source(csv_file.header)
    values["filename"] = (upload.filename or "upload.csv")[:100]
    values_path.write_text(json.dumps(values))
    return _preview(token, values["filename"], csv_file, values)[0]


@bp.post("/import/<token>")
def import_confirm(token: str):
    """Step 2: check again with the chosen columns and campaigns, or start the import."""
    session = get_session()
    if session.scalar(select(ImportJob.id).where(ImportJob.token == token[:64])) is not None:
        return redirect(url_for("staff.import_progress", token=token))  # sent twice: it is running or done
    if not _valid(token):
        flash("That upload has expired; please upload the file again.", "error")
        return redirect(url_for("staff.import_upload"))
    csv_file, _ = _load(token)
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    _paths(token)[1].write_text(json.dumps(values))
    filename = values.get("filename", "upload.csv")[:100]
    if request.form.get("action") != "import":
        return _preview(token, filename, csv_file, values)[0]
    _, mapping, _, check = _check(csv_file, values)
    if check is None:
        return _preview(token, filename, csv_file, values, 400)
    job = ImportJob(
        token=token, filename=filename, source=mapping.source, status="running",
        total_rows=len(check.importable), created_by_id=actor().user_id, summary=[],
    )
    session.add(job)
    session.commit()
    who = actor()
    if current_app.config.get("BACKGROUND_TASKS", True):
        app = current_app._get_current_object()
        threading.Thread(target=_run_in_app, args=(app, job.id, who), daemon=True, name=f"import-{job.id}").start()
    else:
        run_job(job.id, who)
    return redirect(url_for("staff.import_progress", token=token))


def _run_in_app(app, job_id: int, who: Actor) -> None:
    with app.app_context():
        run_job(job_id, who)


def run_job(job_id: int, who: Actor) -> None:
    """Import a job's file with its saved choices, committing each batch so the page can show progress."""
    session = get_session()
    job = session.get(ImportJob, job_id)
    try:
        csv_file, values = _load(job.token)
        _, _, errors, check = _check(csv_file, values)
        if check is None:
            raise imports.ImportProblem("; ".join(errors.values()))
        job.total_rows = len(check.importable)
        session.commit()

        def on_batch(done: int, summary: imports.ImportSummary) -> None:
            job.done_rows, job.imported, job.refunds = done, summary.imported, summary.refunds
            session.commit()

        summary = imports.import_rows(session, who, check, job.filename, on_batch=on_batch,
                                      send_receipts=values.get("send_receipts") == "yes")
        job.summary = summary.lines(check)[:2000]
        job.status = "done"
        # The upload holds donors' details: once imported, keep only the rows still to fix.
        data_path, values_path = _paths(job.token)
        _rejected_path(job.token).write_bytes(imports.rejected_csv(csv_file, check).encode())
        data_path.unlink(missing_ok=True)
        values_path.unlink(missing_ok=True)
    except Exception as exc:  # the page must say the import stopped, not spin forever
        log.exception("Import %s failed", job_id)
        session.rollback()
        job = session.get(ImportJob, job_id)
        job.status = "failed"
        job.summary = [
            (f"The import stopped: {exc}. Gifts imported before it stopped are kept; "
             "upload the file again to import the rest (nothing is imported twice).")
        ]
    job.finished_at = utcnow()
    session.commit()


def _job_or_404(token: str) -> ImportJob:
    job = get_session().scalar(select(ImportJob).where(ImportJob.token == token))
    if job is None:
        from flask import abort

        abort(404, description="We couldn't find that import.")
    return job


@bp.get("/import/<token>/progress")
def import_progress(token: str):
    """Step 3: the import's progress bar (the page polls the JSON below), then what it did."""
    return render_template("staff/import_progress.html", job=_job_or_404(token), token=token)


@bp.get("/import/<token>/progress.json")
def import_progress_json(token: str):
    job = _job_or_404(token)
    response = jsonify(
        status=job.status, done_rows=job.done_rows, total_rows=job.total_rows, imported=job.imported,
        refunds=job.refunds, summary=job.summary if job.status != "running" else [],
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/import/<token>/rejected.csv")
def import_rejected(token: str):
    """The rows with problems, as they were, plus a reason column: fix them and upload this file again."""
    done = _rejected_path(token) if token.isalnum() else None
    if done is not None and done.exists():
        body = done.read_bytes().decode()
        job = _job_or_404(token)
        name = job.filename
    elif _valid(token):
        csv_file, values = _load(token)
        _, _, errors, check = _check(csv_file, values)
        if check is None:
            flash("Choose the columns first: " + "; ".join(errors.values()), "error")
            return redirect(url_for("staff.import_upload"))
        body, name = imports.rejected_csv(csv_file, check), values.get("filename", "upload.csv")
    else:
        flash("That upload has expired; please upload the file again.", "error")
        return redirect(url_for("staff.import_upload"))
    name = name.rsplit(".", 1)[0][:60]
    return Response(
        "\ufeff" + body, mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}-rejected.csv"'},
    )
