"""Where verified Stripe deliveries are stored before the 2xx: one shared commit per burst.

Each delivery waits until the transaction holding its row has committed, so a 2xx still means
"stored". But the request threads of a process that arrive together share one transaction
(group commit): a burst of deliveries costs one write lock and one commit per group instead of
one each, which is what decides ingestion speed on SQLite (a single writer) and on PostgreSQL
(a WAL flush per commit).

The inbox also lets the ledger's applier wait for a quiet moment during a flood of deliveries
(`wait_for_quiet`), so that Stripe's answers come first and the ledger catches up in the pauses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError

from ..db import dialect_insert
from ..models import StripeEvent

log = logging.getLogger(__name__)

# A worker receiving FLOOD_RATE deliveries within a second, or with FLOOD_WAITING of them waiting to
# be stored at once, is flooded (a busy Giving Tuesday brings a few gifts a second, a few events
# each; a flood is Stripe catching up after an outage). The second test matters on SQLite, where
# an applier holding the write lock holds deliveries back, so they cannot arrive fast. While
# flooded, the applier waits for a quiet moment: no delivery for QUIET_SECONDS and none waiting.
FLOOD_RATE = 50
FLOOD_WAITING = 3
QUIET_SECONDS = 0.01


@dataclass(eq=False)
class _Slot:
    row: dict[str, Any]
    done: bool = False
    stored: bool = False
    error: BaseException | None = None


class Inbox:
    """Stores verified events (rows for `stripe_events`) for every request thread of one process."""

    def __init__(self, engine: Engine) -> None:
        """`engine`: where to write; db.make_statement_engine's, in the app."""
        self._engine = engine
        table = StripeEvent.__table__
        self._insert = dialect_insert(engine.dialect.name, table).on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)
        self._cond = threading.Condition()
        self._pending: list[_Slot] = []
        self._writing = False
        self._in_flight = 0
        self._last_seen = 0.0  # time.monotonic() of the latest delivery's arrival or answer
        self._arrivals: deque[float] = deque(maxlen=FLOOD_RATE)

    def store(self, row: dict[str, Any]) -> bool:
        """Insert the event unless already stored; True if this delivery stored it. Returns only
        after the commit; raises SQLAlchemyError if the row could not be stored (answer 5xx)."""
        slot = _Slot(row)
        with self._cond:
            self._in_flight += 1
            self._last_seen = time.monotonic()
            self._arrivals.append(self._last_seen)
            self._pending.append(slot)
            while self._writing and not slot.done:
                self._cond.wait()
            batch = None
            if not slot.done:
                # Nobody is writing: this thread writes everything waiting, its own row included.
                self._writing = True
                batch, self._pending = self._pending, []
        try:
            if batch is not None:
                self._write_and_hand_over(batch)
        finally:
            with self._cond:
                self._in_flight -= 1
                self._last_seen = time.monotonic()
                self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.stored

    def flooded(self) -> bool:
        """Did FLOOD_RATE deliveries arrive at this process within the last second, or are
        FLOOD_WAITING of them waiting to be stored?"""
        with self._cond:
            return self._flooded(time.monotonic())

    def wait_for_quiet(self, longest: float) -> bool:
        """While flooded, wait until no delivery has arrived or waited for QUIET_SECONDS, for at
        most `longest` seconds (the applier's pause); False if it was still busy then."""
        deadline = time.monotonic() + longest
        with self._cond:
            while True:
                now = time.monotonic()
                quiet_from = self._last_seen + QUIET_SECONDS
                if not self._flooded(now) or (not self._in_flight and now >= quiet_from):
                    return True
                if now >= deadline:
                    return False
                # Woken early when a delivery is answered; otherwise when quiet might have begun.
                self._cond.wait(min(deadline, quiet_from if not self._in_flight else deadline) - now)

    def _flooded(self, now: float) -> bool:
        return self._in_flight >= FLOOD_WAITING or (
            len(self._arrivals) == FLOOD_RATE and now - self._arrivals[0] < 1.0
        )

    def _write_and_hand_over(self, batch: list[_Slot]) -> None:
        """Write the batch, then wake its deliveries and let the next waiting thread write."""
        try:
            self._write(batch)
        except BaseException as exc:  # not a database error: every delivery of the batch fails with it
            for waiting in batch:
                waiting.error = waiting.error or exc
            raise
        finally:
            with self._cond:
                for waiting in batch:
                    waiting.done = True
                self._writing = False
                self._cond.notify_all()

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
        with self._engine.connect().execution_options(sqlite_immediate=True) as connection:
            stored = set(connection.execute(self._insert, rows).scalars())
            connection.commit()
        return stored


def _row_error(exc: SQLAlchemyError) -> bool:
    """Did the database refuse a row (rather than fail as a whole: locked, gone, timed out)?"""
    return isinstance(exc, (IntegrityError, DataError)) or not isinstance(exc, DBAPIError)


def inbox() -> Inbox:
    """This app's inbox (created on first use)."""
    app: Flask = current_app._get_current_object()
    if "fundraiser.stripe_inbox" not in app.extensions:
        app.extensions.setdefault("fundraiser.stripe_inbox", Inbox(app.extensions["fundraiser.statement_engine"]))
    return app.extensions["fundraiser.stripe_inbox"]
