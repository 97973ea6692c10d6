"""Database plumbing: SQLite pragmas, UTC round trips."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from fundraiser.db import SQLITE_BUSY_TIMEOUT_MS, get_engine
from tests.factories import make_campaign


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(app, dialect):
    if dialect != "sqlite":
        pytest.skip("SQLite pragmas only apply to SQLite")
    with app.app_context(), get_engine().connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS


def test_datetimes_come_back_aware_in_utc(session):
    eastern = timezone(timedelta(hours=-5))
    campaign = make_campaign(session, ends_at=datetime(2026, 12, 1, 23, 59, tzinfo=eastern))
    session.commit()
    session.expire_all()
    assert campaign.ends_at == datetime(2026, 12, 2, 4, 59, tzinfo=UTC)
    assert campaign.ends_at.tzinfo is not None


def test_naive_datetimes_are_refused_at_the_column(session):
    from sqlalchemy.exc import StatementError

    with pytest.raises(StatementError, match="naive datetime"):
        make_campaign(session, ends_at=datetime(2026, 12, 1))
