"""Card-testing guard for the donate endpoints, which anyone may call without signing in.

Card testers script donation forms to learn which stolen cards work. Before a donation starts we
(1) pause an address or an email after repeated declines, (2) count starts per address (an IPv6
address by its /64: networks.py), per campaign and in total, and (3) once an address looks busy, ask for a human check (Turnstile or
hCaptcha) if one is configured. Counts live in the database (one upsert per key), so they hold
across worker processes, on SQLite and PostgreSQL alike. A real donor who fixes a typo and tries
again stays well inside the limits: form errors are not counted, and a few starts are free.
"""

from __future__ import annotations

import json
import logging
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, literal, or_, select
from sqlalchemy.orm import Session

from .config import DonateGuard
from .db import UTCDateTime, upsert_insert, utcnow
from .models import AttemptStatus, DonateCounter, DonationAttempt
from .networks import network_of

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(days=1)
VERIFY_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Refusal:
    """Why a donation may not start now: HTTP status, words for the donor, and when to retry."""

    status: int
    message: str
    retry_after: int = 0
    challenge: bool = False


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    if minutes >= 120:
        hours = math.ceil(minutes / 60)
        return f"{hours} hours"
    return "a minute" if minutes == 1 else f"{minutes} minutes"


def _bump(session: Session, key: str, window: timedelta, now: datetime) -> tuple[int, datetime]:
    """Count one start under `key` in one atomic upsert; return the count and when its window began."""
    stale = DonateCounter.window_start <= now - window
    insert = upsert_insert(session, DonateCounter).values(key=key, window_start=now, count=1)
    statement = insert.on_conflict_do_update(
        index_elements=[DonateCounter.key],
        set_={
            "count": case((stale, 1), else_=DonateCounter.count + 1),
            "window_start": case((stale, literal(now, UTCDateTime())), else_=DonateCounter.window_start),
        },
    ).returning(DonateCounter.count, DonateCounter.window_start)
    count, started = session.execute(statement).one()
    return int(count), started


def _current(session: Session, key: str, window: timedelta, now: datetime) -> int:
    count = session.scalar(
        select(DonateCounter.count).where(DonateCounter.key == key, DonateCounter.window_start > now - window)
    )
    return int(count or 0)


def _declines(session: Session, column, value: str, guard: DonateGuard, now: datetime) -> tuple[int, datetime | None]:
    """Attempts declined or failed (as the webhooks mark them) for an address or email lately; a
    card declined and tried again on the same payment counts, whatever came of the retry."""
    since = now - timedelta(seconds=guard.decline_window_seconds)
    count, last = session.execute(
        select(func.count(), func.max(func.coalesce(DonationAttempt.failed_at, DonationAttempt.created_at))).where(
            column == value, or_(DonationAttempt.status == AttemptStatus.FAILED, DonationAttempt.failed_at.is_not(None)),
            DonationAttempt.created_at >= since,
        )
    ).one()
    return int(count), last


def _backoff(count: int, last: datetime | None, guard: DonateGuard, now: datetime) -> int:
    """Seconds still to wait: none before the allowed declines, then doubling from backoff_seconds."""
    if count < guard.declines_before_backoff or last is None:
        return 0
    delay = min(timedelta(seconds=guard.backoff_seconds) * 2 ** (count - guard.declines_before_backoff), MAX_BACKOFF)
    return max(0, math.ceil((last + delay - now).total_seconds()))


def challenge_needed(session: Session, guard: DonateGuard, ip_address: str, email: str | None = None,
                     now: datetime | None = None) -> bool:
    """Whether the next start from this address (or email) must pass the human check."""
    if not guard.captcha_enabled:
        return False
    now = now or utcnow()
    window = timedelta(seconds=guard.window_seconds)
    network = network_of(ip_address)
    if _current(session, f"ip:{network}", window, now) >= guard.captcha_after_starts:
        return True
    if _declines(session, DonationAttempt.ip_address, network, guard, now)[0]:
        return True
    return bool(email) and _declines(session, DonationAttempt.donor_email, email, guard, now)[0] > 0


def verify_challenge(guard: DonateGuard, token: str, ip_address: str) -> bool | None:
    """Ask the provider whether the check's token is good: True/False, None if it can't be reached."""
    data = urllib.parse.urlencode({"secret": guard.captcha_secret, "response": token, "remoteip": ip_address})
    request = urllib.request.Request(guard.captcha_verify_url, data=data.encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=VERIFY_TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read())
    except (OSError, ValueError) as exc:
        log.warning("Human check provider unreachable at %s: %s", guard.captcha_verify_url, exc)
        return None
    if not answer.get("success"):
        log.info("Human check failed for %s: %s", ip_address, answer.get("error-codes"))
    return bool(answer.get("success"))


def admit(session: Session, guard: DonateGuard, *, campaign_id: int, ip_address: str, email: str,
          challenge_token: str = "", now: datetime | None = None) -> Refusal | None:
    """Decide whether a donation may start now, counting it; None means go ahead.

    Flushes only; the caller commits the counts even when the start is refused or fails later,
    so that refused attempts still count against the address.
    """
    now = now or utcnow()
    window = timedelta(seconds=guard.window_seconds)
    network = network_of(ip_address)  # attempts store it so (donations.start_attempt)
    for column, value, who in (
        (DonationAttempt.ip_address, network, "your connection"),
        (DonationAttempt.donor_email, email, "this email address"),
    ):
        wait = _backoff(*_declines(session, column, value, guard, now), guard, now)
        if wait:
            return Refusal(
                429,
                f"Several payments from {who} were declined, so giving from it is paused for "
                f"{_minutes(wait)}. Nothing was charged. If your card was declined by mistake, please call "
                "your bank, or give by check.",
                retry_after=wait,
            )
    session.execute(delete(DonateCounter).where(DonateCounter.window_start <= now - window))
    count, started = _bump(session, f"ip:{network}", window, now)
    if count > guard.per_address:
        wait = _until(started, window, now)
        return Refusal(
            429,
            f"Too many gifts were started from your connection in a short time, so we've paused giving "
            f"from it for {_minutes(wait)}. Nothing was charged. Please try again then.",
            retry_after=wait,
        )
    needs_check = guard.captcha_enabled and (
        count > guard.captcha_after_starts
        or _declines(session, DonationAttempt.ip_address, network, guard, now)[0] > 0
        or _declines(session, DonationAttempt.donor_email, email, guard, now)[0] > 0
    )
    if needs_check:
        refusal = _check(guard, challenge_token, ip_address)
        if refusal is not None:
            return refusal
    for key, limit in ((f"campaign:{campaign_id}", guard.per_campaign), ("total", guard.total)):
        count, started = _bump(session, key, window, now)
        if count > limit:
            wait = _until(started, window, now)
            log.warning("Donation starts over the %s limit (%d in the window)", key, limit)
            return Refusal(
                429,
                f"We're receiving an unusual number of gifts right now, so new ones are paused for "
                f"{_minutes(wait)} while we check they are genuine. Nothing was charged. Please try again then.",
                retry_after=wait,
            )
    session.flush()
    return None


def _until(started: datetime, window: timedelta, now: datetime) -> int:
    return max(1, math.ceil((started + window - now).total_seconds()))


def _check(guard: DonateGuard, token: str, ip_address: str) -> Refusal | None:
    """The human check for a busy address: None when passed."""
    token = (token or "").strip()
    if not token:
        return Refusal(403, "Please complete the quick check below to show you're a person, then continue.",
                       challenge=True)
    verdict = verify_challenge(guard, token, ip_address)
    if verdict is None:
        return Refusal(503, "We couldn't run the security check just now. Nothing was charged; please try again "
                            "in a minute.", retry_after=60, challenge=True)
    if not verdict:
        return Refusal(403, "The check didn't go through. Please try it again, then continue.", challenge=True)
    return None
