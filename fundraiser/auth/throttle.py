"""Slowing repeated failed sign-ins, per account and per network address.

Failures are counted in the database, so every worker process sees the same count. After a few
failures each further attempt must wait longer (doubling, capped), and the check happens before
the password is verified, so a locked-out guesser learns nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import LoginFailure

WINDOW = timedelta(minutes=30)
ACCOUNT_FREE_TRIES = 5
ADDRESS_FREE_TRIES = 20
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)


def _wait(count: int, last: datetime | None, free: int, now: datetime) -> float:
    if count < free or last is None:
        return 0.0
    delay = min(BASE_DELAY * 2 ** (count - free), MAX_DELAY)
    return max(0.0, (last + delay - now).total_seconds())


def seconds_to_wait(session: Session, email: str, ip_address: str, now: datetime | None = None) -> int:
    """How long this account or address must wait before trying again (0: go ahead)."""
    now = now or utcnow()
    since = now - WINDOW
    waits = [0.0]
    for column, value, free in (
        (LoginFailure.email, email, ACCOUNT_FREE_TRIES),
        (LoginFailure.ip_address, ip_address, ADDRESS_FREE_TRIES),
    ):
        count, last = session.execute(
            select(func.count(), func.max(LoginFailure.at)).where(column == value, LoginFailure.at >= since)
        ).one()
        waits.append(_wait(int(count), last, free, now))
    return int(max(waits) + 0.999)


def record_failure(session: Session, email: str, ip_address: str) -> None:
    """Count a failed sign-in, and forget failures old enough not to matter any more."""
    now = utcnow()
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - WINDOW))
    session.add(LoginFailure(email=email, ip_address=ip_address, at=now))
    session.flush()


def clear_account(session: Session, email: str) -> None:
    """A successful sign-in wipes the account's count (the address's count stays)."""
    session.execute(delete(LoginFailure).where(LoginFailure.email == email))
