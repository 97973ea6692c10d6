"""Fixtures for online giving: an app with Stripe settings, and a way to deliver signed events."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import text

from fundraiser.payments.webhooks import process_pending
from tests.netutil import free_port
from tests.payments.stripe_shapes import body, sign
from tests.payments.stripe_standin import StripeStandIn

WEBHOOK_SECRET = "whsec_test_secret_for_fundraiser"
STRIPE_SETTINGS = {
    "STRIPE_SECRET_KEY": "sk_test_fundraiser",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_fundraiser",
    "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    # Nothing listens here: a test that reaches Stripe's API by mistake fails fast.
    "STRIPE_API_BASE": "http://127.0.0.1:9",
}


def make_stripe_app(make_app, **extra: str):
    """An app with Stripe configured (its API a closed port, unless `extra` names another, such as
    the stand-in's) whose after-commit work (receipts, fees) the tests run themselves, deterministically."""
    app = make_app(**{**STRIPE_SETTINGS, **extra})
    app.config["BACKGROUND_TASKS"] = False
    return app


@pytest.fixture
def standin():
    """A stand-in of Stripe's API for what localstripe does not serve (stripe_standin.py)."""
    server = StripeStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def app(make_app):
    return make_stripe_app(make_app)


@pytest.fixture
def deliver(app, client):
    """POST a signed event to the webhook, then apply what was stored (as the background worker
    does right after the answer); returns the response."""

    def _deliver(evt: dict, *, secret: str = WEBHOOK_SECRET, signature: str | None = None):
        payload = body(evt)
        response = client.post(
            "/stripe/webhook", data=payload, content_type="application/json",
            headers={"Stripe-Signature": signature if signature is not None else sign(payload, secret)},
        )
        with app.app_context():
            process_pending()
        return response

    return _deliver


@pytest.fixture
def smtp_port():
    return free_port()


@pytest.fixture
def smtp_app(make_app, smtp_port):
    """An app that sends through a real SMTP server the test starts on `smtp_port` (aiosmtpd)."""
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_SECURITY="none",
                   MAIL_FROM="Receipts <receipts@example.org>")
    app.config["BACKGROUND_TASKS"] = False
    return app


@contextmanager
def stripe_events_unavailable(app):
    """The inbox's table is not there for a moment (a migration half done, a restore gone wrong):
    storing fails as a whole, as when the database is away, on either database."""
    engine = app.extensions["fundraiser.engine"]
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE stripe_events RENAME TO stripe_events_away"))
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE stripe_events_away RENAME TO stripe_events"))
