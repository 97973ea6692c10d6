"""A fair writer lock for SQLite shared by several processes (gunicorn workers, cron, the CLI).

SQLite lets one writer in at a time, and a writer that finds the database locked sleeps in its
busy handler: 1, 2, 5, 10 … up to 100 ms between tries. Two busy workers then starve each other:
the one that just committed takes the lock again at once, while the other sleeps longer and
longer, and its requests wait with it (measured: two workers took webhook deliveries at anything
from 480 to 1,400/s with answers up to 2.1 s, three at 130/s; docs/benchmarks.md).

So a write transaction (BEGIN IMMEDIATE) first takes the writer lock and lets go after its
COMMIT or ROLLBACK. The lock has two levels:
- within a process, a `threading.Lock` per database: waiting threads sleep until it is handed on,
  without polling (a thread that wakes to poll takes the GIL from the one holding the lock);
- across processes, an exclusive `flock` on a file beside the database (`<database>-writer`, like
  SQLite's own `-wal` and `-shm`), taken by the one thread of each process that holds the first
  level. It retries every millisecond at most, so it gets in as soon as the holder is done. The
  kernel drops the lock of a process that dies.
Where `fcntl` is missing (Windows), connections are plain and SQLite's own handler decides.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

# How often a waiting writer looks again: from 0.1 ms, doubling, to at most this.
LONGEST_NAP = 0.001


class WriterLockTimeout(sqlite3.OperationalError):
    """The writer lock stayed taken for the whole busy timeout: SQLite's "database is locked"."""


_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(path: str) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(os.path.realpath(path), threading.Lock())


def _forget_process_locks() -> None:
    # A lock held by another thread at fork time would stay held for ever in the child.
    global _process_locks_guard
    _process_locks_guard = threading.Lock()
    _process_locks.clear()


os.register_at_fork(after_in_child=_forget_process_locks)


class LockingConnection(sqlite3.Connection):
    """A sqlite3 connection (the `factory` of sqlite3.connect) that can take the writer lock."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        path = lock_path(database, uri=kwargs.get("uri", False)) if fcntl else None
        # Read-only is enough for flock, so a process of another user that may read the database
        # can take part too.
        self._lock_file = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644) if path else None
        self._in_process = _process_lock(path) if path else None
        self._holding = False
        self._timeout = kwargs.get("timeout", 5.0)

    def take_writer_lock(self) -> None:
        """Wait for the writer lock before BEGIN IMMEDIATE: at most the connection's timeout, after
        which it raises "database is locked" as SQLite would. (BEGIN IMMEDIATE itself then waits
        only for a writer that does not take this lock, such as the sqlite3 shell.)"""
        if self._lock_file is None or self._holding:
            return
        deadline = time.monotonic() + self._timeout
        if not self._in_process.acquire(timeout=self._timeout):
            raise WriterLockTimeout("database is locked")
        try:
            nap = 0.0001
            while True:
                try:
                    fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    self._holding = True
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise WriterLockTimeout("database is locked") from None
                    time.sleep(nap)
                    nap = min(nap * 2, LONGEST_NAP)
        except BaseException:
            self._in_process.release()  # any failure (a timeout, ENOLCK on a network disk) lets go
            raise

    def release_writer_lock(self) -> None:
        if self._holding:
            self._holding = False
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._in_process.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_writer_lock()
            self._close_lock_file()

    def __del__(self) -> None:  # a connection dropped without close() must not leak the lock or file
        if getattr(self, "_holding", False):
            self.release_writer_lock()
        self._close_lock_file()

    def _close_lock_file(self) -> None:
        lock_file, self._lock_file = getattr(self, "_lock_file", None), None
        if lock_file is not None:
            os.close(lock_file)


def lock_path(database: Any, *, uri: bool = False) -> str | None:
    """`<database file>-writer`, or None for a database only this connection sees (in memory)."""
    name = str(database)
    if uri:
        parts = urlsplit(name)
        options = parse_qs(parts.query)
        if parts.scheme != "file" or options.get("mode") == ["memory"] or options.get("vfs") == ["memdb"]:
            return None
        name = unquote(parts.path)
    if name in ("", ":memory:"):
        return None
    return f"{name}-writer"
