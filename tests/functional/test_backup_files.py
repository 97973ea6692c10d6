"""Backups are private files, and the PostgreSQL password never reaches a command line (issue 18)."""

from __future__ import annotations

import stat
import subprocess

from fundraiser import backup


def test_a_backup_is_readable_by_its_owner_only(app, tmp_path):
    engine = app.extensions["fundraiser.engine"]
    target = backup.backup(engine, tmp_path / "backups" / "copy.bin")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700


def test_the_database_password_goes_in_the_environment_not_argv(monkeypatch, tmp_path):
    from sqlalchemy import create_engine

    engine = create_engine("postgresql+psycopg://fundraiser:s3cret-pass@db.example.org:5432/fundraiser")
    seen = {}

    def fake_run(command, **kwargs):  # the boundary: pg_dump itself is not the code under test
        seen["argv"], seen["env"] = command, kwargs["env"]
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(backup.shutil, "which", lambda tool: "/usr/bin/" + tool)
    monkeypatch.setattr(backup.subprocess, "run", fake_run)
    backup.backup(engine, tmp_path / "b" / "x.pgdump")
    assert not any("s3cret-pass" in part for part in seen["argv"])
    assert seen["env"]["PGPASSWORD"] == "s3cret-pass"
    assert any("fundraiser@db.example.org:5432/fundraiser" in part for part in seen["argv"])
