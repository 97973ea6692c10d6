"""What the app does by itself on a schedule, so that nothing routine needs cron or a terminal:
a backup every night (the newest BACKUP_KEEP kept), and every few minutes the catch-up that
applies Stripe events and looks up fees that the round right after a webhook could not
(database restarting, Stripe unreachable, a fee not settled yet).

One process per server does it: each web process's housekeeper thread tries once a minute to
lock `instance/housekeeping.lock` and, once it has it, keeps it while the process lives; when
that process ends, the kernel frees the lock for the next one. Backups go to the server's own
instance folder, so each server behind a load balancer keeps its own (they share one database).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from flask import Flask

from .backup import BackupError, backup_with_pictures, default_backup_path, pictures_path
from .config import Settings
from .db import get_engine, utcnow

log = logging.getLogger(__name__)

POLL_SECONDS = 60.0
CATCH_UP_SECONDS = 300.0
FAILURE_FILE = "last-automatic-backup-failed.json"
RETRY_FAILED_BACKUP = timedelta(hours=1)
# The names default_backup_path gives (UTC time): `flask backup` and the nightly ones alike.
BACKUP_NAME = re.compile(r"^fundraiser-(\d{8}-\d{6})\.(sqlite3|pgdump)$")


@dataclass(frozen=True)
class Backup:
    taken_at: datetime
    path: Path


@dataclass(frozen=True)
class BackupStatus:
    """What the Settings page and `doctor` say about the nightly backups."""

    enabled: bool
    keep: int
    hour: int
    kept: list[Backup]
    failed_at: datetime | None
    error: str | None
    overdue: bool

    @property
    def newest(self) -> Backup | None:
        return self.kept[0] if self.kept else None

    @property
    def failing(self) -> bool:
        """The last try failed and none has worked since."""
        return self.failed_at is not None and (self.newest is None or self.failed_at > self.newest.taken_at)

    @property
    def hour_label(self) -> str:
        return f"{self.hour % 12 or 12} {'a.m.' if self.hour < 12 else 'p.m.'}"


def backups_folder(settings: Settings) -> Path:
    return settings.instance_path / "backups"


def kept_backups(folder: Path) -> list[Backup]:
    """The database backups in `folder` named as the app names them, newest first."""
    found = []
    for path in folder.glob("fundraiser-*") if folder.is_dir() else []:
        match = BACKUP_NAME.match(path.name)
        if match and path.is_file():
            taken = datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
            found.append(Backup(taken, path))
    return sorted(found, key=lambda b: b.taken_at, reverse=True)


def last_slot(now: datetime, tz: ZoneInfo, hour: int) -> datetime:
    """The latest time at `hour` o'clock local that is not after `now`."""
    local = now.astimezone(tz)
    slot = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if slot > local:
        slot -= timedelta(days=1)  # wall-clock arithmetic: the same hour the day before, across DST
    return slot


def backup_due(newest: datetime | None, now: datetime, tz: ZoneInfo, hour: int) -> bool:
    """Due when no backup was taken since the night's hour last came round (so a server that was
    off at 2 a.m. takes it when it comes back, and a new site takes its first at once)."""
    return newest is None or newest < last_slot(now, tz, hour)


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups, each with its pictures' file; returns what went."""
    removed = []
    for old in kept_backups(folder)[keep:]:
        for path in (old.path, pictures_path(old.path)):
            if path.exists():
                path.unlink()
                removed.append(path)
    return removed


def take_nightly_backup(app: Flask, now: datetime) -> None:
    """The night's backup and pruning; a failure is kept for the Settings page (and logged)
    instead of raised, and the next round tries again."""
    settings: Settings = app.extensions["fundraiser.settings"]
    folder = backups_folder(settings)
    failure = folder / FAILURE_FILE
    # Written in a folder of its own and moved beside the others once whole, so a backup being
    # taken (or cut off by a restart) is never counted as the night's.
    work = folder / ".in-progress"
    try:
        shutil.rmtree(work, ignore_errors=True)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # private like `flask backup`'s folder: only the app's user may list it
        with app.app_context():
            engine = get_engine()
            written = backup_with_pictures(engine, settings.instance_path, default_backup_path(engine, work, now))
        for path in written:
            if path is not None:
                os.replace(path, folder / path.name)
        work.rmdir()
        prune(folder, settings.backup_keep)
    except (BackupError, OSError) as exc:
        log.error("The nightly backup failed: %s", exc)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        failure.write_text(json.dumps({"failed_at": now.isoformat(), "error": str(exc)}))
        return
    failure.unlink(missing_ok=True)


def backup_status(settings: Settings, now: datetime) -> BackupStatus:
    folder = backups_folder(settings)
    kept = kept_backups(folder)
    failed_at = error = None
    try:
        failure = json.loads((folder / FAILURE_FILE).read_text())
        failed_at, error = datetime.fromisoformat(failure["failed_at"]), str(failure["error"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    enabled = settings.backup_keep > 0
    # Overdue: a whole night missed (the housekeeper had an hour's grace to take it).
    overdue = enabled and backup_due(kept[0].taken_at if kept else None, now - timedelta(hours=1), settings.tz, settings.backup_hour)
    return BackupStatus(enabled, settings.backup_keep, settings.backup_hour, kept, failed_at, error, overdue)


def catch_up(settings: Settings) -> None:
    """What cron used to run every five minutes: apply due Stripe events (and ask Stripe what
    they did not say), then look up missing fees. Mail needs nothing: its sender polls."""
    from .payments.fees import fill_fees
    from .payments.webhooks import apply_and_follow_up

    if not settings.stripe_enabled:
        return
    apply_and_follow_up(catch_up=True)
    fill_fees()


class Housekeeper:
    """One housekeeping thread per process, started by its first request (like the mail sender);
    only the process holding the instance folder's lock does the work. Off when
    app.config["HOUSEKEEPING"] is false, and under TESTING unless a test sets it true."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock_file: IO[bytes] | None = None
        self._caught_up_at = float("-inf")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._pid == os.getpid() and self._thread.is_alive()

    def start(self) -> None:
        if self.running or self._stop.is_set() or not self._app.config.get("HOUSEKEEPING", not self._app.testing):
            return
        with self._lock:
            if self.running or self._stop.is_set():
                return
            if self._pid != os.getpid():
                self._lock_file = None  # a forked worker does not hold its parent's lock
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, daemon=True, name="fundraiser-housekeeping")
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:  # a start() under way has finished: its thread is started, or none is
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _run(self) -> None:
        poll_seconds = float(self._app.config.get("HOUSEKEEPING_POLL_SECONDS", POLL_SECONDS))
        while not self._stop.is_set():
            try:
                if self._holds_lock():
                    self.run_due(utcnow())
            except Exception:  # the database or the disk may be away; the next round tries again
                log.exception("Housekeeping failed; it tries again in %s s", poll_seconds)
            self._stop.wait(poll_seconds)

    def _holds_lock(self) -> bool:
        import fcntl

        if self._lock_file is not None:
            return True
        settings: Settings = self._app.extensions["fundraiser.settings"]
        settings.instance_path.mkdir(parents=True, exist_ok=True)
        handle = open(settings.instance_path / "housekeeping.lock", "ab")  # noqa: SIM115 (held while the process lives)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        return True

    def run_due(self, now: datetime) -> None:
        """One round: the night's backup if it is due, the catch-up if five minutes have passed."""
        settings: Settings = self._app.extensions["fundraiser.settings"]
        status = backup_status(settings, now)
        retry = status.failed_at is None or now - status.failed_at >= RETRY_FAILED_BACKUP
        newest = status.newest.taken_at if status.newest else None
        if status.enabled and retry and backup_due(newest, now, settings.tz, settings.backup_hour):
            take_nightly_backup(self._app, now)
        if time.monotonic() - self._caught_up_at >= CATCH_UP_SECONDS:
            self._caught_up_at = time.monotonic()
            with self._app.app_context():
                catch_up(settings)


def housekeeper(app: Flask) -> Housekeeper:
    return app.extensions["fundraiser.housekeeping"]


def init_app(app: Flask) -> None:
    app.extensions["fundraiser.housekeeping"] = Housekeeper(app)
    app.before_request(lambda: housekeeper(app).start())
