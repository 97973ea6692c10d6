"""User accounts: creating them, hashing passwords (Argon2id) and checking a sign-in."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from .. import audit
from ..audit import Actor
from ..db import utcnow
from ..models import OutboxMessage, Role, User

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 12
# Each Argon2id hash holds 64 MiB (argon2-cffi's default memory_cost) while it runs. Bounding the
# hashes a process runs at once bounds that memory, however many sign-ins arrive together:
# with docs/deploy.md's 2 workers, 2 × 2 × 64 MiB = 256 MiB at most. A sign-in that waits longer
# than HASH_WAIT_SECONDS for a slot is answered "busy, try again shortly" (503, Retry-After).
CONCURRENT_HASHES = 2
HASH_WAIT_SECONDS = 5.0
_hash_slots = threading.BoundedSemaphore(CONCURRENT_HASHES)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """An account change that can't be made; the message says why."""


class HashingBusy(RuntimeError):
    """Every password-hashing slot of this process stayed taken: many sign-ins at once."""

    retry_after_seconds = 10


@contextmanager
def _hash_slot() -> Iterator[None]:
    if not _hash_slots.acquire(timeout=HASH_WAIT_SECONDS):
        raise HashingBusy("Many people are signing in right now. Please try again in a few seconds.")
    try:
        yield
    finally:
        _hash_slots.release()


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _letters(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def check_password(password: str, email: str, org_name: str) -> None:
    """Refuse short, common or guessable passwords, saying why (zxcvbn's dictionaries of common
    passwords, words and names, plus the person's email and the organisation's name)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")
    local_part = _letters(email.partition("@")[0])
    if len(local_part) >= 3 and local_part in _letters(password):
        raise AccountError("Please choose a password that doesn't contain your email address.")
    org = _letters(org_name)
    if org and org in _letters(password):
        raise AccountError("Please choose a password that doesn't contain the organisation's name.")
    # zxcvbn refuses inputs past 72 characters; a longer password's first 72 decide.
    estimate = zxcvbn(password[:72], user_inputs=[email, local_part, *org_name.lower().split()])
    if estimate["score"] < 3:
        hint = " ".join(part for part in (estimate["feedback"]["warning"], *estimate["feedback"]["suggestions"]) if part)
        raise AccountError(f"That password is too easy to guess. {hint or 'Add a few more uncommon words.'}".strip())


def hash_password(password: str) -> str:
    """The Argon2id hash of a password, computed in one of the process's hashing slots."""
    with _hash_slot():
        return _hasher.hash(password)


def create_user(
    session: Session, email: str, role: Role | str, password: str, name: str = "", org_name: str = ""
) -> User:
    """Add an account; the email must be new and the password hard to guess."""
    email = normalise_email(email)
    if not EMAIL_RE.match(email):
        raise AccountError(f"{email!r} is not an email address.")
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise AccountError(f"There is already an account for {email}.")
    check_password(password, email, org_name)
    user = User(email=email, name=name, role=Role(role), password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash to verify against when the email is unknown, so both cases take the same time (a
    check costs what the stored hash's parameters say, so it is made by the hasher in use). Made
    on first use, in a hashing slot: made at import, it cost every process 0.2-0.3 s to start,
    each `flask` command included."""
    return hasher.hash("not a real password")


def find_account(session: Session, email: str) -> User | None:
    """The account a sign-in names, if any (active or not: authenticate decides)."""
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def authenticate(user: User | None, password: str) -> User | None:
    """The user, if active and this is their password, or None (same work either way: an unknown
    email is checked against a dummy hash, in the same hashing slots). No database work, so the
    caller hashes outside any transaction: on SQLite a write transaction holds the writer lock,
    and every other write would wait for the hash. Raises HashingBusy."""
    with _hash_slot():
        stored = user.password_hash if user is not None and user.password_hash else _dummy_hash(_hasher)
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or not user.is_active or not user.password_hash:
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


# ------------------------------------------------------------------ managed by admins

INVITE_MAX_AGE_SECONDS = 7 * 24 * 3600
USER_FIELDS = ("email", "name", "role", "is_active")


def password_stamp(user: User) -> str:
    """Changes whenever the password or the session generation does: sessions and set-password
    links carry it, so signing out, a password change or a reset ends them."""
    seed = f"{user.password_hash or 'none'}:{user.id}:{user.session_generation or 0}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def end_sessions(user: User) -> None:
    """Sign the person out everywhere and void their set-password links (flushed by the caller)."""
    user.session_generation = (user.session_generation or 0) + 1


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="set-password")


def set_password_token(secret_key: str, user: User) -> str:
    """A signed link token to choose a password; it stops working once a password is set."""
    return _serializer(secret_key).dumps({"u": user.id, "s": password_stamp(user)})


def user_for_token(session: Session, secret_key: str, token: str) -> User | None:
    """The active user a set-password token was made for, if it is still valid and unused."""
    try:
        data = _serializer(secret_key).loads(token, max_age=INVITE_MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    user = session.get(User, data.get("u"))
    if user is None or not user.is_active or password_stamp(user) != data.get("s"):
        return None
    return user


def _active_admins(session: Session) -> int:
    return int(session.scalar(select(func.count()).where(User.role == Role.ADMIN, User.is_active.is_(True))))


def invite_user(session: Session, actor: Actor, email: str, role: Role | str, name: str = "") -> User:
    """An account without a password yet; the person chooses one through their invitation link."""
    email = normalise_email(email)
    if not EMAIL_RE.match(email):
        raise AccountError("Enter an email address, like name@example.org.")
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise AccountError(f"There is already an account for {email}.")
    user = User(email=email, name=name.strip(), role=Role(role), password_hash=None, is_active=True)
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.invite", "user", user.id, after=audit.snapshot(user, USER_FIELDS))
    return user


def change_role(session: Session, actor: Actor, user: User, role: Role | str) -> None:
    """Give an account another role; the last active admin can't be demoted."""
    role = Role(role)
    if user.role == role:
        return
    if user.role == Role.ADMIN and user.is_active and _active_admins(session) <= 1:
        raise AccountError("This is the only active admin; make someone else an admin first.")
    before = audit.snapshot(user, USER_FIELDS)
    user.role = role
    audit.record(session, actor, "user.role", "user", user.id, before=before, after=audit.snapshot(user, USER_FIELDS))


def set_active(session: Session, actor: Actor, user: User, active: bool) -> None:
    """Deactivate (signs the person out everywhere) or reactivate an account; nobody deactivates themself."""
    if user.is_active == active:
        return
    if not active and user.id == actor.user_id:
        raise AccountError("You can't deactivate your own account.")
    if not active and user.role == Role.ADMIN and _active_admins(session) <= 1:
        raise AccountError("This is the only active admin; make someone else an admin first.")
    before = audit.snapshot(user, USER_FIELDS)
    user.is_active = active
    action = "user.reactivate" if active else "user.deactivate"
    audit.record(session, actor, action, "user", user.id, before=before, after=audit.snapshot(user, USER_FIELDS))


def reset_password(session: Session, actor: Actor, user: User) -> None:
    """Forget the password (ending the person's sessions and older links); they choose a new one
    through a fresh link."""
    user.password_hash = None
    end_sessions(user)
    session.flush()
    audit.record(session, actor, "user.reset_password", "user", user.id, after={"password": "reset"})


def hash_chosen_password(password: str, confirm: str, email: str, org_name: str) -> str:
    """Check a password a person chose and hash it (in a hashing slot; raises AccountError or
    HashingBusy). No database work, so the caller hashes outside any transaction: on SQLite a write
    transaction holds the writer lock, and every other write would wait for the hash."""
    if password != confirm:
        raise AccountError("The two passwords are different; type the same one twice.")
    check_password(password, email, org_name)
    return hash_password(password)


def choose_password(session: Session, user: User, password_hash: str) -> None:
    """The person sets their own password (hashed by `hash_chosen_password`) from an invitation or
    reset link, which it uses up, along with any other session of theirs."""
    user.password_hash = password_hash
    end_sessions(user)
    audit.record(session, Actor(user.id), "user.set_password", "user", user.id, after={"password": "set"})


def queue_password_email(session: Session, user: User, link: str, org_name: str, *, invitation: bool) -> None:
    """Email the set-password link through the outbox (sent by `send-receipts`, like every message)."""
    if invitation:
        subject = f"You're invited to {org_name}'s fundraising console"
        opening = f"You have been given a {user.role} account on {org_name}'s fundraising console."
    else:
        subject = f"Choose a new password for {org_name}'s fundraising console"
        opening = "An administrator reset your password."
    body = (
        f"Hello {user.name or user.email},\n\n{opening}\n\n"
        f"Choose your password here (the link works once, for 7 days):\n{link}\n\n"
        "If you weren't expecting this, you can ignore this email.\n"
    )
    session.add(
        OutboxMessage(
            kind="invitation" if invitation else "password_reset",
            dedupe_key=f"password:{user.id}:{password_stamp(user)}:{utcnow().timestamp()}",
            to_email=user.email, subject=subject, body_text=body,
        )
    )
    session.flush()
