"""flask doctor."""

from sqlalchemy import text


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
