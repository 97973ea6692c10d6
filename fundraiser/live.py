"""Live progress: every process keeps each public campaign's progress in memory and hears of changes.

Changes reach a process two ways:
- a commit in this process that touched a campaign or its totals refreshes at once (read your writes);
- a poller thread reads every campaign's totals version and edit time every LIVE_POLL_SECONDS (one
  small query), so a gift recorded by another worker, host or the CLI shows within that interval.
Stream viewers wait on a condition variable and cost no database work; the progress API answers
from the same snapshot, so polling clients are cheap too. The hub starts on first use, so commands
and most tests never start its thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from . import campaigns, matches
from .db import new_session, utcnow
from .ledger import recent_gift_count
from .models import Campaign, CampaignTotals, MatchingChallenge
from .networks import network_of

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
# "N gifts in the last hour" drifts with the clock, not only with gifts: recount this often.
ACTIVITY_REFRESH = timedelta(seconds=30)
_WATCHED = (Campaign, CampaignTotals, MatchingChallenge)


@dataclass(frozen=True)
class Snapshot:
    """What viewers of one campaign are shown: the progress API's JSON plus live activity."""

    progress: campaigns.Progress
    progress_body: bytes
    etag: str
    activity_body: bytes
    activity_etag: str


def build_snapshot(session: Session, campaign: Campaign, totals: CampaignTotals | None) -> Snapshot:
    """Progress and activity of one campaign, serialised once for every viewer."""
    now = utcnow()
    progress = campaigns.progress(campaign, totals)
    statuses = matches.campaign_matches(session, campaign, now)
    activity = {
        "slug": campaign.slug,
        "gifts_last_hour": recent_gift_count(session, campaign.id, now - timedelta(hours=1)),
        "matched_cents": matches.matched_total(statuses),
        "matches": [s.as_json() for s in statuses],
        "stretch_goal_cents": campaign.stretch_goal_cents,
        "milestones": list(campaigns.MILESTONES),
    }
    activity["supporters"] = wall_entries(session, campaign)
    activity_body = json.dumps(activity).encode()
    return Snapshot(
        progress=progress,
        progress_body=json.dumps(progress.as_json()).encode(),
        etag=progress.etag,
        activity_body=activity_body,
        activity_etag=hashlib.sha256(activity_body).hexdigest()[:24],
    )


def wall_entries(session: Session, campaign: Campaign) -> list[dict]:
    """"Recent supporters" as open pages redraw it: only what the donor and staff let show (a hidden
    name reads Anonymous, a hidden amount is absent), formatted as the page formats it."""
    from .settings import current_settings
    from .templating import local_date, money

    approve_first = current_settings().wall_moderation == "approve"
    return [
        {"name": s.name, "amount": money(s.amount_cents, s.currency) if s.amount_cents is not None else None,
         "date": local_date(s.received_at), "dedication": s.dedication, "comment": s.comment}
        for s in campaigns.recent_supporters(session, campaign, approve_first=approve_first)
    ]


def sse_message(snapshot: Snapshot) -> bytes:
    """The two Server-Sent Events a viewer gets for one snapshot."""
    return (b"event: progress\ndata: " + snapshot.progress_body + b"\n\n"
            b"event: activity\ndata: " + snapshot.activity_body + b"\n\n")


class StreamGate:
    """Counts the open streams of one process, in all and per client address.

    A stream holds a server thread for its whole life, so without a cap one client opening a few
    hundred idle streams takes every thread and the home page and Stripe's webhook go unanswered.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        self._total = 0

    def admit(self, address: str, *, most: int, per_address: int) -> bool:
        """Take a slot for a new stream from this address (an IPv6 one by its /64), or False when
        either cap is reached."""
        address = network_of(address)
        with self._lock:
            held = self._open.get(address, 0)
            if self._total >= most or held >= per_address:
                return False
            self._open[address] = held + 1
            self._total += 1
            return True

    def release(self, address: str) -> None:
        """The stream from this address has ended (its connection closed)."""
        address = network_of(address)
        with self._lock:
            held = self._open.get(address, 0)
            if held <= 1:
                self._open.pop(address, None)
            else:
                self._open[address] = held - 1
            self._total = max(0, self._total - 1)

    @property
    def total(self) -> int:
        return self._total


class LiveHub:
    """Per-process cache of public progress, refreshed by commits here and by polling for the rest."""

    def __init__(self, app: Flask, poll_seconds: float) -> None:
        self._app = app
        self._poll_seconds = poll_seconds
        self._changed = threading.Condition()
        self._refresh_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._snapshots: dict[str, Snapshot] = {}
        self._generation = 0  # grows with every change of any snapshot (public/page_cache.py keys on it)
        self._seen: dict[int, tuple] = {}
        self._counted_at: dict[int, datetime] = {}
        self._listeners: list[Callable[[], None]] = []
        self.streams = StreamGate()

    # -------------------------------------------------------------- viewers

    def get(self, slug: str) -> Snapshot | None:
        """The current snapshot of a public campaign (None if there is no such public campaign)."""
        self._ensure_started()
        return self._snapshots.get(slug)

    def wait_for_change(
        self, slugs: tuple[str, ...], seen: dict[str, Snapshot | None], timeout: float
    ) -> dict[str, Snapshot | None]:
        """Block until any of the campaigns' snapshots differs from `seen` (or the timeout passes);
        return the current snapshot of each (None for one that is no longer public)."""
        self._ensure_started()
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                current = {slug: self._snapshots.get(slug) for slug in slugs}
                if any(current[slug] is not seen.get(slug) for slug in slugs):
                    return current
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    return current
                self._changed.wait(remaining)

    def snapshots(self) -> dict[str, Snapshot]:
        """Every public campaign's current snapshot, by slug (the stream fan-out reads them all)."""
        self._ensure_started()
        return self._snapshots

    def listen(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from the refreshing thread) whenever the snapshots change: the stream
        fan-out's event loop cannot wait on this hub's condition variable."""
        self._listeners.append(callback)

    def generation(self) -> int:
        """A number that changes whenever any public campaign's snapshot does."""
        self._ensure_started()
        return self._generation

    # -------------------------------------------------------------- writers

    def poke(self) -> None:
        """A commit here touched campaigns: refresh now, in the committing thread."""
        if self._thread is not None:
            self.refresh()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._changed:
            self._changed.notify_all()
        if self._refresh_lock.acquire(timeout=5):  # a refresh or start under way has finished
            self._refresh_lock.release()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and thread.is_alive():
            thread.join(timeout=5)

    # -------------------------------------------------------------- internals

    def _ensure_started(self) -> None:
        if self._thread is not None or self._stop.is_set():
            return
        with self._refresh_lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._refresh_locked()
            self._thread = threading.Thread(target=self._run, daemon=True, name="fundraiser-live")
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.refresh()
            except SQLAlchemyError:
                # The database is away (restart, failover): keep serving the last snapshot.
                log.warning("Live progress could not poll the database; retrying", exc_info=True)

    def refresh(self) -> None:
        with self._refresh_lock:
            if not self._stop.is_set():  # a commit's poke may arrive as the hub stops
                self._refresh_locked()

    def _refresh_locked(self) -> None:
        with self._app.app_context():
            session = new_session()
            try:
                updated = self._load_changes(session)
            finally:
                session.close()
        if updated is None:
            return
        with self._changed:
            self._snapshots = updated
            self._generation += 1
            self._changed.notify_all()
        for callback in self._listeners:
            callback()

    def _load_changes(self, session: Session) -> dict[str, Snapshot] | None:
        """The new snapshot of every public campaign, or None when no viewer would see a difference.

        Unchanged snapshots keep their identity, so viewers waiting on them sleep on.
        """
        rows = session.execute(
            select(Campaign.id, Campaign.slug, Campaign.status, Campaign.updated_at, CampaignTotals.version)
            .outerjoin(CampaignTotals, CampaignTotals.campaign_id == Campaign.id)
        ).all()
        match_edits = {r[0]: tuple(r[1:]) for r in session.execute(
            select(MatchingChallenge.campaign_id, func.count(), func.max(MatchingChallenge.updated_at))
            .group_by(MatchingChallenge.campaign_id)
        )}
        now = utcnow()
        public = {r.id: r for r in rows if r.status in campaigns.PUBLIC_STATUSES}
        current = {s.progress.id: s for s in self._snapshots.values()}
        fresh: dict[str, Snapshot] = {}
        differs = set(current) - set(public)  # campaigns that left public view
        for campaign_id, row in public.items():
            key = (row.slug, row.status, row.updated_at, row.version, match_edits.get(campaign_id))
            old = current.get(campaign_id)
            recount_due = now - self._counted_at.get(campaign_id, now - ACTIVITY_REFRESH) >= ACTIVITY_REFRESH
            if old is not None and self._seen.get(campaign_id) == key and not recount_due:
                fresh[row.slug] = old
                continue
            snapshot = build_snapshot(session, session.get(Campaign, campaign_id), session.get(CampaignTotals, campaign_id))
            self._seen[campaign_id] = key
            self._counted_at[campaign_id] = now
            if old is not None and (old.progress_body, old.activity_body) == (snapshot.progress_body, snapshot.activity_body):
                fresh[row.slug] = old
            else:
                fresh[row.slug] = snapshot
                differs.add(campaign_id)
        if not differs and fresh.keys() == self._snapshots.keys():
            return None
        return fresh


def hub() -> LiveHub:
    """This app's hub."""
    return current_app.extensions["fundraiser.live"]


def _touched_campaigns(session: Session, _flush_context, _instances) -> None:
    if any(isinstance(obj, _WATCHED) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info["fundraiser.live_changed"] = True


def _after_commit(session: Session) -> None:
    if session.info.pop("fundraiser.live_changed", False) and has_app_context():
        live = current_app.extensions.get("fundraiser.live")
        if live is not None:
            try:
                live.poke()
            except SQLAlchemyError:
                log.warning("Live progress refresh after commit failed; the poller will catch up", exc_info=True)


def init_app(app: Flask, poll_seconds: float) -> None:
    """One hub per app; commits that touch campaigns refresh it."""
    app.extensions["fundraiser.live"] = LiveHub(app, poll_seconds)
    if not event.contains(Session, "before_flush", _touched_campaigns):
        event.listen(Session, "before_flush", _touched_campaigns)
        event.listen(Session, "after_commit", _after_commit)
