"""Security headers on every response, with a Content-Security-Policy views can widen per page."""

from __future__ import annotations

from flask import Flask, Response, request

from .settings import current_settings

BASE_POLICY: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "font-src": ["'self'"],
    "frame-src": ["'none'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def _extra() -> dict[str, list[str]]:
    # Kept on the request, not on `g`: an app context can outlive one request.
    return request.environ.setdefault("fundraiser.csp_extra", {})


def allow(directive: str, *sources: str) -> None:
    """Widen this response's policy, e.g. allow("script-src", "https://js.stripe.com")."""
    _extra().setdefault(directive, []).extend(sources)


def policy_header() -> str:
    policy = {k: list(v) for k, v in BASE_POLICY.items()}
    for directive, sources in _extra().items():
        current = [s for s in policy.get(directive, []) if s != "'none'"]
        policy[directive] = current + [s for s in sources if s not in current]
    return "; ".join(f"{k} {' '.join(v)}" for k, v in policy.items())


def _set_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = policy_header()
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if "frame-ancestors" not in _extra():
        response.headers.setdefault("X-Frame-Options", "DENY")
    if current_settings().is_production:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_set_headers)
