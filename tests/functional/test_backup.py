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


def test_the_pictures_are_backed_up_beside_the_database_and_restored_with_it(runner, session, app, tmp_path):
    """Covers, story pictures and the logo live in files, not in the database: a restore without
    them would bring back campaign pages with holes where the pictures were."""
    import stat
    import tarfile
    from pathlib import Path

    instance = Path(app.instance_path)
    pictures = {"covers/7a1b-480.webp": b"cover", "story/0123456789abcdef0123.webp": b"story",
                "branding/logo-1.png": b"logo"}
    for name, data in pictures.items():
        (instance / name).parent.mkdir(parents=True, exist_ok=True)
        (instance / name).write_bytes(data)
    give(session, make_campaign(session), 1000)
    session.commit()
    target = tmp_path / "backups" / "nightly.backup"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    saved = target.with_name("nightly.backup.pictures.tar")
    assert f"the pictures to {saved}" in result.output
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    with tarfile.open(saved) as tar:
        assert pictures.keys() <= set(tar.getnames())

    for name in pictures:
        (instance / name).unlink()  # the disk that held them is gone
    (instance / "story" / "fedcba9876543210fedc.webp").write_bytes(b"uploaded since")
    session.close()
    result = runner.invoke(args=["restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    assert f"and the pictures in {saved}" in result.output
    assert {name: (instance / name).read_bytes() for name in pictures} == pictures
    assert (instance / "story" / "fedcba9876543210fedc.webp").read_bytes() == b"uploaded since"


def test_a_pictures_file_cannot_write_outside_the_picture_folders(runner, session, app, tmp_path):
    import io
    import tarfile
    from pathlib import Path

    give(session, make_campaign(session), 1000)
    session.commit()
    target = tmp_path / "nightly.backup"
    assert runner.invoke(args=["backup", str(target)]).exit_code == 0
    hostile = target.with_name("nightly.backup.pictures.tar")
    hostile.unlink(missing_ok=True)
    with tarfile.open(hostile, "w") as tar:
        for name in ("../escaped.txt", "secret_key", "covers/../../escaped2.txt", "covers/ok.webp"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
        link = tarfile.TarInfo("covers/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    instance = Path(app.instance_path)
    key_before = (instance / "secret_key").read_bytes() if (instance / "secret_key").exists() else None
    session.close()
    result = runner.invoke(args=["restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    assert (instance / "covers" / "ok.webp").read_bytes() == b"hi"
    assert not (instance / "covers" / "link").exists() and not (instance.parent / "escaped.txt").exists()
    assert not (instance.parent / "escaped2.txt").exists()
    assert ((instance / "secret_key").read_bytes() if (instance / "secret_key").exists() else None) == key_before
