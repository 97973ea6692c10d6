"""Flask CLI commands: registered here from the modules that own them."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import with_appcontext

from .db import get_session
from .auth.users import AccountError, create_user
from .ledger import rebuild_totals, verify_totals
from .models import Role


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
        user = create_user(session, email, role, password, name=name)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    click.echo(f"Created {user.role} account for {user.email}.")


def init_app(app: Flask) -> None:
    from .schema import db_cli

    app.cli.add_command(db_cli)
    app.cli.add_command(create_user_command)
    app.cli.add_command(verify_totals_command)
    app.cli.add_command(seed_demo_command)
