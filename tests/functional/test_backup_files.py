"""Backups are private files, and the PostgreSQL password never reaches a command line (issue 18)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fundraiser import backup
from tests.netutil import wait_for


def test_a_backup_is_readable_by_its_owner_only(app, tmp_path):
    engine = app.extensions["fundraiser.engine"]
    target = backup.backup(engine, tmp_path / "backups" / "copy.bin")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700


def _children_named(name: str) -> list[Path]:
    """This process's running children called `name`, as `ps` shows them to every user."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            comm, rest = (proc / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        if comm.split("(", 1)[1] == name and int(rest.split()[1]) == os.getpid():
            found.append(proc)
    return found


def _pg_dump_started() -> tuple[list[bytes], list[bytes]] | None:
    """pg_dump's command line and environment, once it runs (not while it is still being exec'd)."""
    for proc in _children_named("pg_dump"):
        try:
            argv, environment = (proc / "cmdline").read_bytes(), (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"pg_dump" in argv and environment:
            return argv.split(b"\0"), environment.split(b"\0")
    return None


def test_the_database_password_is_in_pg_dumps_environment_not_its_command_line(app, dialect, database_url, tmp_path):
    if dialect != "postgresql":
        pytest.skip("a SQLite backup copies the file in-process: no password, no pg_dump")
    # The test server trusts local connections, so a password in the URL is passed along but unused.
    engine = create_engine(make_url(database_url).set(password="s3cret-pass"))
    holder = app.extensions["fundraiser.engine"].connect()
    holder.execute(text("LOCK TABLE gifts IN ACCESS EXCLUSIVE MODE"))  # pg_dump waits here, in view
    result = {}
    worker = threading.Thread(target=lambda: result.update(path=backup.backup(engine, tmp_path / "b" / "x.pgdump")))
    worker.start()
    try:
        argv, environment = wait_for(_pg_dump_started, 20, "pg_dump to start")
    finally:
        holder.rollback()
        holder.close()
        worker.join(timeout=60)
        engine.dispose()
    assert any(b"127.0.0.1" in part for part in argv) and not any(b"s3cret-pass" in part for part in argv), argv
    assert b"PGPASSWORD=s3cret-pass" in environment
    assert result["path"].stat().st_size > 0
