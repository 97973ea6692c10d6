"""Who may open what in the staff console, CSRF, sign-in throttling, sessions and accounts."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from fundraiser.auth import throttle
from fundraiser.db import utcnow
from fundraiser.models import AuditLog, MatchingChallenge, OutboxMessage, Role, User
from tests.factories import give, local_today, make_campaign, make_donor, make_event
from tests.functional.staff_helpers import PASSWORD, sign_in_as, signed_in_client

# Every console URL (with {gift}, {campaign}, {event}, {donor} filled in) and the roles that may use it.
STAFF_GET = [
    "/staff/", "/staff/gifts", "/staff/gifts/new", "/staff/gifts/deposit", "/staff/gifts/{gift}",
    "/staff/gifts/unattributed", "/staff/donors/search.json?q=don", "/staff/campaigns", "/staff/campaigns/new",
    "/staff/campaigns/{campaign}/edit", "/staff/events", "/staff/events/new", "/staff/events/{event}",
    "/staff/events/{event}/edit", "/staff/donors", "/staff/donors/new", "/staff/donors/{donor}",
    "/staff/donors/{donor}/edit", "/staff/donors/{donor}/statement/2026", "/staff/donors/{donor}/statement/2026.pdf",
    "/staff/gifts.csv", "/staff/donors.csv", "/staff/events.csv", "/staff/import", "/staff/wall",
    "/staff/campaigns/{campaign}/matches/{match}",
]
STAFF_POST = [
    "/staff/gifts/new", "/staff/gifts/deposit", "/staff/gifts/{gift}/correct", "/staff/gifts/{gift}/void",
    "/staff/gifts/{gift}/assign", "/staff/gifts/{gift}/resend", "/staff/campaigns/new",
    "/staff/campaigns/{campaign}/edit", "/staff/campaigns/{campaign}/status", "/staff/campaigns/{campaign}/cover",
    "/staff/events/new", "/staff/events/{event}/edit", "/staff/events/{event}/proceeds", "/staff/donors/new",
    "/staff/donors/{donor}/edit", "/staff/donors/{donor}/merge", "/staff/import", "/staff/import/0123abcd",
    "/staff/wall/{gift}", "/staff/campaigns/{campaign}/matches", "/staff/campaigns/{campaign}/matches/{match}",
]
ADMIN_GET = ["/staff/users", "/staff/audit"]
ADMIN_POST = ["/staff/users", "/staff/users/{user}", "/staff/settings/backup"]

CASES = (
    [("GET", url, "staff") for url in STAFF_GET]
    + [("POST", url, "staff") for url in STAFF_POST]
    + [("GET", url, "admin") for url in ADMIN_GET]
    + [("POST", url, "admin") for url in ADMIN_POST]
)
EXPECTED = {
    # (who may, who asks) -> status
    ("staff", None): 302, ("staff", "board"): 403, ("staff", "staff"): "ok", ("staff", "admin"): "ok",
    ("admin", None): 302, ("admin", "board"): 403, ("admin", "staff"): 403, ("admin", "admin"): "ok",
}


@pytest.fixture
def records(session):
    campaign = make_campaign(session, currency="USD")
    donor = make_donor(session, name="Donna Matrix")
    gift = give(session, campaign, 5000, donor=donor)
    event = make_event(session, campaign, host_donor_id=donor.id)
    match = MatchingChallenge(campaign_id=campaign.id, sponsor="Board", ratio_percent=100, cap_cents=100_000)
    session.add(match)
    session.commit()
    return {"gift": gift.id, "campaign": campaign.id, "event": event.id, "donor": donor.id, "match": match.id}


@pytest.fixture(scope="module")
def password_hash():
    from fundraiser.auth.users import hash_password

    return hash_password(PASSWORD)


@pytest.mark.parametrize("role", [None, "board", "staff", "admin"])
@pytest.mark.parametrize(("method", "url", "allowed"), CASES)
def test_permission_matrix(app, session, records, password_hash, role, method, url, allowed):
    if role is None:
        client = app.test_client()
    else:
        client = signed_in_client(app, session, role, password_hash)
    records["user"] = session.scalar(select(User.id).order_by(User.id)) or 1
    path = url.format(**records)
    response = client.get(path) if method == "GET" else client.post(path, data={})
    response.close()  # a download's file is closed with its response, as a server does
    expected = EXPECTED[(allowed, role)]
    if expected == 302:
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/staff")
    elif expected == 403:
        assert response.status_code == 403
        assert not session.scalars(select(AuditLog)).all()  # a refused request changes nothing
    else:
        # Allowed: the page renders, or an empty form comes back with its messages (never 401/403/500).
        assert response.status_code in (200, 302, 400), (path, response.status_code)


def test_board_console_has_no_staff_links_and_board_lands_elsewhere(app, session):
    client = sign_in_as(app, session, "board")
    html = client.get("/").get_data(as_text=True)
    assert "/staff/" not in html


@pytest.fixture
def csrf_app(make_app):
    app = make_app()
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def test_staff_posts_without_a_csrf_token_are_refused(csrf_app, session):
    campaign = make_campaign(session)
    session.commit()
    client = sign_in_as_with_csrf(csrf_app, session, "staff")
    page = client.get("/staff/gifts/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"campaign_id": campaign.id, "method": "cash", "amount": "20", "received_on": local_today().isoformat(), "token": "t-csrf"}
    assert client.post("/staff/gifts/new", data=form).status_code == 400
    assert campaign.totals.raised_cents == 0
    assert client.post("/staff/gifts/new", data={**form, "csrf_token": token}).status_code == 302


def sign_in_as_with_csrf(app, session, role):
    from fundraiser.auth.users import create_user

    create_user(session, f"{role}@example.org", role, PASSWORD)
    session.commit()
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"csrf_token": token, "email": f"{role}@example.org", "password": PASSWORD}).status_code == 302
    return client


def test_repeated_failed_sign_ins_are_slowed_per_account(client, session):
    from fundraiser.auth.users import create_user

    create_user(session, "target@example.org", "staff", PASSWORD)
    session.commit()
    for _ in range(throttle.ACCOUNT_FREE_TRIES):
        assert client.post("/login", data={"email": "target@example.org", "password": "wrong guess!!"}).status_code == 401
    blocked = client.post("/login", data={"email": "target@example.org", "password": PASSWORD})
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.get_data(as_text=True)
    assert int(blocked.headers["Retry-After"]) > 0
    # Another account from the same address is not locked by this one's failures.
    create_user(session, "other@example.org", "staff", PASSWORD)
    session.commit()
    assert client.post("/login", data={"email": "other@example.org", "password": PASSWORD}).status_code == 302


def test_failed_sign_ins_are_slowed_per_address_across_accounts(session):
    now = utcnow()
    for n in range(throttle.ADDRESS_FREE_TRIES):
        assert throttle.claim_attempt(session, f"guess{n}@example.org", "203.0.113.9", now=now) == 0
    assert throttle.claim_attempt(session, "fresh@example.org", "203.0.113.9", now=now) > 0
    assert throttle.claim_attempt(session, "fresh@example.org", "198.51.100.1", now=now) == 0
    # The wait doubles with each further attempt and ends by itself.
    assert throttle.claim_attempt(session, "fresh@example.org", "203.0.113.9", now=now + timedelta(minutes=20)) == 0


def test_failed_sign_ins_from_one_ipv6_network_count_together(session):
    """An IPv6 subscriber has a /64 of addresses: a new address for every guess is still one network."""
    now = utcnow()
    for n in range(throttle.ADDRESS_FREE_TRIES):
        assert throttle.claim_attempt(session, f"guess{n}@example.org", f"2001:db8:5:6::{n + 1:x}", now=now) == 0
    assert throttle.claim_attempt(session, "fresh@example.org", "2001:db8:5:6:ffff::1", now=now) > 0
    assert throttle.claim_attempt(session, "fresh@example.org", "2001:db8:5:7::1", now=now) == 0


def test_successful_sign_in_clears_the_account_count(client, session):
    from fundraiser.auth.users import create_user

    create_user(session, "s@example.org", "staff", PASSWORD)
    session.commit()
    for _ in range(throttle.ACCOUNT_FREE_TRIES - 1):
        client.post("/login", data={"email": "s@example.org", "password": "wrong guess!!"})
    assert client.post("/login", data={"email": "s@example.org", "password": PASSWORD}).status_code == 302
    client.post("/logout")
    client.post("/login", data={"email": "s@example.org", "password": "wrong guess!!"})
    assert client.post("/login", data={"email": "s@example.org", "password": PASSWORD}).status_code == 302


def test_sessions_end_after_twelve_hours(app, session):
    client = sign_in_as(app, session, "staff")
    assert client.get("/staff/").status_code == 200
    with client.session_transaction() as s:
        s["signed_in_at"] = (utcnow() - timedelta(hours=13)).isoformat()
    assert client.get("/staff/").status_code == 302


def test_session_cookie_is_secure_httponly_and_samesite_in_production(make_app):
    app = make_app(FUNDRAISER_ENV="production", BASE_URL="https://give.example.org", AUTO_SEED_DEMO="false")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_admin_invites_someone_who_chooses_a_password(app, session):
    admin = sign_in_as(app, session, "admin")
    response = admin.post("/staff/users", data={"email": "New.Volunteer@example.org", "name": "Val", "role": "staff"})
    html = response.get_data(as_text=True)
    link = re.search(r"http://127\.0\.0\.1:5000(/account/password/[^<\s]+)", html).group(1)
    user = session.scalar(select(User).where(User.email == "new.volunteer@example.org"))
    assert user.role == Role.STAFF and user.password_hash is None
    mail = session.scalar(select(OutboxMessage).where(OutboxMessage.to_email == "new.volunteer@example.org"))
    assert link in mail.body_text
    person = app.test_client()
    mismatch = person.post(link, data={"password": "a long new password", "confirm": "another long one"})
    assert mismatch.status_code == 400 and "different" in mismatch.get_data(as_text=True)
    assert person.post(link, data={"password": "a long new password", "confirm": "a long new password"}).status_code == 302
    assert person.get("/staff/").status_code == 200
    assert app.test_client().get(link).status_code == 404  # the link works once


def test_admin_changes_role_deactivates_and_resets_with_audit(app, session):
    admin = sign_in_as(app, session, "admin")
    volunteer = sign_in_as(app, session, "staff", email="vol@example.org")
    user = session.scalar(select(User).where(User.email == "vol@example.org"))
    admin.post(f"/staff/users/{user.id}", data={"change": "role", "role": "board"})
    session.refresh(user)
    assert user.role == Role.BOARD
    assert volunteer.get("/staff/").status_code == 403
    admin.post(f"/staff/users/{user.id}", data={"change": "reset"})
    assert volunteer.get("/staff/").status_code == 302  # the reset signed them out
    admin.post(f"/staff/users/{user.id}", data={"change": "deactivate", "confirm": "yes"})
    session.refresh(user)
    assert not user.is_active
    actions = session.scalars(select(AuditLog.action).where(AuditLog.object_id == str(user.id)).order_by(AuditLog.id)).all()
    assert actions == ["user.role", "user.reset_password", "user.deactivate"]
    log = admin.get("/staff/audit?type=user").get_data(as_text=True)
    assert "user.deactivate" in log


def test_the_last_admin_cannot_be_demoted_or_deactivate_themself(app, session):
    admin = sign_in_as(app, session, "admin")
    me = session.scalar(select(User).where(User.email == "admin@example.org"))
    response = admin.post(f"/staff/users/{me.id}", data={"change": "role", "role": "staff"})
    assert response.status_code == 400 and "only active admin" in response.get_data(as_text=True)
    response = admin.post(f"/staff/users/{me.id}", data={"change": "deactivate", "confirm": "yes"})
    assert response.status_code == 400
    session.refresh(me)
    assert me.role == Role.ADMIN and me.is_active
