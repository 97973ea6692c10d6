"""Nightly backups the app takes by itself (fundraiser/housekeeping.py): when one is due, which are
kept, and a running server taking one with no cron job, terminal or outer application context."""

from __future__ import annotations

import sqlite3
import stat
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fundraiser.housekeeping import (
    FAILURE_FILE,
    backup_due,
    backup_status,
    housekeeper,
    kept_backups,
    prune,
)
from tests.factories import give, make_campaign
from tests.netutil import wait_for

NEW_YORK = ZoneInfo("America/New_York")


def at(text: str) -> datetime:
    """A New York wall-clock time as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


def test_a_backup_is_due_once_a_night_after_the_hour_and_at_once_on_a_new_site():
    assert backup_due(None, at("2026-12-06 14:00"), NEW_YORK, 2)
    # Taken at 2:05 this morning: not due again until 2:00 tomorrow.
    assert not backup_due(at("2026-12-06 02:05"), at("2026-12-06 23:59"), NEW_YORK, 2)
    assert not backup_due(at("2026-12-06 02:05"), at("2026-12-07 01:59"), NEW_YORK, 2)
    assert backup_due(at("2026-12-06 02:05"), at("2026-12-07 02:00"), NEW_YORK, 2)
    # The server was off at 2 a.m.: the night's backup is taken when it comes back.
    assert backup_due(at("2026-12-05 02:05"), at("2026-12-06 09:30"), NEW_YORK, 2)
    # Across the autumn clock change the slot stays at 2 a.m. local.
    assert not backup_due(at("2026-11-01 02:30"), at("2026-11-02 01:30"), NEW_YORK, 2)
    assert backup_due(at("2026-11-01 02:30"), at("2026-11-02 02:01"), NEW_YORK, 2)


def _backup_files(folder: Path, *stamps: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stamp in stamps:
        (folder / f"fundraiser-{stamp}.sqlite3").write_bytes(b"db")
        (folder / f"fundraiser-{stamp}.sqlite3.pictures.tar").write_bytes(b"pictures")


def test_pruning_keeps_the_newest_and_never_touches_other_files(tmp_path):
    _backup_files(tmp_path, "20261201-071500", "20261202-071500", "20261203-071500", "20261204-071500")
    (tmp_path / "before-the-import.sqlite3").write_bytes(b"an admin's own copy")
    removed = prune(tmp_path, 2)
    assert sorted(p.name for p in removed) == [
        "fundraiser-20261201-071500.sqlite3", "fundraiser-20261201-071500.sqlite3.pictures.tar",
        "fundraiser-20261202-071500.sqlite3", "fundraiser-20261202-071500.sqlite3.pictures.tar",
    ]
    assert [b.taken_at for b in kept_backups(tmp_path)] == [
        datetime(2026, 12, 4, 7, 15, tzinfo=UTC), datetime(2026, 12, 3, 7, 15, tzinfo=UTC)]
    assert (tmp_path / "fundraiser-20261204-071500.sqlite3.pictures.tar").exists()
    assert (tmp_path / "before-the-import.sqlite3").read_bytes() == b"an admin's own copy"


@pytest.fixture
def app(make_app):
    """Two nightly backups kept; the housekeeper runs (tests turn it off by default), looking often."""
    app = make_app(BACKUP_KEEP="2")
    app.config.update(HOUSEKEEPING=True, HOUSEKEEPING_POLL_SECONDS=0.1)
    return app


def test_a_running_server_backs_itself_up_and_settings_says_so(app, make_app, arrange, staff_http, dialect):
    """No cron, no terminal: a request starts the housekeeper, which takes the first backup (a
    new site has none) with the pictures beside it, keeps BACKUP_KEEP of them, and the admin sees
    it on Settings. A second process on the same instance folder leaves the work to the first."""
    folder = Path(app.instance_path) / "backups"
    _backup_files(folder, "20200101-071500", "20200102-071500")  # two old nights, one to be pruned
    (Path(app.instance_path) / "covers").mkdir(parents=True)
    (Path(app.instance_path) / "covers" / "cover-480.webp").write_bytes(b"cover")
    with arrange() as session:
        give(session, make_campaign(session), 2500)
        give(session, make_campaign(session), 1200)
    http = staff_http("admin")  # the sign-in's requests start the housekeeper
    wait_for(lambda: [b.taken_at.year > 2020 for b in kept_backups(folder)] == [True, False], 30,
             "the first backup, and the oldest pruned")
    other = make_app(BACKUP_KEEP="2")
    other.config.update(HOUSEKEEPING=True, HOUSEKEEPING_POLL_SECONDS=0.1)
    housekeeper(other).start()
    kept = kept_backups(folder)
    newest = kept[0]
    assert [b.path.name for b in kept[1:]] == ["fundraiser-20200102-071500.sqlite3"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and not (folder / ".in-progress").exists()
    with tarfile.open(folder / f"{newest.path.name}.pictures.tar") as tar:
        assert "covers/cover-480.webp" in tar.getnames()
    if dialect == "sqlite":
        with sqlite3.connect(newest.path) as copy:
            assert copy.execute("SELECT count(*) FROM gifts").fetchone() == (2,)
    else:
        assert newest.path.read_bytes()[:5] == b"PGDMP"
    page = http.get("/staff/settings").text
    assert "The newest is from" in page and "(2 kept)" in page and "failed" not in page
    time.sleep(0.5)  # several rounds of both housekeepers: neither takes another tonight
    assert kept_backups(folder) == kept


def test_a_failed_backup_is_shown_to_the_admin_and_retried_later(make_app):
    app = make_app()
    settings = app.extensions["fundraiser.settings"]
    folder = Path(app.instance_path) / "backups"
    folder.mkdir(parents=True)
    now = datetime.now(UTC)
    (folder / FAILURE_FILE).write_text(f'{{"failed_at": "{now.isoformat()}", "error": "pg_dump was not found"}}')
    status = backup_status(settings, now)
    assert status.failing and status.error == "pg_dump was not found"
    with app.app_context():
        from fundraiser.db import get_session
        from tests.functional.staff_helpers import sign_in_as

        page = sign_in_as(app, get_session(), "admin").get("/staff/settings").get_data(as_text=True)
    assert 'role="alert">The last nightly backup failed' in page
    assert "pg_dump was not found.\n    It is tried again every hour; tell whoever runs the server." in page
    housekeeper(app).run_due(now + timedelta(minutes=5))  # within the hour: not tried again yet
    assert kept_backups(folder) == []
    housekeeper(app).run_due(now + timedelta(hours=1, minutes=1))
    assert len(kept_backups(folder)) == 1
    assert not backup_status(settings, now + timedelta(hours=1, minutes=2)).failing
    assert not (folder / FAILURE_FILE).exists()


def test_a_backup_that_fails_halfway_leaves_nothing_that_looks_like_one(make_app, dialect, monkeypatch, tmp_path):
    """pg_dump missing (a real failure, not a stand-in): no empty file is left to pass for the
    night's backup, so the next try is not skipped, and the reason is kept for the admin."""
    if dialect != "postgresql":
        pytest.skip("SQLite's backup runs in-process and needs no tool")
    app = make_app()
    monkeypatch.setenv("PATH", str(tmp_path))
    now = datetime.now(UTC)
    housekeeper(app).run_due(now)
    folder = Path(app.instance_path) / "backups"
    assert kept_backups(folder) == [] and not any(folder.glob("fundraiser-*"))
    status = backup_status(app.extensions["fundraiser.settings"], now)
    assert status.failing and "pg_dump is not installed" in status.error
