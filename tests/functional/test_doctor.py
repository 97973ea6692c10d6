"""flask doctor."""

from sqlalchemy import text

from tests.netutil import free_port, start_smtp


def test_doctor_passes_on_a_healthy_test_setup(runner):
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 0, result.output
    assert "ok   database: Reachable" in result.output
    assert "ok   migrations: Schema is up to date." in result.output


def test_doctor_names_an_unreachable_database(make_app):
    app = make_app(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    result = app.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "FIX  database: Can't reach the database" in result.output and "DATABASE_URL" in result.output


def test_doctor_reports_pending_migrations(make_app, tmp_path):
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with app.extensions["fundraiser.engine"].begin() as conn:
        conn.execute(text("SELECT 1"))
    result = app.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "run `flask --app fundraiser db upgrade`" in result.output


def test_doctor_names_missing_and_mismatched_stripe_settings(make_app):
    off = make_app().test_cli_runner().invoke(args=["doctor"])
    assert "ok   stripe: No Stripe keys: online giving is off." in off.output  # fine outside production

    mixed = make_app(STRIPE_SECRET_KEY="sk_live_abc", STRIPE_PUBLISHABLE_KEY="pk_test_abc")
    result = mixed.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "FIX  stripe: STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY are of different modes" in result.output
    assert "FIX  stripe webhook: STRIPE_WEBHOOK_SECRET is not set" in result.output
    assert "/stripe/webhook" in result.output

    good = make_app(STRIPE_SECRET_KEY="sk_test_abc", STRIPE_PUBLISHABLE_KEY="pk_test_abc",
                    STRIPE_WEBHOOK_SECRET="whsec_abc")
    output = good.test_cli_runner().invoke(args=["doctor"]).output
    assert "ok   stripe: Keys set (test mode)." in output and "ok   stripe webhook: Signing secret set." in output


def test_doctor_talks_to_the_smtp_server(make_app):
    port = free_port()
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_SECURITY="none", MAIL_FROM="r@example.org")
    down = app.test_cli_runner().invoke(args=["doctor"])
    assert down.exit_code == 1
    assert f"FIX  smtp: Can't talk to 127.0.0.1:{port}" in down.output

    controller, _inbox = start_smtp(port)
    try:
        up = app.test_cli_runner().invoke(args=["doctor"])
    finally:
        controller.stop()
    assert f"ok   smtp: 127.0.0.1:{port} answers (none)." in up.output
    assert up.exit_code == 0, up.output


def test_doctor_reports_a_refund_waiting_days_for_its_payment(app, runner):
    from datetime import timedelta

    from fundraiser.db import new_session, utcnow
    from fundraiser.models import StripeEvent

    with app.app_context():
        s = new_session(write=True)
        s.add(StripeEvent(id="evt_old_refund", type="charge.refunded", object_id="ch_1", payload={},
                          stripe_created_at=utcnow(), received_at=utcnow() - timedelta(days=2),
                          processed_at=utcnow() - timedelta(days=2), waiting_for="pi_never_seen"))
        s.commit()
        s.close()
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "FIX  stripe events: 1 Stripe event(s) have waited over a day" in result.output
    assert "pi_never_seen" in result.output


def test_doctor_names_a_guessable_secret_key(make_app):
    result = make_app(SECRET_KEY="ab" * 20).test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "FIX  secret key: SECRET_KEY is too easy to guess (it uses only 2 different characters)" in result.output


def test_doctor_says_whether_the_nightly_backups_are_being_taken(make_app):
    import json
    from datetime import timedelta
    from pathlib import Path

    from fundraiser.db import utcnow

    app = make_app()
    runner = app.test_cli_runner()
    assert "ok   backups: None yet: the app takes the first once it serves a request" in runner.invoke(args=["doctor"]).output

    folder = Path(app.instance_path) / "backups"
    folder.mkdir(parents=True)
    three_days_ago = utcnow() - timedelta(days=3)
    (folder / f"fundraiser-{three_days_ago:%Y%m%d-%H%M%S}.sqlite3").write_bytes(b"db")
    stale = runner.invoke(args=["doctor"])
    assert stale.exit_code == 1 and f"FIX  backups: No backup since {three_days_ago:%Y-%m-%d %H:%M} UTC" in stale.output

    (folder / "last-automatic-backup-failed.json").write_text(json.dumps(
        {"failed_at": utcnow().isoformat(), "error": "No space left on device"}))
    failing = runner.invoke(args=["doctor"])
    assert "FIX  backups: The last nightly backup failed (No space left on device); it is retried hourly." in failing.output

    (folder / f"fundraiser-{utcnow() + timedelta(seconds=5):%Y%m%d-%H%M%S}.pgdump").write_bytes(b"db")
    fine = runner.invoke(args=["doctor"])
    assert "ok   backups: 2 kept in" in fine.output
