"""flask seed-demo, verify-totals and db commands."""

from sqlalchemy import func, select

from fundraiser.models import Campaign, CampaignTotals, CommunityEvent, Gift


def test_seed_demo_loads_the_organisation_once(runner, session):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    counts = (
        session.scalar(select(func.count()).select_from(Campaign)),
        session.scalar(select(func.count()).select_from(Gift)),
        session.scalar(select(func.count()).select_from(CommunityEvent)),
    )
    second = runner.invoke(args=["seed-demo"])
    assert "0 campaign(s) and 0 sample gift(s) added" in second.output
    session.expire_all()
    assert counts == (
        session.scalar(select(func.count()).select_from(Campaign)),
        session.scalar(select(func.count()).select_from(Gift)),
        session.scalar(select(func.count()).select_from(CommunityEvent)),
    )
    assert counts[0] == 4 and counts[1] > 300 and counts[2] == 1
    slugs = set(session.scalars(select(Campaign.slug)))
    assert {"five-year-anniversary", "restrained-and-secluded-documentary", "giving-tuesday",
            "support-our-mission"} == slugs
    assert session.scalar(select(func.count()).select_from(Gift).where(Gift.is_sample.is_(False))) == 0
    assert runner.invoke(args=["verify-totals"]).exit_code == 0


def test_verify_totals_exits_1_and_names_the_difference(runner, session):
    runner.invoke(args=["seed-demo"])
    totals = session.scalar(
        select(CampaignTotals).join(Campaign).where(Campaign.slug == "giving-tuesday")
    )
    totals.raised_cents += 100
    session.commit()
    result = runner.invoke(args=["verify-totals"])
    assert result.exit_code == 1
    assert "giving-tuesday: raised_cents" in result.output
    fixed = runner.invoke(args=["verify-totals", "--fix"])
    assert fixed.exit_code == 0
    assert runner.invoke(args=["verify-totals"]).exit_code == 0


def test_db_current_reports_no_pending_migrations(runner):
    result = runner.invoke(args=["db", "current"])
    assert result.exit_code == 0
    assert "No pending migrations." in result.output


def test_upgrading_a_database_with_gifts_builds_the_board_rollups(make_app, tmp_path):
    """A database from before the rollups existed: `db upgrade` fills them from the ledger."""
    from sqlalchemy import delete

    from fundraiser import rollups
    from fundraiser.db import new_session
    from fundraiser.models import (
        DailyRollup,
        DonorBitmap,
        DonorMonthRollup,
        EventRollup,
        GiftSizeRollup,
        MonthlyRollup,
    )
    from tests.factories import give, make_campaign

    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'old.sqlite3'}")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    with app.app_context():
        s = new_session(write=True)
        give(s, make_campaign(s), 2500)
        for model in (DailyRollup, MonthlyRollup, GiftSizeRollup, DonorMonthRollup, DonorBitmap, EventRollup):
            s.execute(delete(model))  # as a database upgraded from before the rollups would be
        s.commit()
        s.close()
    result = runner.invoke(args=["db", "upgrade"])
    assert "Built the board's rollups from the existing ledger." in result.output
    with app.app_context():
        s = new_session()
        assert rollups.verify_rollups(s) == []
        assert s.scalar(select(func.sum(MonthlyRollup.raised_cents))) == 2500
        s.close()
    assert "Built" not in runner.invoke(args=["db", "upgrade"]).output  # only once


def test_recent_migrations_go_down_and_up_again_with_gifts_in_the_database(runner, session):
    """The recent migrations' downgrades work on a database holding gifts, donors and events (on
    SQLite a batch downgrade copies tables other rows point at), and upgrading again keeps the ledger."""
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    session.close()
    down = runner.invoke(args=["db", "downgrade", "0011_receipt_wording"])
    assert down.exit_code == 0, down.output
    up = runner.invoke(args=["db", "upgrade"])
    assert up.exit_code == 0, up.output
    assert runner.invoke(args=["verify-totals"]).exit_code == 0


def test_commands_on_a_database_not_yet_set_up_say_to_run_db_upgrade(tmp_path):
    """As an operator meets it: a new database (not the embedded default, which migrates itself),
    a command run before `db upgrade` is refused with what to run, and works after it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("FUNDRAISER_", "DATABASE_URL"))},
           "DATABASE_URL": f"sqlite:///{tmp_path / 'new.sqlite3'}", "FUNDRAISER_INSTANCE_PATH": str(tmp_path / "instance"),
           "SECRET_KEY": "a-test-secret-key-that-is-long-enough-for-it", "FUNDRAISER_USER_PASSWORD": "a very good password"}
    flask = [str(Path(sys.executable).parent / "flask"), "--app", "fundraiser"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*flask, *args], check=False, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    refused = run("create-user", "admin@example.org", "--role", "admin")
    assert refused.returncode == 1
    assert "flask --app fundraiser db upgrade" in refused.stderr and "Traceback" not in refused.stderr
    assert run("db", "upgrade").returncode == 0
    created = run("create-user", "admin@example.org", "--role", "admin")
    assert created.returncode == 0, created.stderr
    assert "Created admin account for admin@example.org." in created.stdout
    # A database that cannot be reached at all: the same kind of answer, not a traceback.
    env["DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    unreachable = run("verify-totals")
    assert unreachable.returncode == 1
    assert "Can't reach the database" in unreachable.stderr and "Traceback" not in unreachable.stderr
