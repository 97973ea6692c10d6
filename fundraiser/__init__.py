"""Fundraiser: a self-hosted fundraising and donation campaign tracker."""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from dotenv import load_dotenv
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import (
    cli,
    db,
    errors,
    extensions,
    housekeeping,
    live,
    mail,
    schema,
    security,
    templating,
    text,
)
from .auth.cookies import SessionCookies
from .config import load_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the app: settings, database, blueprints, templates, errors, CLI; nothing else."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("FUNDRAISER_INSTANCE_PATH") or str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    load_dotenv(Path.cwd() / ".env", override=False)
    environ = {**os.environ, **(config or {})}
    if environ.get("FUNDRAISER_INSTANCE_PATH"):
        app.instance_path = environ["FUNDRAISER_INSTANCE_PATH"]
    settings = load_settings(environ, Path(app.instance_path))
    register_settings(app, settings)
    register_proxy(app, settings.proxy_count)
    db.init_app(app, settings.database_url)
    live.init_app(app, settings.live_poll_seconds)
    mail.init_app(app)
    housekeeping.init_app(app)
    register_extensions(app)
    register_blueprints(app)
    templating.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    text.init_app(app)
    cli.init_app(app)
    schema.prepare_embedded_database(app)
    return app


def ready_to_serve(app: Flask) -> Flask:
    """Keep what start-up built (the app, its models, SQLAlchemy's and Babel's tables: about
    180,000 objects) out of the garbage collector's full passes for the life of the process.
    Each full pass walked all of it, and a request that allocates a lot set one off every time:
    the printed board report at 1,000,000 gifts spent 97 ms of each request collecting, 21 ms
    frozen (docs/benchmarks.md). Before a fork it also keeps those pages shared with the workers."""
    gc.collect()
    gc.freeze()
    return app


def register_settings(app: Flask, settings) -> None:
    """Expose the validated settings to Flask and to the rest of the app."""
    app.extensions["fundraiser.settings"] = settings
    app.session_interface = SessionCookies()
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        WTF_CSRF_TIME_LIMIT=None,  # tokens live as long as the session, so long forms don't fail
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        TESTING=settings.env == "testing",
    )


def register_proxy(app: Flask, hops: int) -> None:
    """Trust X-Forwarded-For/-Proto/-Host from exactly `hops` reverse proxies, and no one else."""
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)


def register_extensions(app: Flask) -> None:
    """Initialise the unbound extensions."""
    extensions.csrf.init_app(app)


def register_blueprints(app: Flask) -> None:
    """One blueprint per audience."""
    from .api.views import bp as api_bp
    from .auth.views import bp as auth_bp
    from .board.views import bp as board_bp
    from .payments.views import bp as stripe_bp
    from .public.embed import bp as embed_bp
    from .public.views import bp as public_bp
    from .staff.views import bp as staff_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(embed_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(stripe_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(board_bp)
