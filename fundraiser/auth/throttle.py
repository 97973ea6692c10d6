"""Slowing repeated sign-ins, per account and per network address (an IPv6 address by its /64).

Attempts are counted in the database, so every worker process sees the same count, in one row per
account and per address. An attempt is claimed before the password is checked, with one UPDATE
that counts it only if the row isn't blocked: parallel attempts wait for each other's row lock
(PostgreSQL) or the writer lock (SQLite), so no more than the allowed number are ever checked.
After a few attempts each further one must wait longer (doubling, capped). Attempts refused
while blocked don't count, so the real person gets in with the right password once the wait is
over; a successful sign-in forgets the account's count.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, null, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..db import UTCDateTime, utcnow
from ..models import LoginThrottle, User
from ..networks import network_of

WINDOW = timedelta(minutes=30)
ACCOUNT_FREE_TRIES = 5
ADDRESS_FREE_TRIES = 20
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)


def account_key(email: str) -> str:
    return f"account:{email}"[:300]


def address_key(ip_address: str) -> str:
    return f"address:{network_of(ip_address)}"[:300]


def _when(value: datetime):
    return literal(value, UTCDateTime())


def _claim(session: Session, key: str, free: int, now: datetime) -> int:
    """Count one attempt on this row unless it is blocked: 0, or the seconds left to wait."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for _ in range(3):
        session.execute(
            insert(LoginThrottle).values(key=key, attempts=0, last_at=now).on_conflict_do_nothing(index_elements=["key"])
        )
        stale = LoginThrottle.last_at < now - WINDOW
        attempts = case((stale, 1), else_=LoginThrottle.attempts + 1)
        # The wait after this attempt: none below the free tries, then doubling up to the cap.
        steps, delay = [], BASE_DELAY
        while delay < MAX_DELAY:
            steps.append((attempts == free + len(steps), _when(now + delay)))
            delay *= 2
        blocked_until = case((attempts < free, null()), *steps, else_=_when(now + MAX_DELAY))
        claimed = session.execute(
            update(LoginThrottle)
            .where(
                LoginThrottle.key == key,
                (LoginThrottle.blocked_until.is_(None)) | (LoginThrottle.blocked_until <= _when(now)),
            )
            .values(attempts=attempts, last_at=now, blocked_until=blocked_until)
            .returning(LoginThrottle.attempts)
            .execution_options(synchronize_session=False)
        ).first()
        if claimed is not None:
            return 0
        until = session.scalar(select(LoginThrottle.blocked_until).where(LoginThrottle.key == key))
        if until is not None:
            return max(1, int((until - now).total_seconds() + 0.999))
        # The row was forgotten (forget_old) between the insert and the update: try again.
    raise RuntimeError(f"could not count a sign-in attempt for {key}")


def claim_attempt(session: Session, email: str, ip_address: str, now: datetime | None = None) -> int:
    """Count this sign-in attempt for the account and the address, before its password is checked.

    Returns 0 when the attempt may go ahead, else the seconds to wait (nothing is counted then:
    the caller rolls back). Flushes; the caller commits at once, so the rows aren't held locked
    while the password is hashed."""
    now = now or utcnow()
    return _claim(session, account_key(email), ACCOUNT_FREE_TRIES, now) or _claim(
        session, address_key(ip_address), ADDRESS_FREE_TRIES, now
    )


def forgive(session: Session, email: str, ip_address: str) -> None:
    """A successful sign-in wipes the account's count and takes its attempt off the address."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == account_key(email)))
    attempts = case((LoginThrottle.attempts > 0, LoginThrottle.attempts - 1), else_=0)
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == address_key(ip_address))
        .values(
            attempts=attempts,
            blocked_until=case((attempts < ADDRESS_FREE_TRIES, null()), else_=LoginThrottle.blocked_until),
        )
        .execution_options(synchronize_session=False)
    )


def forget_old(session: Session, now: datetime | None = None) -> None:
    """Delete counts that no longer matter (their own transaction: rows another attempt holds
    are skipped, not waited for, so this never deadlocks with a sign-in)."""
    now = now or utcnow()
    old = select(LoginThrottle.key).where(
        LoginThrottle.last_at < now - WINDOW,
        (LoginThrottle.blocked_until.is_(None)) | (LoginThrottle.blocked_until < _when(now)),
    )
    if session.get_bind().dialect.name == "postgresql":
        old = old.with_for_update(skip_locked=True)
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(old)).execution_options(synchronize_session=False))


def blocked_accounts(session: Session, now: datetime | None = None) -> dict[str, datetime]:
    """Emails whose sign-ins are blocked right now, and until when (for the Accounts page)."""
    now = now or utcnow()
    rows = session.execute(
        select(LoginThrottle.key, LoginThrottle.blocked_until).where(
            LoginThrottle.key.startswith("account:"), LoginThrottle.blocked_until > _when(now)
        )
    )
    return {key.removeprefix("account:"): until for key, until in rows}


def unlock_account(session: Session, actor: Actor, user: User) -> None:
    """An admin lets a blocked account try again now (recorded in the audit log)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == account_key(user.email)))
    audit.record(session, actor, "user.unlock_sign_in", "user", user.id, after={"sign_in": "unlocked"})
    session.flush()
