"""Who is signed in, and the role check every staff and board view goes through."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps

from flask import abort, has_request_context, redirect, request, session, url_for

from ..db import get_session, utcnow
from ..models import Role, User
from .users import end_sessions, password_stamp

SESSION_KEY = "user_id"
# However active the person is, a session ends this long after signing in (idle sessions end
# sooner: PERMANENT_SESSION_LIFETIME, renewed by each request).
MAX_SESSION_AGE = timedelta(hours=12)


def _session_is_valid(user: User | None) -> bool:
    if user is None or not user.is_active:
        return False
    # A password reset or change ends every session signed in with the old password.
    if session.get("stamp") != password_stamp(user):
        return False
    try:
        signed_in_at = datetime.fromisoformat(session.get("signed_in_at", ""))
    except (TypeError, ValueError):
        return False
    return utcnow() - signed_in_at < MAX_SESSION_AGE


CACHE_KEY = "fundraiser.current_user"


def current_user() -> User | None:
    """The signed-in, active user of this request, or None."""
    if not has_request_context():
        return None
    # Cached on the request, not on `g`: an app context can outlive one request (tests, CLI).
    if CACHE_KEY not in request.environ:
        user_id = session.get(SESSION_KEY)
        user = get_session().get(User, user_id) if user_id is not None else None
        request.environ[CACHE_KEY] = user if _session_is_valid(user) else None
    return request.environ[CACHE_KEY]


def sign_in(user: User) -> None:
    session.clear()  # a fresh session on sign-in prevents session fixation
    session[SESSION_KEY] = user.id
    session["stamp"] = password_stamp(user)
    session["signed_in_at"] = utcnow().isoformat()
    session.permanent = True
    request.environ[CACHE_KEY] = user


def sign_out() -> None:
    """End the session on the server too, so a copied cookie stops working (this raises the
    person's session generation: their sessions on other devices end as well). The caller commits."""
    user = current_user()
    if user is not None:
        end_sessions(user)
        get_session().flush()
    session.clear()
    request.environ[CACHE_KEY] = None


def roles_required(*roles: Role) -> Callable:
    """Only these roles may open the view: visitors go to sign-in, other roles get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if user.role not in roles:
                abort(403, description="Your account doesn't have access to this page.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


STAFF_ROLES = (Role.ADMIN, Role.STAFF)
VIEW_ROLES = (Role.ADMIN, Role.STAFF, Role.BOARD)
