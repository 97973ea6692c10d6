"""The SQLite writer lock: write transactions take turns across threads and processes, and the
lock is always let go (commit, rollback, close, a process that dies)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError

from fundraiser import db
from fundraiser.sqlite_lock import LockingConnection, WriterLockTimeout, lock_path


def connect(path, timeout: float = 10.0) -> LockingConnection:
    connection = sqlite3.connect(path, timeout=timeout, factory=LockingConnection, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    return connection


def write_rows(url: str, worker: int, rows: int) -> None:
    """In a child process: the app's engine, but SQLite's own waiting switched off (busy_timeout
    0), so any two write transactions that overlapped would fail at once with "database is locked"."""
    engine = db.make_engine(url)

    @event.listens_for(engine, "connect")
    def _no_busy_wait(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    for n in range(rows):
        with engine.connect().execution_options(sqlite_immediate=True) as conn:
            conn.execute(text("INSERT INTO t (worker, n) VALUES (:w, :n)"), {"w": worker, "n": n})
            conn.commit()
    engine.dispose()


def test_write_transactions_of_several_processes_take_turns(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (worker INTEGER, n INTEGER)"))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=write_rows, args=(url, w, 200)) for w in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM t")) == 600
    engine.dispose()


def test_threads_of_one_process_take_turns(tmp_path):
    path = tmp_path / "threads.sqlite3"
    setup = connect(path)
    setup.execute("CREATE TABLE t (n INTEGER)")
    errors: list[BaseException] = []

    def work() -> None:
        connection = connect(path)
        connection.execute("PRAGMA busy_timeout=0")
        try:
            for n in range(100):
                connection.take_writer_lock()
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("INSERT INTO t VALUES (?)", (n,))
                connection.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert setup.execute("SELECT count(*) FROM t").fetchone()[0] == 400
    setup.close()


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_the_lock_is_let_go_when_the_transaction_ends(tmp_path, end):
    path = tmp_path / "release.sqlite3"
    first, second = connect(path), connect(path, timeout=0.5)
    first.take_writer_lock()
    first.execute("BEGIN IMMEDIATE")
    getattr(first, end)()
    started = time.monotonic()
    second.take_writer_lock()  # at once, not after the timeout
    assert time.monotonic() - started < 0.4
    second.release_writer_lock()
    second.close()
    if end != "close":
        first.close()


def test_a_writer_that_waits_too_long_gets_database_is_locked_and_the_holder_is_unharmed(tmp_path):
    path = tmp_path / "timeout.sqlite3"
    holder, waiter = connect(path), connect(path, timeout=0.2)
    holder.execute("CREATE TABLE t (n INTEGER)")
    holder.take_writer_lock()
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    started = time.monotonic()
    with pytest.raises(WriterLockTimeout, match="database is locked"):
        waiter.take_writer_lock()
    assert 0.15 < time.monotonic() - started < 2
    holder.commit()
    waiter.take_writer_lock()  # free again, in this process too
    waiter.release_writer_lock()
    assert holder.execute("SELECT n FROM t").fetchall() == [(1,)]
    holder.close()
    waiter.close()


def test_through_sqlalchemy_a_lock_timeout_is_an_operational_error(tmp_path):
    """The app answers database errors (SQLAlchemyError) with a 5xx: the lock's timeout must be one."""
    url = f"sqlite:///{tmp_path / 'engine.sqlite3'}"
    engine = create_engine(url, connect_args={"timeout": 0.2, "factory": LockingConnection})
    db._configure_sqlite(engine)
    with engine.connect().execution_options(sqlite_immediate=True) as holder:
        holder.execute(text("CREATE TABLE t (n INTEGER)"))
        waiter = engine.connect().execution_options(sqlite_immediate=True)
        with pytest.raises(OperationalError, match="database is locked"):
            waiter.execute(text("INSERT INTO t VALUES (2)"))
        waiter.close()
        holder.execute(text("INSERT INTO t VALUES (1)"))
        holder.commit()
    with engine.connect().execution_options(sqlite_immediate=True) as conn:
        assert conn.execute(text("SELECT n FROM t")).all() == [(1,)]
    engine.dispose()


def hold_the_lock_and_die(path: str, ready) -> None:
    connection = connect(path)
    connection.take_writer_lock()
    connection.execute("BEGIN IMMEDIATE")
    ready.set()
    time.sleep(60)


def test_the_lock_of_a_process_that_dies_is_let_go(tmp_path):
    path = str(tmp_path / "killed.sqlite3")
    connect(path).close()  # the database and its lock file exist
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=hold_the_lock_and_die, args=(path, ready))
    holder.start()
    assert ready.wait(30)
    waiter = connect(path, timeout=0.2)
    with pytest.raises(WriterLockTimeout):
        waiter.take_writer_lock()
    holder.kill()
    holder.join(10)
    waiter.take_writer_lock()
    waiter.execute("BEGIN IMMEDIATE")  # SQLite's own lock went with the process too
    waiter.rollback()
    waiter.close()


def test_the_lock_file_sits_beside_the_database_and_memory_databases_have_none(tmp_path):
    assert lock_path(tmp_path / "a.sqlite3") == f"{tmp_path / 'a.sqlite3'}-writer"
    assert lock_path(f"file:{tmp_path / 'b.sqlite3'}?mode=rwc", uri=True) == f"{tmp_path / 'b.sqlite3'}-writer"
    assert lock_path("file://localhost/srv/my%20data/c.sqlite3#x", uri=True) == "/srv/my data/c.sqlite3-writer"
    assert lock_path(":memory:") is None
    assert lock_path("") is None
    assert lock_path("file:shared?mode=memory&cache=shared", uri=True) is None
    assert lock_path("file:/shared?vfs=memdb", uri=True) is None
    memory = sqlite3.connect(":memory:", factory=LockingConnection)
    memory.take_writer_lock()  # nothing to take: only this connection sees the database
    memory.close()


def test_a_failure_while_taking_the_lock_lets_go_of_it(tmp_path, monkeypatch):
    """Not only a timeout: an error from flock itself (ENOLCK on a network disk) must not leave
    the process's writers locked out for good."""
    import errno

    from fundraiser import sqlite_lock

    path = tmp_path / "enolck.sqlite3"
    first, second = connect(path), connect(path, timeout=0.5)
    real_flock = sqlite_lock.fcntl.flock
    calls = []

    def failing_once(fd, operation):
        if not calls:
            calls.append(operation)
            raise OSError(errno.ENOLCK, "No locks available")
        return real_flock(fd, operation)

    monkeypatch.setattr(sqlite_lock.fcntl, "flock", failing_once)
    with pytest.raises(OSError, match="No locks available"):
        first.take_writer_lock()
    second.take_writer_lock()  # at once: the failed attempt let go of the process's lock
    second.release_writer_lock()
    first.close()
    second.close()


def test_a_connection_dropped_while_holding_the_lock_lets_go_of_it(tmp_path):
    import gc

    path = tmp_path / "dropped.sqlite3"
    dropped = connect(path)
    dropped.take_writer_lock()
    del dropped
    gc.collect()
    waiter = connect(path, timeout=0.5)
    waiter.take_writer_lock()
    waiter.release_writer_lock()
    waiter.close()


def test_every_transaction_of_a_write_session_takes_the_lock(app):
    """Not only the first: a session that commits and writes again (receipts, the applier) must
    queue for the lock again rather than fight in SQLite's busy handler."""
    engine = app.extensions["fundraiser.engine"]
    if engine.dialect.name != "sqlite":
        pytest.skip("the writer lock is SQLite's")
    other = connect(engine.url.database, timeout=0.1)
    with app.app_context():
        session = db.new_session(write=True)
        try:
            for _ in range(2):
                session.execute(text("SELECT 1"))  # a transaction begins
                with pytest.raises(WriterLockTimeout):
                    other.take_writer_lock()
                session.commit()
                other.take_writer_lock()  # free between the session's transactions
                other.release_writer_lock()
        finally:
            session.close()
            other.close()
