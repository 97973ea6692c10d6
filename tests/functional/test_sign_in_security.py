"""Sign-in and session attacks from the outside test (issue 18): each test replays the attack."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from argon2 import PasswordHasher
from sqlalchemy import select, update

from fundraiser.auth import throttle, users
from fundraiser.auth.users import AccountError, check_password, create_user
from fundraiser.db import utcnow
from fundraiser.models import AuditLog, LoginThrottle, User
from tests.functional.staff_helpers import PASSWORD, sign_in_as
from tests.gunicorn_server import peak_rss_bytes, run_gunicorn, worker_pids


class CountingHasher(PasswordHasher):
    """The real Argon2id hasher, noting how many hashes run at once and how many ran."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.running = self.most_at_once = self.verified = 0

    def verify(self, hash, password):
        with self._lock:
            self.running += 1
            self.verified += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def hasher(monkeypatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(users, "_hasher", counting)
    return counting


def _post_in_parallel(url: str, forms: list[dict]) -> list[requests.Response]:
    barrier = threading.Barrier(len(forms))

    def post(form: dict) -> requests.Response:
        barrier.wait()
        return requests.post(f"{url}/login", data=form, allow_redirects=False, timeout=60)

    with ThreadPoolExecutor(len(forms)) as pool:
        return list(pool.map(post, forms))


def test_parallel_sign_ins_with_made_up_emails_hash_within_the_slots(live_server, hasher):
    # 40 parallel attempts took 2.3 GiB when each hashed at once (64 MiB apiece).
    forms = [{"email": f"nobody{n}@example.org", "password": "a made-up guess"} for n in range(16)]
    answers = _post_in_parallel(live_server.url, forms)
    assert hasher.most_at_once <= users.CONCURRENT_HASHES
    assert {a.status_code for a in answers} <= {401, 503}
    # Unknown emails still cost a real hash (no quick "no such user" answer to time).
    assert hasher.verified == sum(a.status_code == 401 for a in answers) > 0


MiB = 1024 * 1024
ARGON2_MEMORY = 64 * MiB  # argon2-cffi's default memory_cost, held by each hash while it runs
BUDGETED_HASHES = 2  # per worker, in docs/deploy.md's memory budget for a 2 GB server


def test_forty_parallel_sign_ins_grow_the_worker_by_the_hashing_slots_only(app, database_url, tmp_path):
    """The outside test's attack, under gunicorn as documented: 40 parallel sign-ins with made-up
    emails took 2.3 GiB. They come from 40 addresses here, so the per-address throttle can't be
    what stops them: the worker's peak memory grows by its hashing slots at most."""
    with run_gunicorn(database_url, tmp_path / "gunicorn-instance", threads=60) as (port, master):
        [worker] = worker_pids(master)
        url = f"http://127.0.0.1:{port}/login"
        # One visit to the form gives a session cookie and its CSRF token; the attacker reuses them.
        visit = requests.get(url, timeout=30)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', visit.text).group(1)

        def post(n: int) -> int:
            form = {"csrf_token": token, "email": f"nobody{n}@example.org", "password": "a made-up guess"}
            return requests.post(url, data=form, cookies=visit.cookies, headers={"X-Forwarded-For": f"198.51.100.{n}"},
                                 allow_redirects=False, timeout=60).status_code

        # A first sign-in, so the worker's start-up and first hash are in the baseline.
        assert post(200) == 401
        before = peak_rss_bytes(worker)
        barrier = threading.Barrier(40)

        def post_together(n: int) -> int:
            barrier.wait()
            return post(n)

        with ThreadPoolExecutor(40) as pool:
            codes = list(pool.map(post_together, range(40)))
        grew = peak_rss_bytes(worker) - before
    assert set(codes) <= {401, 503} and 401 in codes
    assert grew < BUDGETED_HASHES * ARGON2_MEMORY, f"the worker grew by {grew / MiB:.0f} MiB"


def test_sign_in_when_every_hashing_slot_is_taken_is_asked_to_come_back(live_server, hasher, monkeypatch):
    monkeypatch.setattr(users, "HASH_WAIT_SECONDS", 0.2)
    for _ in range(users.CONCURRENT_HASHES):  # sign-ins already hashing
        users._hash_slots.acquire()
    try:
        answer = requests.post(
            f"{live_server.url}/login", data={"email": "a@example.org", "password": "a made-up guess"},
            allow_redirects=False, timeout=30,
        )
    finally:
        for _ in range(users.CONCURRENT_HASHES):
            users._hash_slots.release()
    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) > 0
    assert "Many people are signing in right now" in answer.text
    assert hasher.verified == 0


def test_parallel_wrong_passwords_check_no_more_than_the_limit(live_server, session, hasher):
    create_user(session, "target@example.org", "staff", PASSWORD)
    session.commit()
    # The outside test's 40 parallel wrong passwords were all checked on PostgreSQL.
    forms = [{"email": "target@example.org", "password": f"wrong guess {n}"} for n in range(40)]
    answers = _post_in_parallel(live_server.url, forms)
    codes = sorted(a.status_code for a in answers)
    assert hasher.verified == throttle.ACCOUNT_FREE_TRIES
    assert codes == [401] * throttle.ACCOUNT_FREE_TRIES + [429] * (40 - throttle.ACCOUNT_FREE_TRIES)


def _wait_is_over(session, email: str) -> None:
    """Move the account's block into the past, as if the person waited it out."""
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == throttle.account_key(email))
        .values(blocked_until=utcnow() - timedelta(seconds=1), last_at=utcnow() - timedelta(seconds=31))
    )
    session.commit()


def test_throttled_account_signs_in_with_the_right_password_after_the_wait(client, session):
    create_user(session, "s@example.org", "staff", PASSWORD)
    session.commit()
    for _ in range(throttle.ACCOUNT_FREE_TRIES):
        assert client.post("/login", data={"email": "s@example.org", "password": "wrong guess!!"}).status_code == 401
    blocked_until = session.scalar(select(LoginThrottle.blocked_until).where(LoginThrottle.key == throttle.account_key("s@example.org")))
    # The guesser keeps trying while blocked; refused attempts don't lengthen the wait.
    for _ in range(10):
        assert client.post("/login", data={"email": "s@example.org", "password": "wrong guess!!"}).status_code == 429
    assert client.post("/login", data={"email": "s@example.org", "password": PASSWORD}).status_code == 429
    session.expire_all()
    assert session.scalar(select(LoginThrottle.blocked_until).where(LoginThrottle.key == throttle.account_key("s@example.org"))) == blocked_until
    _wait_is_over(session, "s@example.org")
    assert client.post("/login", data={"email": "s@example.org", "password": PASSWORD}).status_code == 302


def test_admin_unlocks_a_throttled_account_with_an_audit_entry(app, session):
    admin = sign_in_as(app, session, "admin")
    create_user(session, "locked@example.org", "staff", PASSWORD)
    session.commit()
    person = app.test_client()
    for _ in range(throttle.ACCOUNT_FREE_TRIES):
        person.post("/login", data={"email": "locked@example.org", "password": "wrong guess!!"})
    assert person.post("/login", data={"email": "locked@example.org", "password": PASSWORD}).status_code == 429
    page = admin.get("/staff/users").get_data(as_text=True)
    assert "Sign-in blocked until" in page and 'value="unlock"' in page
    user = session.scalar(select(User).where(User.email == "locked@example.org"))
    answer = admin.post(f"/staff/users/{user.id}", data={"change": "unlock"}, follow_redirects=True)
    assert "can sign in again" in answer.get_data(as_text=True)
    assert person.post("/login", data={"email": "locked@example.org", "password": PASSWORD}).status_code == 302
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "user.unlock_sign_in"))
    assert entry.object_id == str(user.id) and entry.user_id is not None


def test_signing_out_ends_the_session_on_the_server(app, session):
    client = sign_in_as(app, session, "staff")
    cookie = client.get_cookie("session").value
    copy = app.test_client()
    copy.set_cookie("session", cookie)
    assert copy.get("/staff/").status_code == 200
    client.post("/logout")
    assert copy.get("/staff/").status_code == 302  # the copied cookie no longer signs anyone in


def test_choosing_a_new_password_ends_the_other_sessions(app, session):
    admin = sign_in_as(app, session, "admin")
    laptop = sign_in_as(app, session, "staff", email="vol@example.org")
    user = session.scalar(select(User).where(User.email == "vol@example.org"))
    page = admin.post(f"/staff/users/{user.id}", data={"change": "reset"}, follow_redirects=True).get_data(as_text=True)
    link = re.search(r"http://127\.0\.0\.1:5000(/account/password/[^<\s\"]+)", page).group(1)
    assert laptop.get("/staff/").status_code == 302
    phone = app.test_client()
    assert phone.post(link, data={"password": "fresh garden ladder", "confirm": "fresh garden ladder"}).status_code == 302
    assert phone.get("/staff/").status_code == 200
    assert app.test_client().get(link).status_code == 404  # used once, dead


def test_older_links_stay_dead_after_an_admin_reset(app, session):
    admin = sign_in_as(app, session, "admin")
    page = admin.post("/staff/users", data={"email": "val@example.org", "name": "Val", "role": "staff"}).get_data(as_text=True)
    invitation = re.search(r"http://127\.0\.0\.1:5000(/account/password/[^<\s\"]+)", page).group(1)
    person = app.test_client()
    assert person.post(invitation, data={"password": "fresh garden ladder", "confirm": "fresh garden ladder"}).status_code == 302
    user = session.scalar(select(User).where(User.email == "val@example.org"))
    page = admin.post(f"/staff/users/{user.id}", data={"change": "reset"}, follow_redirects=True).get_data(as_text=True)
    first_reset = re.search(r"http://127\.0\.0\.1:5000(/account/password/[^<\s\"]+)", page).group(1)
    admin.post(f"/staff/users/{user.id}", data={"change": "reset"})
    # The account has no password again, as when invited: the invitation must not come back to life.
    assert app.test_client().get(invitation).status_code == 404
    assert app.test_client().get(first_reset).status_code == 404  # a newer reset replaced it


def test_expired_links_are_refused(app, session, monkeypatch):
    admin = sign_in_as(app, session, "admin")
    page = admin.post("/staff/users", data={"email": "late@example.org", "role": "staff"}).get_data(as_text=True)
    link = re.search(r"http://127\.0\.0\.1:5000(/account/password/[^<\s\"]+)", page).group(1)
    assert app.test_client().get(link).status_code == 200
    monkeypatch.setattr(users, "INVITE_MAX_AGE_SECONDS", -1)
    assert app.test_client().get(link).status_code == 404


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short one", "at least 12 characters"),
        ("password1234", "too easy to guess"),
        ("qwertyuiop123", "too easy to guess"),
        ("iloveyou12345", "too easy to guess"),
        ("valerie.smith#2026", "contain your email address"),
        ("HopeRising Fund 2026!", "contain the organisation's name"),
    ],
)
def test_weak_passwords_are_refused_saying_why(password, reason):
    with pytest.raises(AccountError, match=reason):
        check_password(password, "valerie.smith@example.org", "Hope Rising Fund")


def test_a_strong_password_is_accepted():
    check_password("fresh garden ladder", "valerie.smith@example.org", "Hope Rising Fund")


def test_choosing_a_common_password_from_a_link_says_why(app, session):
    admin = sign_in_as(app, session, "admin")
    page = admin.post("/staff/users", data={"email": "val@example.org", "role": "staff"}).get_data(as_text=True)
    link = re.search(r"http://127\.0\.0\.1:5000(/account/password/[^<\s\"]+)", page).group(1)
    answer = app.test_client().post(link, data={"password": "password1234", "confirm": "password1234"})
    assert answer.status_code == 400
    assert "too easy to guess" in answer.get_data(as_text=True)
    assert session.scalar(select(User.password_hash).where(User.email == "val@example.org")) is None


class TransactionWatchingHasher(PasswordHasher):
    """The real hasher, noting whether the request's database session was inside a transaction
    (on SQLite: holding the writer lock) each time a password was hashed."""

    def __init__(self) -> None:
        super().__init__()
        self.in_transaction: list[bool] = []

    def hash(self, password, *, salt=None):
        from fundraiser.db import get_session

        self.in_transaction.append(get_session().in_transaction())
        return super().hash(password, salt=salt)


def _set_password_link(arrange, email: str) -> str:
    from fundraiser.audit import Actor
    from fundraiser.settings import current_settings

    with arrange() as session:
        user = users.invite_user(session, Actor(None), email, "staff")
        session.flush()
        return f"/account/password/{users.set_password_token(current_settings().secret_key, user)}"


def test_a_chosen_password_is_hashed_outside_any_transaction(live_server, arrange, monkeypatch):
    """Hashing takes a while and 64 MiB: no write lock or transaction is held meanwhile."""
    watching = TransactionWatchingHasher()
    monkeypatch.setattr(users, "_hasher", watching)
    link = _set_password_link(arrange, "newcomer@example.org")
    form = {"password": "fresh garden ladder", "confirm": "fresh garden ladder"}
    answer = requests.post(f"{live_server.url}{link}", data=form, allow_redirects=False, timeout=30)
    assert answer.status_code == 302 and watching.in_transaction == [False]
    again = requests.post(f"{live_server.url}{link}", data=form, allow_redirects=False, timeout=30)
    assert again.status_code == 404  # the link was used up


def test_choosing_a_password_when_every_hashing_slot_is_taken_is_asked_to_come_back(live_server, arrange, monkeypatch):
    monkeypatch.setattr(users, "HASH_WAIT_SECONDS", 0.2)
    link = _set_password_link(arrange, "waiting@example.org")
    for _ in range(users.CONCURRENT_HASHES):
        users._hash_slots.acquire()
    try:
        answer = requests.post(f"{live_server.url}{link}", data={"password": "fresh garden ladder",
                               "confirm": "fresh garden ladder"}, allow_redirects=False, timeout=30)
    finally:
        for _ in range(users.CONCURRENT_HASHES):
            users._hash_slots.release()
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
    assert "try again in a few seconds" in answer.text
    with arrange() as session:
        assert session.scalar(select(User.password_hash).where(User.email == "waiting@example.org")) is None
