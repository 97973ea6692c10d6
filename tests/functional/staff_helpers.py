"""Signing in as each role for the staff console tests."""

from fundraiser.auth.users import create_user

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
