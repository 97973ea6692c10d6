"""Flask CLI commands: registered here from the modules that own them."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .auth.users import AccountError, create_user
from .backup import BackupError, backup, default_backup_path, restore
from .db import get_engine, get_session, utcnow
from .ledger import rebuild_totals, verify_totals
from .models import Role
from .organisation import current_organisation


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


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Load the organisation's demo campaigns, event and sample gifts (safe to run twice)."""
    from .demo import seed_demo

    report = seed_demo(get_session())
    get_session().commit()
    click.echo(report)


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


@click.command("backup")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@with_appcontext
def backup_command(path: Path | None) -> None:
    """Back up the database (default: instance/backups/fundraiser-<time>)."""
    engine = get_engine()
    target = path or default_backup_path(engine, Path(current_app.instance_path) / "backups", utcnow())
    try:
        backup(engine, target)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Backup written to {target}")


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
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    differences = verify_totals(get_session())
    if differences:
        raise click.ClickException(f"Restored, but {len(differences)} total(s) differ from the ledger; run verify-totals.")
    click.echo(f"Restored {path}; all campaign totals match the ledger.")


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


@click.command("send-receipts")
@with_appcontext
def send_receipts_command() -> None:
    """Send receipts and notices waiting in the outbox (run from cron every few minutes)."""
    from .receipts import Mailer, send_due

    sent, failed = send_due(Mailer(current_app.extensions["fundraiser.settings"]))
    click.echo(f"Sent {sent} message(s)." + (f" {failed} could not be sent yet; they will be retried." if failed else ""))


@click.command("fill-fees")
@with_appcontext
def fill_fees_command() -> None:
    """Look up Stripe processing fees for online gifts that don't have one yet."""
    from .payments.fees import fill_fees

    filled, missing = fill_fees()
    click.echo(f"Filled in {filled} fee(s); {missing} not available from Stripe yet.")


@click.command("process-webhooks")
@with_appcontext
def process_webhooks_command() -> None:
    """Apply stored Stripe events that are due (normally done right after each delivery; cron catches up)."""
    from .payments.webhooks import apply_and_follow_up

    report = apply_and_follow_up(catch_up=True)
    click.echo(f"Applied {report.processed} Stripe event(s)"
               + (f"; {report.postponed} failed and will be retried." if report.postponed else "."))


def init_app(app: Flask) -> None:
    from .schema import db_cli

    app.cli.add_command(db_cli)
    app.cli.add_command(create_user_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(doctor_command)
    app.cli.add_command(send_receipts_command)
    app.cli.add_command(fill_fees_command)
    app.cli.add_command(process_webhooks_command)
    app.cli.add_command(verify_totals_command)
    app.cli.add_command(rebuild_rollups_command)
    app.cli.add_command(seed_demo_command)
