"""flask backup / restore on the database in use (SQLite file or PostgreSQL)."""

from sqlalchemy import func, select

from fundraiser.models import Gift
from tests.factories import give, make_campaign


def test_backup_then_restore_brings_back_every_gift_with_matching_totals(runner, session, tmp_path):
    campaign = make_campaign(session)
    for cents in (1000, 2500, 4000):
        give(session, campaign, cents)
    session.commit()
    target = tmp_path / "nightly.backup"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert target.stat().st_size > 0

    give(session, campaign, 99_900)  # made after the backup: the restore must drop it
    session.commit()
    session.close()

    result = runner.invoke(args=["restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    assert "all campaign totals match the ledger" in result.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Gift)) == 3
    assert runner.invoke(args=["verify-totals"]).exit_code == 0


def test_backup_refuses_to_overwrite(runner, tmp_path):
    target = tmp_path / "exists.backup"
    target.write_text("keep me")
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code != 0 and "already exists" in result.output
    assert target.read_text() == "keep me"


def test_restore_refuses_a_file_that_is_not_a_backup(runner, session, tmp_path, dialect):
    campaign = make_campaign(session)
    give(session, campaign, 1000)
    session.commit()
    bogus = tmp_path / "holiday-photo.jpg"
    bogus.write_bytes(b"\xff\xd8\xff\xe0 not a database at all" * 100)
    result = runner.invoke(args=["restore", str(bogus), "--yes"])
    assert result.exit_code != 0
    assert ("not a SQLite database" in result.output) if dialect == "sqlite" else ("pg_restore failed" in result.output)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Gift)) == 1
