"""`flask doctor`: checks the configuration a deployment depends on and says what to fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .config import Settings
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
        findings.append(Finding("database", True, "SQLite in production: fine for one server; back it up nightly (`flask backup`)."))
    return findings


def check_secret_key(app: Flask, settings: Settings) -> list[Finding]:
    if settings.secret_key_is_generated:
        ok = not settings.is_production
        return [Finding("secret key", ok, "Generated and kept in the instance folder" + (
            "." if ok else "; set SECRET_KEY explicitly so every worker shares it."))]
    if len(settings.secret_key) < 32:
        return [Finding("secret key", False, "SECRET_KEY is shorter than 32 characters: use a long random value.")]
    return [Finding("secret key", True, "Set and long enough.")]


def check_base_url(app: Flask, settings: Settings) -> list[Finding]:
    if settings.base_url.startswith("https://"):
        return [Finding("base url", True, settings.base_url)]
    return [Finding("base url", not settings.is_production,
                    f"BASE_URL is {settings.base_url}: receipts and payment redirects need the public https:// address.")]


CHECKS: list[Check] = [check_database, check_secret_key, check_base_url]


def run_checks(app: Flask) -> list[Finding]:
    settings = app.extensions["fundraiser.settings"]
    findings: list[Finding] = []
    for check in CHECKS:
        findings.extend(check(app, settings))
    return findings
