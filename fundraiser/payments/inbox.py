"""Where verified Stripe deliveries are stored before the 2xx: one shared commit per burst.

Each delivery waits until the transaction holding its row has committed, so a 2xx still means
"stored". But the request threads of a process that arrive together share one transaction
(group commit): a burst of deliveries costs one write lock and one commit per group instead of
one each, which is what decides ingestion speed on SQLite (a single writer) and on PostgreSQL
(a WAL flush per commit).

The inbox also lets the ledger's applier wait while deliveries flood in (`wait_for_quiet`), so
that Stripe's answers come first and the ledger catches up when the flood has passed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from flask import Flask, current_app
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError

from ..models import StripeEvent

log = logging.getLogger(__name__)

# A worker receiving FLOOD_RATE deliveries within a second, or with FLOOD_WAITING of them waiting to
# be stored at once, is flooded (a busy Giving Tuesday brings a few gifts a second, a few events
# each; a flood is Stripe catching up after an outage). The second test matters on SQLite, where
# an applier holding the write lock holds deliveries back, so they cannot arrive fast. While
# flooded, the applier waits for the flood to pass. It does not take a short gap between
# deliveries as the end: applying a gift takes the GIL from the worker's request threads, which
# makes the next gap, and so on (measured: 19 gifts let in by such gaps in the middle of a
# 3-second flood, each holding SQLite's write lock for a median 11-17 ms, instead of the one
# every FLOOD_PAUSE_SECONDS intended).
FLOOD_RATE = 50
FLOOD_WAITING = 3
# The longest a background worker (the ledger's applier, the mail sender) waits at a time for a
# flood to pass before it does one more piece of work anyway (`give_way`).
FLOOD_PAUSE_SECONDS = 2.0

# PostgreSQL: batches in flight at once per process (db.make_statement_engine's pool holds as many).
WRITERS = 2

# What webhooks.verified puts in a row, in the order of the INSERT.
ROW_COLUMNS = ("id", "type", "object_id", "stripe_created_at", "livemode", "payload", "outcome", "received_at",
               "attempts", "next_attempt_at", "api_version", "account")


class _Slot:
    """One delivery waiting in the inbox. Its thread sleeps on `_wake` until the row is written
    or until it is handed the batch to write: woken once, and by nobody else's delivery."""

    __slots__ = ("_wake", "batch", "error", "row", "stored")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.stored = False
        self.error: BaseException | None = None
        self.batch: list[_Slot] | None = None  # set when this delivery's thread is to write them
        self._wake = threading.Lock()
        self._wake.acquire()

    def sleep(self) -> None:
        self._wake.acquire()

    def wake(self) -> None:
        self._wake.release()


class Inbox:
    """Stores verified events (rows for `stripe_events`) for every request thread of one process."""

    def __init__(self, engine: Engine) -> None:
        """`engine`: where to write; db.make_statement_engine's, in the app."""
        self._engine = engine
        self._dialect = engine.dialect
        self._sqlite = engine.dialect.name == "sqlite"
        table = StripeEvent.__table__
        # Each column's bind processor, as SQLAlchemy would apply it (UTC datetimes, booleans on
        # SQLite); the payload is already JSON text (webhooks.verified).
        self._processors = [
            (name, None if name == "payload" else table.c[name].type.dialect_impl(engine.dialect).bind_processor(engine.dialect))
            for name in ROW_COLUMNS
        ]
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._row_placeholders = f"({', '.join([mark] * len(ROW_COLUMNS))})"
        self._sql_head = f"INSERT INTO {table.name} ({', '.join(ROW_COLUMNS)}) VALUES "
        self._sql_tail = " ON CONFLICT (id) DO NOTHING RETURNING id"
        self._one_row_sql = self._sql_head + self._row_placeholders + self._sql_tail
        self._lock = threading.Lock()
        self._quiet = threading.Condition(self._lock)  # the applier waits here (wait_for_quiet)
        self._pending: list[_Slot] = []  # arrived while a batch was being written
        # Batches written at once: one on SQLite (one writer at a time anyway); on PostgreSQL two,
        # so the next batch goes in while the last one waits for its WAL flush.
        self._most_writers = 1 if self._sqlite else WRITERS
        self._writers = 0
        self._in_flight = 0
        self._arrivals: deque[float] = deque(maxlen=FLOOD_RATE)

    def store(self, row: dict[str, Any]) -> bool:
        """Insert the event unless already stored; True if this delivery stored it. Returns only
        after the commit; raises SQLAlchemyError if the row could not be stored (answer 5xx)."""
        slot = _Slot(row)
        with self._lock:
            self._in_flight += 1
            self._arrivals.append(time.monotonic())
            if self._writers == self._most_writers:
                self._pending.append(slot)
            else:
                # A writer is free: this thread writes its own row now.
                self._writers += 1
                slot.batch = [slot]
        try:
            if slot.batch is None:
                slot.sleep()  # until written, or handed the next batch to write
            if slot.batch is not None:
                self._write_and_hand_over(slot.batch)
        finally:
            with self._lock:
                self._in_flight -= 1
                # Wake the applier only when the flood may have passed: waking it for every
                # answer cost each delivery a thread switch and a fight for the GIL.
                if self._in_flight == FLOOD_WAITING - 1:
                    self._quiet.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.stored

    def flooded(self) -> bool:
        """Did FLOOD_RATE deliveries arrive at this process within the last second, or are
        FLOOD_WAITING of them waiting to be stored?"""
        with self._lock:
            return self._flooded(time.monotonic())

    def wait_for_quiet(self, longest: float) -> bool:
        """While flooded, wait until the flood has passed, for at most `longest` seconds (the
        applier's pause); False if it was still flooded then."""
        deadline = time.monotonic() + longest
        with self._lock:
            while True:
                now = time.monotonic()
                if not self._flooded(now):
                    return True
                if now >= deadline:
                    return False
                # Woken when fewer deliveries wait, or when the oldest counted arrival leaves the second.
                wake = self._arrivals[0] + 1.0 if self._flooded_by_rate(now) else deadline
                self._quiet.wait(min(deadline, wake) - now)

    def give_way(self) -> bool:
        """What background work does before each step: `wait_for_quiet` for at most
        FLOOD_PAUSE_SECONDS, so it waits out a flood yet never stops for good."""
        return self.wait_for_quiet(FLOOD_PAUSE_SECONDS)

    def _flooded(self, now: float) -> bool:
        return self._in_flight >= FLOOD_WAITING or self._flooded_by_rate(now)

    def _flooded_by_rate(self, now: float) -> bool:
        return len(self._arrivals) == FLOOD_RATE and now - self._arrivals[0] < 1.0

    def _write_and_hand_over(self, batch: list[_Slot]) -> None:
        """Write the batch, hand what arrived meanwhile to one of its threads, wake the batch."""
        try:
            self._write(batch)
        except BaseException as exc:  # not a database error: every delivery of the batch fails with it
            for waiting in batch:
                waiting.error = waiting.error or exc
            raise
        finally:
            with self._lock:
                following, self._pending = self._pending, []
                if not following:
                    self._writers -= 1
            if following:
                following[0].batch = following
                following[0].wake()
            for waiting in batch:
                if waiting.batch is not batch:  # the writer itself is awake
                    waiting.wake()

    def _write(self, batch: list[_Slot]) -> None:
        try:
            self._insert_rows(batch)
        except SQLAlchemyError as exc:
            if len(batch) == 1 or not _row_error(exc):
                for slot in batch:
                    slot.error = exc
                return
            # One bad row must not fail the others: store each on its own.
            log.warning("Storing %d Stripe events together failed; storing them one by one", len(batch), exc_info=True)
            for slot in batch:
                try:
                    self._insert_rows([slot])
                except SQLAlchemyError as single:
                    slot.error = single

    def _insert_rows(self, batch: list[_Slot]) -> None:
        # One multi-row INSERT: the ids it returns are the rows it stored; a repeat (stored
        # before, or twice in this batch) returns nothing, and its later copies are repeats.
        # Rows go in id order, so two workers' inserts of the same events cannot deadlock.
        rows = sorted((slot.row for slot in batch), key=lambda row: row["id"])
        try:
            stored = self._insert_once(rows)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # The connection had died (server restarted, idle timeout): once more on a new one.
            stored = self._insert_once(rows)
        for slot in batch:
            slot.stored = slot.row["id"] in stored
            stored.discard(slot.row["id"])

    def _insert_once(self, rows: list[dict[str, Any]]) -> set[str]:
        """The INSERT (and on SQLite its BEGIN IMMEDIATE and COMMIT) on the pool's driver connection.

        Through SQLAlchemy's execution (cache key, bind processors, the payload serialised again,
        events) a stored delivery cost 0.55-0.65 ms of CPU in-process against 0.2 ms without
        storing; this way 0.35-0.38 ms (SQLite). The SQL and each column's bind processor are
        prepared once, and the payload is the body Stripe signed, stored as it came. Driver errors
        are raised as SQLAlchemy's, a dropped connection invalidated, as an execute would."""
        sql = self._sql(len(rows))
        params = [value for row in rows for value in self._values(row)]
        fairy = self._engine.raw_connection()
        cursor = None
        try:
            cursor = fairy.cursor()
            if self._sqlite:
                fairy.dbapi_connection.take_writer_lock()
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                    cursor.execute(sql, params)
                    stored = {row[0] for row in cursor.fetchall()}
                    fairy.commit()  # lets go of the writer lock (sqlite_lock.py)
                except BaseException:
                    fairy.rollback()
                    raise
            else:  # an autocommit connection: the statement is its own transaction
                cursor.execute(sql, params)
                stored = {row[0] for row in cursor.fetchall()}
            cursor.close()
            return stored
        except self._dialect.loaded_dbapi.Error as exc:
            gone = self._dialect.is_disconnect(exc, fairy.dbapi_connection, cursor)
            if gone:
                fairy.invalidate(exc)
            raise DBAPIError.instance(sql, params, exc, self._dialect.loaded_dbapi.Error,
                                      connection_invalidated=gone, dialect=self._dialect) from exc
        finally:
            fairy.close()

    def _sql(self, count: int) -> str:
        if count == 1:
            return self._one_row_sql
        return f"{self._sql_head}{', '.join([self._row_placeholders] * count)}{self._sql_tail}"

    def _values(self, row: dict[str, Any]) -> list[Any]:
        return [process(row[name]) if process else row[name] for name, process in self._processors]


def _row_error(exc: SQLAlchemyError) -> bool:
    """Did the database refuse a row (rather than fail as a whole: locked, gone, timed out)?"""
    return isinstance(exc, (IntegrityError, DataError)) or not isinstance(exc, DBAPIError)


def inbox() -> Inbox:
    """This app's inbox (created on first use)."""
    app: Flask = current_app._get_current_object()
    if "fundraiser.stripe_inbox" not in app.extensions:
        app.extensions.setdefault("fundraiser.stripe_inbox", Inbox(app.extensions["fundraiser.statement_engine"]))
    return app.extensions["fundraiser.stripe_inbox"]
