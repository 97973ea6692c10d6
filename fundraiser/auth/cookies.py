"""The session cookie: Flask's signed cookie, read only when the request brings one."""

from __future__ import annotations

from flask import Flask, Request, request
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

    def should_set_cookie(self, app: Flask, session: SecureCookieSession) -> bool:
        """A static file's answer carries no cookie. Renewing the session on every stylesheet
        and icon made those answers uncacheable for a shared cache, and an icon still loading
        after sign-out put the old session back in the browser."""
        endpoint = request.endpoint or ""
        if endpoint.rpartition(".")[2] == "static" and not session.modified:
            return False
        return super().should_set_cookie(app, session)
