"""Backups: SQLite through its online backup API, PostgreSQL through pg_dump / pg_restore, and the
uploaded pictures (covers, story pictures, the logo) in a tar file beside the database's copy: a
restore that brought back the campaigns without their pictures would leave pages with holes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from .images import COVER_FOLDER, STORY_FOLDER
from .organisation import LOGO_FOLDER

PICTURE_FOLDERS = (COVER_FOLDER, STORY_FOLDER, LOGO_FOLDER)


class BackupError(RuntimeError):
    """A backup or restore that could not be done; the message says what to check."""


def default_backup_path(engine: Engine, folder: Path, now: datetime) -> Path:
    suffix = ".sqlite3" if engine.dialect.name == "sqlite" else ".pgdump"
    return folder / f"fundraiser-{now:%Y%m%d-%H%M%S}{suffix}"


def _create_private(target: Path) -> None:
    """An empty file only the app's user can read, in a folder only it can open: a backup holds
    every donor's name, address and gifts."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target.parent.chmod(0o700)
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise BackupError(f"{target} already exists; choose a new file name.") from None


def pictures_path(database_backup: Path) -> Path:
    """The pictures' tar file that goes with a database backup: its name plus .pictures.tar."""
    return database_backup.with_name(database_backup.name + ".pictures.tar")


def backup_pictures(instance: Path, database_backup: Path) -> Path | None:
    """Copy the uploaded pictures into a tar file beside the database's backup; None when no
    picture was ever uploaded."""
    folders = [name for name in PICTURE_FOLDERS if (instance / name).is_dir()]
    if not folders:
        return None
    target = pictures_path(database_backup)
    _create_private(target)
    try:
        with tarfile.open(target, "w") as tar:
            for name in folders:
                tar.add(instance / name, arcname=name)
    except OSError as exc:
        raise BackupError(f"The database was backed up, but not the pictures ({exc}).") from None
    return target


def restore_pictures(instance: Path, database_backup: Path) -> Path | None:
    """Put back the pictures saved with a database backup (files of the same name are replaced;
    pictures uploaded since are kept); None when the backup has no pictures beside it."""
    source = pictures_path(database_backup)
    if not source.is_file():
        return None
    try:
        with tarfile.open(source) as tar:
            # Folders and plain files under the picture folders only: no link, device or path
            # out of the instance folder (Debian 12's Python 3.11.2 has no tarfile "data" filter).
            members = [m for m in tar.getmembers() if (m.isfile() or m.isdir()) and _picture_member(m.name)]
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # the stricter check where there is one
            tar.extractall(instance, members=members, **safe)
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"The database was restored, but not the pictures in {source}: {exc}") from None
    return source


def backup_with_pictures(engine: Engine, instance: Path, target: Path) -> tuple[Path, Path | None]:
    """The database's backup at `target` and the pictures' file beside it (None without pictures),
    as both `flask backup` and the Settings page's download take them."""
    return backup(engine, target), backup_pictures(instance, target)


def backup_archive(engine: Engine, instance: Path, out: IO[bytes], now: datetime) -> str:
    """Write one tar file to `out` holding a backup of the database and its pictures' file, as
    `flask backup` leaves them (so `flask restore` takes the database's file as it is unpacked);
    returns the name to download it under. For an admin who keeps backups from the browser."""
    with tempfile.TemporaryDirectory() as folder:
        database, pictures = backup_with_pictures(engine, instance, default_backup_path(engine, Path(folder), now))
        with tarfile.open(fileobj=out, mode="w") as tar:
            for path in (database, pictures):
                if path is not None:
                    tar.add(path, arcname=path.name)
    return f"{database.stem}.tar"


def _picture_member(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and parts[0] in PICTURE_FOLDERS and ".." not in parts and not Path(name).is_absolute()


def backup(engine: Engine, target: Path) -> Path:
    """Write a consistent copy of the database to `target` while the app keeps running. A copy
    that fails is removed, never left looking like a backup."""
    _create_private(target)
    try:
        _copy_database(engine, target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _copy_database(engine: Engine, target: Path) -> None:
    if engine.dialect.name == "sqlite":
        # The online backup API copies a consistent snapshot even while others write.
        raw = engine.raw_connection()
        try:
            with sqlite3.connect(target) as dest:
                raw.driver_connection.backup(dest)
            dest.close()
        except sqlite3.Error as exc:
            raise BackupError(f"SQLite could not copy the database: {exc}") from None
        finally:
            raw.close()
    elif engine.dialect.name == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", _libpq_url(engine)], "pg_dump", engine)
    else:
        raise BackupError(f"Backups are not supported for {engine.dialect.name}.")


def restore(engine: Engine, source: Path) -> None:
    """Replace the database's contents with a backup made by `backup()`."""
    if not source.is_file():
        raise BackupError(f"{source} is not a file.")
    if engine.dialect.name == "sqlite":
        _check_sqlite_backup(source)
        raw = engine.raw_connection()
        try:
            with sqlite3.connect(source) as src:
                src.backup(raw.driver_connection)
            src.close()
        finally:
            raw.close()
        return
    if engine.dialect.name == "postgresql":
        engine.dispose()  # our own idle connections would otherwise hold locks on the tables
        _run(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
             f"--dbname={_libpq_url(engine)}", str(source)],
            "pg_restore", engine,
        )
        return
    raise BackupError(f"Restore is not supported for {engine.dialect.name}.")


def _check_sqlite_backup(source: Path) -> None:
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as conn:
            if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{source} is damaged (SQLite integrity check failed).")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} is not a SQLite database ({exc}).") from None
    if not {"alembic_version", "gifts", "ledger_entries"} <= tables:
        raise BackupError(f"{source} is not a Fundraiser backup (its tables are missing).")


def _libpq_url(engine: Engine) -> str:
    """The engine's URL in the form pg_dump understands (no +psycopg driver part), without the
    password: a command line is visible to every user of the machine (ps); see _run."""
    url = engine.url
    return URL.create("postgresql", url.username, None, url.host, url.port, url.database, url.query).render_as_string()


def _run(command: list[str], tool: str, engine: Engine) -> None:
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed; install the PostgreSQL client tools (e.g. apt-get install postgresql-client).")
    env = os.environ.copy()
    if engine.url.password:
        env["PGPASSWORD"] = str(engine.url.password)  # the child's environment, not its argv
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise BackupError(f"{tool} failed: {result.stderr.strip()[:500]}")
