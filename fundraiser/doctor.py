"""`flask doctor`: checks the configuration a deployment depends on and says what to fix."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .config import Settings, secret_key_weakness
from .schema import pending_revisions


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str


Check = Callable[[Flask, Settings], list[Finding]]


def check_database(app: Flask, settings: Settings) -> list[Finding]:
    engine = app.extensions["fundraiser.engine"]
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return [Finding("database", False, f"Can't reach the database ({exc.__class__.__name__}): check DATABASE_URL.")]
    findings = [Finding("database", True, f"Reachable ({engine.dialect.name}).")]
    pending = pending_revisions(engine)
    if pending:
        findings.append(Finding("migrations", False, "Migrations are pending: run `flask --app fundraiser db upgrade`."))
    else:
        findings.append(Finding("migrations", True, "Schema is up to date."))
    if settings.is_production and engine.dialect.name == "sqlite":
        findings.append(Finding("database", True, "SQLite in production: fine for one server (the app backs it up nightly)."))
    return findings


def check_secret_key(app: Flask, settings: Settings) -> list[Finding]:
    if settings.secret_key_is_generated:
        ok = not settings.is_production
        return [Finding("secret key", ok, "Generated and kept in the instance folder" + (
            "." if ok else "; set SECRET_KEY explicitly so every worker shares it."))]
    if len(settings.secret_key) < 32:
        return [Finding("secret key", False, "SECRET_KEY is shorter than 32 characters: use a long random value.")]
    weakness = secret_key_weakness(settings.secret_key)
    if weakness:
        return [Finding("secret key", False, f"SECRET_KEY is too easy to guess ({weakness}): use a long random value.")]
    return [Finding("secret key", True, "Set and long enough.")]


def check_base_url(app: Flask, settings: Settings) -> list[Finding]:
    if settings.base_url.startswith("https://"):
        return [Finding("base url", True, settings.base_url)]
    return [Finding("base url", not settings.is_production,
                    f"BASE_URL is {settings.base_url}: receipts and payment redirects need the public https:// address.")]


def check_identity(app: Flask, settings: Settings) -> list[Finding]:
    """The organisation's identity (ORG_* overlaid by the Settings page): never the demo's in production."""
    from .organisation import demo_field_labels, load_organisation

    session = app.extensions["fundraiser.sessionmaker"]()
    try:
        org = load_organisation(session, settings)
    except SQLAlchemyError:
        return []  # the database check already says what is wrong
    finally:
        session.close()
    demo = demo_field_labels(org)
    if not demo:
        return [Finding("organisation", True, f"{org.legal_name}; charity of record {org.charity_name} (EIN {org.charity_ein or 'not set'}).")]
    return [Finding("organisation", not settings.is_production,
                    f"Still the demo organisation's identity: {', '.join(demo)}. Set these variables, or change the "
                    "fields on the staff console's Settings page (admins); in production receipts and letters are "
                    "held until then.")]


def _key_mode(key: str) -> str:
    """"live" or "test", from Stripe's key prefixes (sk_live_, pk_test_, rk_live_, ...)."""
    return "live" if "_live_" in key else "test"


def check_stripe(app: Flask, settings: Settings) -> list[Finding]:
    """Keys present and of one mode, live in production, webhook secret set. No network call:
    a key's validity shows on the first donation; its shape and mode are what people get wrong."""
    if not settings.stripe_enabled:
        return [Finding("stripe", not settings.is_production,
                        "No Stripe keys: online giving is off. Set STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY "
                        "(Stripe dashboard → Developers → API keys).")]
    findings = []
    modes = {_key_mode(settings.stripe_secret_key), _key_mode(settings.stripe_publishable_key)}
    if len(modes) > 1:
        findings.append(Finding("stripe", False, "STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY are of different modes "
                                "(one live, one test): take both from the same mode of the dashboard."))
    elif settings.is_production and modes == {"test"}:
        findings.append(Finding("stripe", False, "Test-mode Stripe keys in production: no real money will arrive. "
                                "Use the live keys."))
    else:
        findings.append(Finding("stripe", True, f"Keys set ({modes.pop()} mode)."))
    if settings.stripe_webhook_secret:
        findings.append(Finding("stripe webhook", True, "Signing secret set."))
    else:
        findings.append(Finding("stripe webhook", False, "STRIPE_WEBHOOK_SECRET is not set: gifts will never be recorded. "
                                f"Add the endpoint {settings.base_url}/stripe/webhook in the Stripe dashboard "
                                "and copy its signing secret (whsec_…)."))
    return findings


def check_smtp(app: Flask, settings: Settings) -> list[Finding]:
    """Connect and greet the mail server (and log in, when credentials are set), sending nothing."""
    if not settings.smtp_host:
        return [Finding("smtp", not settings.is_production,
                        f"No SMTP_HOST: receipts are written to {settings.instance_path / 'outbox'} instead of sent.")]
    if not settings.mail_from:
        return [Finding("smtp", False, "MAIL_FROM is not set: receipts need a From address, e.g. receipts@example.org.")]
    try:
        if settings.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=10,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10)
        with smtp:
            smtp.ehlo()
            if settings.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
    except smtplib.SMTPAuthenticationError:
        return [Finding("smtp", False, "The mail server refused SMTP_USERNAME/SMTP_PASSWORD.")]
    except (OSError, smtplib.SMTPException) as exc:
        return [Finding("smtp", False, f"Can't talk to {settings.smtp_host}:{settings.smtp_port} "
                        f"({exc.__class__.__name__}: {exc}); check SMTP_HOST, SMTP_PORT and SMTP_SECURITY.")]
    return [Finding("smtp", True, f"{settings.smtp_host}:{settings.smtp_port} answers ({settings.smtp_security}).")]


def check_stripe_events(app: Flask, settings: Settings) -> list[Finding]:
    """Stored Stripe events that keep failing to apply, or that wait for a payment that never came:
    money movements Stripe made that the ledger lacks."""
    from .payments.stripe import API_VERSION
    from .payments.webhooks import (
        long_waiting_events,
        not_applied_events,
        other_version_events,
        stuck_events,
    )

    session = app.extensions["fundraiser.sessionmaker"]()
    try:
        stuck = stuck_events(session)
        waiting = long_waiting_events(session)
        versions = other_version_events(session, API_VERSION)
        refused = not_applied_events(session)
    except SQLAlchemyError:
        return []  # the database check above already says what is wrong
    finally:
        session.close()
    findings = []
    if stuck:
        first = stuck[0]
        findings.append(Finding("stripe events", False, f"{len(stuck)} Stripe event(s) failed to apply several times "
                                f"(first: {first.id}, {first.type}: {first.last_error}). Fix the cause, then run "
                                "`flask --app fundraiser process-webhooks`."))
    if waiting:
        first = waiting[0]
        findings.append(Finding("stripe events", False, f"{len(waiting)} Stripe event(s) have waited over a "
                                f"day for a payment the ledger doesn't have (first: {first.id}, {first.type}, waiting "
                                f"for {first.waiting_for}). Find that payment in the Stripe dashboard and record or "
                                "correct the gift by hand in the staff console."))
    if versions:
        seen = ", ".join(f"{version} ({count})" for version, count in versions)
        findings.append(Finding("stripe api version", False, f"Stripe events arrived in another API version than "
                                f"this app is written for ({API_VERSION}): {seen}. In the Stripe dashboard "
                                "(Developers → Webhooks) create the endpoint again with API version "
                                f"{API_VERSION}, and retire the old one."))
    if refused:
        first = refused[0]
        findings.append(Finding("stripe events", False, f"{len(refused)} Stripe event(s) were stored but not applied "
                                f"(first: {first.id}, {first.type}: {first.not_applied_reason}). Check that the "
                                "webhook endpoint and STRIPE_SECRET_KEY belong to the same Stripe account and mode."))
    return findings or [Finding("stripe events", True, "Every stored Stripe event has been applied or is due.")]


def check_payouts(app: Flask, settings: Settings) -> list[Finding]:
    """Bank deposits whose lines don't add up, or that Stripe would not list: the books can't close."""
    from .payments.payouts import needing_attention

    session = app.extensions["fundraiser.sessionmaker"]()
    try:
        unbalanced, unlisted = needing_attention(session)
    except SQLAlchemyError:
        return []
    finally:
        session.close()
    findings = []
    if unbalanced:
        ids = ", ".join(s.payout.stripe_payout_id for s in unbalanced[:5])
        findings.append(Finding("payouts", False, f"{len(unbalanced)} payout(s) whose lines don't add up to the deposit "
                                f"({ids}); compare them with the Stripe dashboard on the staff Payouts page."))
    if unlisted:
        first = unlisted[0]
        findings.append(Finding("payouts", False, f"{len(unlisted)} paid payout(s) Stripe would not list (first: "
                                f"{first.stripe_payout_id}: {first.last_error}). Check the Stripe key, then run "
                                "`flask --app fundraiser fetch-payouts`."))
    return findings or [Finding("payouts", True, "Every payout listed so far adds up to its deposit.")]


def check_backups(app: Flask, settings: Settings) -> list[Finding]:
    """The nightly backups the app takes by itself (housekeeping.py): off, failing, or missed."""
    from .db import utcnow
    from .housekeeping import backup_status, backups_folder

    status = backup_status(settings, utcnow())
    if not status.enabled:
        return [Finding("backups", not settings.is_production, "BACKUP_KEEP is 0: the app takes no nightly backup; "
                        "take them another way (docs/deploy.md, Backups).")]
    if status.failing:
        return [Finding("backups", False, f"The last nightly backup failed ({status.error}); it is retried hourly.")]
    newest = status.newest
    if newest is None:
        return [Finding("backups", True, "None yet: the app takes the first once it serves a request, then one each night.")]
    if status.overdue:
        return [Finding("backups", False, f"No backup since {newest.taken_at:%Y-%m-%d %H:%M} UTC: nightly backups are "
                        "taken by the running app. Is it running, and can it write to " + str(backups_folder(settings)) + "?")]
    return [Finding("backups", True, f"{len(status.kept)} kept in {backups_folder(settings)}, the newest from "
                    f"{newest.taken_at:%Y-%m-%d %H:%M} UTC.")]


CHECKS: list[Check] = [
    check_database, check_secret_key, check_base_url, check_identity, check_stripe, check_stripe_events,
    check_payouts, check_smtp, check_backups,
]


def run_checks(app: Flask) -> list[Finding]:
    settings = app.extensions["fundraiser.settings"]
    findings: list[Finding] = []
    for check in CHECKS:
        findings.extend(check(app, settings))
    return findings
