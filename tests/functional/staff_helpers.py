"""Signing in as each role for the staff console tests."""

from fundraiser.auth.access import SESSION_KEY
from fundraiser.auth.users import create_user, password_stamp
from fundraiser.db import utcnow
from fundraiser.models import User

PASSWORD = "a very good password"


def sign_in_as(app, session, role: str, email: str | None = None):
    """A test client signed in with a new account of this role."""
    email = email or f"{role}@example.org"
    create_user(session, email, role, PASSWORD)
    session.commit()
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def signed_in_client(app, session, role: str, password_hash: str):
    """A client whose session is already signed in (no Argon2 work per request); for the role matrix."""

    user = User(email=f"{role}@example.org", role=role, password_hash=password_hash)
    session.add(user)
    session.commit()
    client = app.test_client()
    put_in_session(client, user)
    return client


def put_in_session(client, user) -> None:
    """Make `client` signed in as `user`, as the sign-in form would leave its session."""
    with client.session_transaction() as s:
        s[SESSION_KEY] = user.id
        s["stamp"] = password_stamp(user)
        s["signed_in_at"] = utcnow().isoformat()
        s.permanent = True
