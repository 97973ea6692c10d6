"""Flask CLI commands: registered here from the modules that own them."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from .auth.users import AccountError, create_user
from .backup import (
    BackupError,
    backup_with_pictures,
    default_backup_path,
    restore,
    restore_pictures,
)
from .db import get_engine, get_session, utcnow
from .ledger import rebuild_totals, verify_totals
from .models import Role
from .organisation import current_organisation


def schema_first(command: click.Command) -> click.Command:
    """The command, refusing with what to run when the database is not set up for this version
    (a new PostgreSQL database before `db upgrade`, or one an upgrade of the code has outrun),
    instead of failing with a traceback about a missing table. The embedded SQLite database is
    brought up to date at start (schema.prepare_embedded_database), so it never sees this. Not on
    `restore` (restoring into an empty database is how one starts over) nor `doctor` (it reports
    pending migrations, and an unreachable database, among its other findings)."""
    from .schema import pending_revisions

    callback = command.callback

    @functools.wraps(callback)
    def checked(*args, **kwargs):
        try:
            pending = pending_revisions(current_app.extensions["fundraiser.engine"])
        except SQLAlchemyError as exc:
            raise click.ClickException(
                f"Can't reach the database ({exc.__class__.__name__}): check DATABASE_URL "
                "(`flask --app fundraiser doctor` says more)."
            ) from None
        if pending:
            raise click.ClickException(
                "The database is not set up for this version of Fundraiser yet. Run "
                "`flask --app fundraiser db upgrade` first: it creates or updates the tables and keeps what is stored."
            )
        return callback(*args, **kwargs)

    command.callback = with_appcontext(checked)
    return command


@schema_first
@click.command("verify-totals")
@click.option("--fix", is_flag=True, help="Rewrite the cached totals from the ledger after reporting.")
@with_appcontext
def verify_totals_command(fix: bool) -> None:
    """Recompute every campaign total from the ledger and report differences (exit 1 if any)."""
    session = get_session()
    differences = verify_totals(session)
    for d in differences:
        click.echo(f"{d.slug}: {d.field} stored={d.stored} ledger={d.computed}")
    if not differences:
        click.echo("All campaign totals match the ledger.")
        return
    if fix:
        rebuild_totals(session)
        session.commit()
        click.echo(f"Rebuilt totals from the ledger ({len(differences)} differences fixed).")
        return
    click.echo(f"{len(differences)} difference(s) found. Run with --fix to rebuild the totals.")
    sys.exit(1)


@schema_first
@click.command("rebuild-rollups")
@click.option("--check", is_flag=True, help="Only report differences; change nothing.")
@with_appcontext
def rebuild_rollups_command(check: bool) -> None:
    """Recompute the board's rollups from the ledger, report differences, then rewrite them."""
    from .rollups import compute_rollups, differences, rebuild_rollups

    session = get_session()
    computed = compute_rollups(session)
    found = differences(session, computed)
    for d in found[:50]:
        click.echo(str(d))
    if len(found) > 50:
        click.echo(f"... and {len(found) - 50} more.")
    if not found:
        click.echo("All board rollups match the ledger.")
        return
    if check:
        click.echo(f"{len(found)} difference(s) found. Run without --check to rebuild the rollups.")
        sys.exit(1)
    rows = rebuild_rollups(session, computed)
    session.commit()
    click.echo(f"Rebuilt {rows} rollup row(s) from the ledger ({len(found)} difference(s) fixed).")


@schema_first
@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Load the organisation's demo campaigns, event and sample gifts (safe to run twice)."""
    from .demo import seed_demo

    report = seed_demo(get_session())
    get_session().commit()
    click.echo(report)


@schema_first
@click.command("remove-demo")
@click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
@with_appcontext
def remove_demo_command(yes: bool) -> None:
    """Delete the demo's sample campaigns, donors, gifts and events (nothing else); totals are rebuilt."""
    from .audit import Actor
    from .demo import remove_demo

    if not yes:
        click.confirm("Remove every demo campaign, sample donor, gift and event?", abort=True)
    report = remove_demo(get_session(), Actor(None))
    get_session().commit()
    click.echo(report)


@schema_first
@click.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", default="", help="The person's name, as the console shows it.")
@click.option(
    "--password", envvar="FUNDRAISER_USER_PASSWORD", prompt=True, hide_input=True, confirmation_prompt=True,
    help="Prompted for when not given; scripts can set FUNDRAISER_USER_PASSWORD.",
)
@with_appcontext
def create_user_command(email: str, role: str, name: str, password: str) -> None:
    """Create a sign-in account with a role: admin, staff or board."""
    session = get_session()
    try:
        user = create_user(session, email, role, password, name=name, org_name=current_organisation().name)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    click.echo(f"Created {user.role} account for {user.email}.")


@schema_first
@click.command("backup")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@with_appcontext
def backup_command(path: Path | None) -> None:
    """Back up the database (default: instance/backups/fundraiser-<time>) and, beside it, the pictures."""
    engine = get_engine()
    instance = Path(current_app.instance_path)
    target = path or default_backup_path(engine, instance / "backups", utcnow())
    try:
        _, pictures = backup_with_pictures(engine, instance, target)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Backup written to {target}" + (f", the pictures to {pictures}" if pictures else " (no pictures uploaded yet)"))


@click.command("restore")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
@with_appcontext
def restore_command(path: Path, yes: bool) -> None:
    """Replace the database with a backup, then check every total against the ledger."""
    if not yes:
        click.confirm("This replaces everything in the database with the backup. Stop the app first. Continue?", abort=True)
    try:
        restore(get_engine(), path)
        pictures = restore_pictures(Path(current_app.instance_path), path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    differences = verify_totals(get_session())
    if differences:
        raise click.ClickException(f"Restored, but {len(differences)} total(s) differ from the ledger; run verify-totals.")
    click.echo(f"Restored {path}" + (f" and the pictures in {pictures}" if pictures else " (no pictures file beside it)")
               + "; all campaign totals match the ledger.")


@click.command("doctor")
@with_appcontext
def doctor_command() -> None:
    """Check the configuration (database, migrations, secrets, addresses) and say what to fix."""
    from .doctor import run_checks

    findings = run_checks(current_app._get_current_object())
    for f in findings:
        click.echo(f"{'ok ' if f.ok else 'FIX'}  {f.check}: {f.message}")
    problems = [f for f in findings if not f.ok]
    if problems:
        click.echo(f"{len(problems)} thing(s) to fix.")
        sys.exit(1)
    click.echo("Everything checked is in order.")


@schema_first
@click.command("send-receipts")
@with_appcontext
def send_receipts_command() -> None:
    """Send what waits in the outbox now. The app sends mail by itself within seconds; this is a
    backstop for cron (e.g. hourly) and never fails because of one message."""
    from .mail import Mailer, send_due

    sent, failed = send_due(Mailer(current_app.extensions["fundraiser.settings"]))
    click.echo(f"Sent {sent} message(s)." + (
        f" {failed} not sent: see the Mail page of the staff console (retried or marked failed)." if failed else ""))


@schema_first
@click.command("fill-fees")
@with_appcontext
def fill_fees_command() -> None:
    """Look up Stripe processing fees for online gifts that don't have one yet."""
    from .payments.fees import fill_fees

    filled, missing = fill_fees()
    click.echo(f"Filled in {filled} fee(s); {missing} not available from Stripe yet.")


@schema_first
@click.command("fetch-payouts")
@with_appcontext
def fetch_payouts_command() -> None:
    """List from Stripe the lines of paid payouts that lack them (done after each webhook round; this retries now)."""
    from .payments.payouts import fetch_due_lines

    report = fetch_due_lines(now=True)
    click.echo(f"Fetched the lines of {report.fetched} payout(s)."
               + (f" {report.failed} could not be fetched yet; they will be retried." if report.failed else ""))


@schema_first
@click.command("process-webhooks")
@with_appcontext
def process_webhooks_command() -> None:
    """Apply stored Stripe events that are due (normally done right after each delivery; cron catches up)."""
    from .payments.webhooks import apply_and_follow_up

    report = apply_and_follow_up(catch_up=True)
    click.echo(f"Applied {report.processed} Stripe event(s)"
               + (f"; {report.postponed} failed and will be retried." if report.postponed else "."))


@schema_first
@click.command("year-end")
@click.argument("year", type=int)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the PDF of statements to print and post (donors without email).")
@click.option("--resend", is_flag=True, help="Send again to donors who already got this year's statement.")
@click.option("--dry-run", is_flag=True, help="Only count who would get what; send and write nothing.")
@with_appcontext
def year_end_command(year: int, out_dir: Path, resend: bool, dry_run: bool) -> None:
    """Year-end giving statements: email each donor who gave in YEAR, and write one PDF for the rest."""
    from . import yearend
    from .mail import Mailer, send_due
    from .organisation import current_organisation

    settings = current_app.extensions["fundraiser.settings"]
    session = get_session()
    try:
        plan = yearend.plan(session, year, settings.tz, resend=resend, issued_on=utcnow().astimezone(settings.tz).date())
    except yearend.YearEndError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{year}: {len(plan.to_email)} statement(s) to email, {len(plan.to_print)} to print, "
               f"{len(plan.already_sent)} already sent" + ("" if resend or not plan.already_sent else " (--resend sends them again)") + ".")
    for donor in plan.without_address:
        click.echo(f"  No mailing address: {donor.name} (donor {donor.id}); add it before posting.")
    if dry_run:
        click.echo("Dry run: nothing was sent or written.")
        return
    if not plan.to_email and not plan.to_print:
        click.echo("Nothing to send.")
        return
    try:
        record = yearend.run(session, settings, current_organisation(), year, resend=resend, user_id=None)
    except yearend.YearEndError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    session.commit()
    if record.printed_count:
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"year-end-{year}-run-{record.id}-to-print.pdf"
        target.write_bytes(yearend.print_pdf(session, settings, current_organisation(), record))
        click.echo(f"Wrote {record.printed_count} statement(s) to print: {target}")
    sent = failed = 0
    while record.emailed_count:
        batch_sent, batch_failed = send_due(Mailer(settings))
        sent, failed = sent + batch_sent, failed + batch_failed
        if batch_failed or not batch_sent:
            break
    click.echo(f"Emailed {sent} message(s) now." + (" Some could not be sent yet; send-receipts retries them." if failed else ""))
@schema_first
@click.command("import-gifts")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--campaign", "campaign_slug", help="Web address (slug) of the campaign for rows whose campaign isn't matched.")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--map", "overrides", multiple=True, metavar="FIELD=HEADER",
              help="Use this column for a field (e.g. --map donor_email='Customer Email'); FIELD= leaves it out.")
@with_appcontext
def import_gifts_command(file: Path, campaign_slug: str | None, dry_run: bool, overrides: tuple[str, ...]) -> None:
    """Import gifts from a platform's CSV export (the same engine as the staff import page)."""
    from sqlalchemy import select

    from . import imports
    from .audit import Actor
    from .gifts import open_campaigns
    from .models import Campaign
    from .settings import current_settings

    session = get_session()
    tz = current_settings().tz
    try:
        csv_file = imports.read_csv(file.read_bytes())
    except imports.ImportProblem as exc:
        click.echo(f"Nothing imported: {exc}", err=True)
        sys.exit(1)
    campaigns = open_campaigns(session)
    default = None
    if campaign_slug:
        default = session.scalar(select(Campaign).where(Campaign.slug == campaign_slug))
        if default is None:
            click.echo(f"Nothing imported: there is no campaign with the web address “{campaign_slug}”.", err=True)
            sys.exit(1)
    pairs = dict(item.split("=", 1) if "=" in item else (item, "") for item in overrides)
    mapping, errors = imports.mapping_from_headers(csv_file.header, pairs, campaigns, default, csv_file)
    if mapping is None:
        for message in errors.values():
            click.echo(f"Nothing imported: {message}", err=True)
        sys.exit(1)
    check = imports.check_rows(session, csv_file, mapping, campaigns, utcnow().astimezone(tz).date(), tz)
    for note in check.notes:
        click.echo(note)
    for value, chosen in mapping.campaign_values.items():
        click.echo(f"Campaign “{value}” -> {chosen.slug if chosen else (default.slug if default else '?')}")
    if dry_run:
        click.echo(f"Dry run: {len(check.importable)} row(s) would be imported; nothing written.")
        for r in check.rows:
            if r.errors or r.skipped:
                click.echo(f"Row {r.number}: {r.outcome}")
        return
    summary = imports.import_rows(
        session, Actor(user_id=None), check, file.name, on_batch=lambda _done, _summary: session.commit()
    )
    session.commit()
    for line in summary.lines(check):
        click.echo(line)


def init_app(app: Flask) -> None:
    from .fanout import serve_streams_command
    from .schema import db_cli

    app.cli.add_command(db_cli)
    for command in (
        create_user_command, backup_command, restore_command, doctor_command, send_receipts_command,
        fill_fees_command, fetch_payouts_command, process_webhooks_command, verify_totals_command,
        rebuild_rollups_command, seed_demo_command, year_end_command, remove_demo_command,
        import_gifts_command, serve_streams_command,
    ):
        app.cli.add_command(command)
