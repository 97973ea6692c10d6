"""The webhook inbox: deliveries stored together share a commit, yet each answer is its own."""

from __future__ import annotations

import time
from threading import Barrier, Event, Thread

import pytest
from sqlalchemy import func, select

from fundraiser.db import new_session
from fundraiser.models import StripeEvent
from fundraiser.payments import inbox as inbox_module
from fundraiser.payments import webhooks
from fundraiser.payments.inbox import Inbox, _Slot
from tests.payments import stripe_shapes as s
from tests.payments.conftest import WEBHOOK_SECRET, stripe_events_unavailable


def verified_row(evt: dict) -> dict:
    payload = s.body(evt)
    return webhooks.verified(payload, s.sign(payload, WEBHOOK_SECRET), WEBHOOK_SECRET)


def stored_ids(app) -> list[str]:
    with app.app_context():
        db = new_session()
        try:
            return sorted(db.scalars(select(StripeEvent.id)))
        finally:
            db.close()


def test_deliveries_arriving_together_are_each_stored_once_and_answered_truthfully(app):
    events = [s.event("payment_intent.succeeded", s.payment_intent(1000 + n)) for n in range(12)]
    deliveries = events + events[:4]  # four delivered twice, at the same moment
    inbox = Inbox(app.extensions["fundraiser.statement_engine"])
    barrier = Barrier(len(deliveries))
    answers: dict[int, bool] = {}

    def deliver(k: int) -> None:
        row = verified_row(deliveries[k])
        barrier.wait()
        answers[k] = inbox.store(row)

    threads = [Thread(target=deliver, args=(k,)) for k in range(len(deliveries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stored_ids(app) == sorted(e["id"] for e in events)
    for evt in events:
        said_stored = [answers[k] for k, d in enumerate(deliveries) if d is evt]
        assert sorted(said_stored) == ([False, True] if len(said_stored) == 2 else [True])


def test_a_batch_holding_an_event_twice_stores_it_once_and_says_so_once(app):
    first, second = (verified_row(s.event("payment_intent.succeeded", s.payment_intent(3000 + n))) for n in range(2))
    inbox = Inbox(app.extensions["fundraiser.statement_engine"])
    inbox.store(second)
    slots = [_Slot(first), _Slot(second), _Slot(dict(first))]
    inbox._write(slots)
    assert [slot.stored for slot in slots] == [True, False, False]
    assert [slot.error for slot in slots] == [None, None, None]
    assert stored_ids(app) == sorted([first["id"], second["id"]])


def test_a_row_the_database_refuses_fails_alone_when_stored_with_others(app):
    good = [verified_row(s.event("payment_intent.succeeded", s.payment_intent(2000 + n))) for n in range(3)]
    bad = {**verified_row(s.event("payment_intent.succeeded", s.payment_intent(500))), "type": None}  # NOT NULL
    slots = [_Slot(good[0]), _Slot(bad), _Slot(good[1]), _Slot(good[2])]
    Inbox(app.extensions["fundraiser.statement_engine"])._write(slots)
    assert [slot.stored for slot in slots] == [True, False, True, True]
    assert [slot.error is not None for slot in slots] == [False, True, False, False]
    assert stored_ids(app) == sorted(row["id"] for row in good)


def test_a_database_error_reaches_every_delivery_of_the_batch_and_stores_nothing(app):
    from sqlalchemy.exc import DBAPIError

    slots = [_Slot(verified_row(s.event("payment_intent.succeeded", s.payment_intent(700 + n)))) for n in range(3)]
    with stripe_events_unavailable(app):
        Inbox(app.extensions["fundraiser.statement_engine"])._write(slots)
    assert all(isinstance(slot.error, DBAPIError) and "stripe_events" in str(slot.error) for slot in slots)
    assert stored_ids(app) == []


class HeldInbox(Inbox):
    """An inbox whose database writes wait while the test holds them: a delivery stays in flight."""

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.release = Event()
        self.release.set()

    def _insert_rows(self, batch) -> None:
        self.release.wait(10)
        super()._insert_rows(batch)


def flooded_inbox_with_a_delivery_held(app, monkeypatch, *, flood: bool = True) -> tuple[HeldInbox, Thread]:
    """An inbox that received FLOOD_RATE (here 5) deliveries just now, one of them still waiting."""
    monkeypatch.setattr(inbox_module, "FLOOD_RATE", 5)
    inbox = HeldInbox(app.extensions["fundraiser.statement_engine"])
    for n in range(4 if flood else 0):
        inbox.store(verified_row(s.event("payment_intent.succeeded", s.payment_intent(4000 + n))))
    inbox.release.clear()
    row = verified_row(s.event("payment_intent.succeeded", s.payment_intent(4200)))
    delivery = Thread(target=inbox.store, args=(row,))
    delivery.start()
    time.sleep(0.05)  # the held delivery is in flight
    return inbox, delivery


def test_during_a_flood_the_applier_waits_for_a_gap_between_deliveries(app, monkeypatch):
    inbox, delivery = flooded_inbox_with_a_delivery_held(app, monkeypatch)
    assert inbox.flooded()
    started = time.monotonic()
    assert not inbox.wait_for_quiet(0.2)  # gave up after its limit
    assert 0.15 < time.monotonic() - started < 2
    inbox.release.set()
    assert inbox.wait_for_quiet(5)  # the delivery was answered: quiet soon after
    delivery.join()
    assert len(stored_ids(app)) == 5


def test_a_short_gap_in_a_flood_does_not_end_it(app, monkeypatch):
    """Applying a gift takes the GIL from the request threads, which makes the next gap: a gap is
    not the end of a flood; fewer than FLOOD_RATE deliveries in the last second is."""
    monkeypatch.setattr(inbox_module, "FLOOD_RATE", 5)
    inbox = Inbox(app.extensions["fundraiser.statement_engine"])
    for n in range(5):
        inbox.store(verified_row(s.event("payment_intent.succeeded", s.payment_intent(4500 + n))))
    started = time.monotonic()
    assert not inbox.wait_for_quiet(0.2)  # none in flight for 200 ms, still a flood
    assert inbox.wait_for_quiet(5)  # the five arrivals leave the last second
    assert 0.5 < time.monotonic() - started < 2
    assert not inbox.flooded()


def test_on_a_busy_day_the_applier_does_not_wait(app, monkeypatch):
    inbox, delivery = flooded_inbox_with_a_delivery_held(app, monkeypatch, flood=False)
    assert not inbox.flooded()
    started = time.monotonic()
    assert inbox.wait_for_quiet(5)  # a delivery in flight, but no flood: at once
    assert time.monotonic() - started < 0.1
    inbox.release.set()
    delivery.join()


def test_deliveries_piling_up_behind_the_applier_count_as_a_flood(app):
    """On SQLite an applier holding the write lock keeps deliveries from arriving fast: the ones
    waiting are the sign."""
    inbox = HeldInbox(app.extensions["fundraiser.statement_engine"])
    inbox.release.clear()
    deliveries = [
        Thread(target=inbox.store, args=(verified_row(s.event("payment_intent.succeeded", s.payment_intent(5000 + n))),))
        for n in range(inbox_module.FLOOD_WAITING)
    ]
    deliveries[0].start()
    time.sleep(0.05)
    assert not inbox.flooded()  # one waiting: a normal moment
    for delivery in deliveries[1:]:
        delivery.start()
    time.sleep(0.05)
    assert inbox.flooded()
    inbox.release.set()
    for delivery in deliveries:
        delivery.join()
    assert not inbox.flooded() and len(stored_ids(app)) == inbox_module.FLOOD_WAITING


def test_the_applier_pauses_during_a_flood_but_never_for_longer_than_the_limit(app, monkeypatch, session):

    monkeypatch.setattr(inbox_module, "FLOOD_PAUSE_SECONDS", 0.2)
    inbox, delivery = flooded_inbox_with_a_delivery_held(app, monkeypatch)  # an endless flood
    started = time.monotonic()
    with app.app_context():
        report = webhooks.process_pending(yield_to=inbox)
    elapsed = time.monotonic() - started
    inbox.release.set()
    delivery.join()
    # A pause that ran out (0.2 s), then the four in one batch (a flood's batches are small).
    assert webhooks.FLOODED_BATCH_SIZE >= 4
    assert report.processed == 4 and 0.18 < elapsed < 5
    assert session.scalar(select(func.count()).select_from(StripeEvent).where(StripeEvent.processed_at.is_(None))) == 1


def test_a_delivery_on_a_connection_the_server_dropped_is_stored_on_a_new_one(app, dialect):
    if dialect != "postgresql":
        pytest.skip("SQLite has no server connection to lose")
    from sqlalchemy import text

    engine = app.extensions["fundraiser.statement_engine"]
    inbox = Inbox(engine)
    assert inbox.store(verified_row(s.event("payment_intent.succeeded", s.payment_intent(1100))))
    with engine.connect() as connection:  # the pooled connection the next delivery will get
        pid = connection.scalar(text("SELECT pg_backend_pid()"))
    with app.extensions["fundraiser.engine"].connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    assert inbox.store(verified_row(s.event("payment_intent.succeeded", s.payment_intent(1200))))
    assert len(stored_ids(app)) == 2
