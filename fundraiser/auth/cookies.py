"""The session cookie: Flask's signed cookie, read only when the request brings one."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class SessionCookies(SecureCookieSessionInterface):
    """Flask's own interface builds the cookie's signer (itsdangerous, key derivation and all) on
    every request, before it looks for a cookie. Most requests bring none: Stripe's webhooks,
    the progress API, the widget and donors' first visits. Profiling a webhook flood had that
    at 5% of the workers' time, so without a cookie a fresh session comes straight back."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)
