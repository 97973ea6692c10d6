"""Security headers in production, and server errors that say nothing about the internals."""

from __future__ import annotations

from tests.netutil import free_port


def _production(make_app):
    return make_app(FUNDRAISER_ENV="production", BASE_URL="https://give.example.org", AUTO_SEED_DEMO="false",
                    SECRET_KEY="kR7vQ2xLp9ZtW4mN8cYb3HsJ6fDg1AeUq5Wz", SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()), MAIL_FROM="r@example.org")


def test_production_sends_hsts_and_secure_cookies(make_app):
    app = _production(make_app)
    response = app.test_client().get("/", base_url="https://give.example.org")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert app.config["SESSION_COOKIE_SECURE"] is True and app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_development_sends_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_a_crash_shows_a_plain_page_and_leaks_nothing(make_app):
    app = _production(make_app)

    def boom():
        raise RuntimeError("secret connection string postgresql://admin:hunter2@db")

    app.add_url_rule("/boom", view_func=boom)
    app.add_url_rule("/api/boom", view_func=boom, endpoint="api_boom")
    client = app.test_client()
    page = client.get("/boom", base_url="https://give.example.org")
    assert page.status_code == 500
    html = page.get_data(as_text=True)
    assert "hunter2" not in html and "Traceback" not in html and "RuntimeError" not in html
    api = client.get("/api/boom", base_url="https://give.example.org")
    assert api.status_code == 500 and "hunter2" not in api.get_data(as_text=True)
    assert api.get_json()["error"]["status"] == 500
