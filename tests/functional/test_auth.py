"""Sign-in, sign-out, CSRF and the role decorator."""

import re

import pytest

from fundraiser.auth.access import roles_required
from fundraiser.auth.users import AccountError, create_user
from fundraiser.models import Role, User


@pytest.fixture
def csrf_app(make_app):
    """An app with CSRF checks on, as in production."""
    app = make_app()
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_create_user_cli_makes_an_account_that_can_sign_in(runner, session, app):
    result = runner.invoke(
        args=["create-user", "Volunteer@Example.org", "--role", "staff"],
        env={"FUNDRAISER_USER_PASSWORD": "correct horse battery"},
    )
    assert result.exit_code == 0, result.output
    user = session.query(User).one()
    assert user.email == "volunteer@example.org" and user.role == Role.STAFF
    assert user.password_hash.startswith("$argon2id$")


def test_the_app_hashes_passwords_with_argon2s_recommended_parameters():
    """Tests hash cheaply (tests/conftest.py); what the app itself uses is RFC 9106's low-memory
    profile, argon2-cffi's default."""
    from argon2.profiles import RFC_9106_LOW_MEMORY

    from tests.conftest import PRODUCTION_HASHER

    assert (PRODUCTION_HASHER.time_cost, PRODUCTION_HASHER.memory_cost, PRODUCTION_HASHER.parallelism) == (
        RFC_9106_LOW_MEMORY.time_cost, RFC_9106_LOW_MEMORY.memory_cost, RFC_9106_LOW_MEMORY.parallelism)
    assert PRODUCTION_HASHER.hash("a very good password").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_create_user_refuses_short_passwords_and_duplicates(session):
    with pytest.raises(AccountError, match="at least 12"):
        create_user(session, "a@example.org", "staff", "short")
    create_user(session, "a@example.org", "staff", "long enough password")
    with pytest.raises(AccountError, match="already an account"):
        create_user(session, "A@example.org ", "board", "long enough password")


def test_sign_in_and_out_with_csrf(csrf_app, session):
    create_user(session, "staff@example.org", "staff", "a very good password")
    session.commit()
    client = csrf_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    refused = client.post("/login", data={"email": "staff@example.org", "password": "a very good password"})
    assert refused.status_code == 400  # no CSRF token
    wrong = client.post("/login", data={"csrf_token": _token(page), "email": "staff@example.org", "password": "nope nope nope"})
    assert wrong.status_code == 401
    assert "match an active account" in wrong.get_data(as_text=True)
    ok = client.post(
        "/login?next=/campaigns/x",
        data={"csrf_token": _token(page), "email": "STAFF@example.org", "password": "a very good password"},
    )
    assert ok.status_code == 302 and ok.headers["Location"] == "/campaigns/x"
    home = client.get("/").get_data(as_text=True)
    assert "Sign out" in home
    client.post("/logout", data={"csrf_token": _token(home)})
    assert "Sign out" not in client.get("/").get_data(as_text=True)


def test_next_never_leaves_the_site(client, session):
    create_user(session, "b@example.org", "board", "a very good password")
    session.commit()
    response = client.post(
        "/login?next=//evil.example/x", data={"email": "b@example.org", "password": "a very good password"}
    )
    assert response.status_code == 302 and "evil" not in response.headers["Location"]


def test_deactivated_user_cannot_sign_in(client, session):
    user = create_user(session, "c@example.org", "staff", "a very good password")
    user.is_active = False
    session.commit()
    response = client.post("/login", data={"email": "c@example.org", "password": "a very good password"})
    assert response.status_code == 401


def test_roles_required_redirects_visitors_and_forbids_other_roles(app, session):
    @app.get("/only-admins")
    @roles_required(Role.ADMIN)
    def only_admins():
        return "secret"

    create_user(session, "board@example.org", "board", "a very good password")
    create_user(session, "admin@example.org", "admin", "a very good password")
    session.commit()
    client = app.test_client()
    visitor = client.get("/only-admins")
    assert visitor.status_code == 302 and visitor.headers["Location"].startswith("/login?next=/only-admins")
    client.post("/login", data={"email": "board@example.org", "password": "a very good password"})
    assert client.get("/only-admins").status_code == 403
    client.post("/logout")
    client.post("/login", data={"email": "admin@example.org", "password": "a very good password"})
    assert client.get("/only-admins").get_data(as_text=True) == "secret"


def test_a_request_without_a_session_cookie_skips_the_signer_and_one_with_a_cookie_is_read(csrf_app, session, monkeypatch):
    from fundraiser.auth.cookies import SessionCookies

    create_user(session, "staff@example.org", "staff", "a very good password")
    session.commit()
    client = csrf_app.test_client()
    page = client.get("/login").get_data(as_text=True)  # sets the cookie holding the CSRF token
    client.post("/login", data={"csrf_token": _token(page), "email": "staff@example.org", "password": "a very good password"})

    built: list[bool] = []
    signer = SessionCookies.get_signing_serializer
    monkeypatch.setattr(SessionCookies, "get_signing_serializer", lambda self, app: built.append(True) or signer(self, app))
    assert "Sign out" in client.get("/").get_data(as_text=True)  # the cookie is read: still signed in
    assert built
    built.clear()
    anonymous = csrf_app.test_client()
    assert anonymous.get("/api/health").status_code == 200 and not built  # no cookie, no signer
    assert "Sign out" not in anonymous.get("/").get_data(as_text=True)
    client.set_cookie("session", "forged.value.here")
    assert "Sign out" not in client.get("/").get_data(as_text=True)  # a bad cookie is an empty session


def test_a_signed_in_browser_gets_no_cookie_with_static_files(staff_http):
    """Pages renew the session; stylesheets and icons do not, so a shared cache may keep them
    and an icon still loading after sign-out cannot put the old session back."""
    staff = staff_http("staff")
    assert "session=" in staff.get("/staff/").headers.get("Set-Cookie", "")
    for path in ("/static/css/site.css", "/static/favicon.svg"):
        reply = staff.get(path)
        assert reply.status == 200 and "Set-Cookie" not in reply.headers, path
    assert staff.get("/staff/").status == 200  # the cookie the browser holds still signs it in
