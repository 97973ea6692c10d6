"""The home page and campaign pages, served from memory: rendered once per change, with an ETag.

Every donor opening a campaign page got it rendered afresh (a dozen queries, ~4 ms of templates);
now each process keeps the last rendering of each page with the live hub's generation at the
time (live.py: it moves whenever any public campaign's progress, totals, status or matches
change, here or in another process within LIVE_POLL_SECONDS) and renders again only when the
generation has moved, when the organisation's settings differ from the ones it was rendered with
(organisation.py: at once in the process that saved them, within its cache time elsewhere), or
after MAX_AGE: what neither sees (a comment approved for the wall, the days left) shows within that. Only anonymous GETs without
a query string and without a session cookie's content are served from here, and a rendering that
wrote to the session (a CSRF token, a flashed message) is never kept: nothing of one visitor's
reaches another. Signed-in staff always get a fresh page.

While one thread renders a stale page again, the process's other threads keep serving the page it
replaces (one change old) instead of rendering it too: after a gift during a crowd, each process
renders each page once, not once per thread that arrives before the first rendering is done.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, current_app, request, session
from flask.typing import ResponseReturnValue

from .. import live, organisation
from ..auth.access import current_user

MAX_AGE_SECONDS = 30.0
_CSP_KEY = "fundraiser.csp_extra"  # security.py's per-request policy additions
_rendering_lock = threading.Lock()


@dataclass(frozen=True)
class CachedPage:
    generation: int
    org: organisation.Organisation
    rendered_at: float
    body: bytes
    etag: str
    csp_extra: dict[str, tuple[str, ...]]


def _pages() -> dict[str, CachedPage]:
    return current_app.extensions.setdefault("fundraiser.page_cache", {})


def _claim_rendering(key: str) -> bool:
    """Whether this thread may render `key` again: False while another thread of this app does."""
    rendering = current_app.extensions.setdefault("fundraiser.page_cache_rendering", set())
    with _rendering_lock:
        if key in rendering:
            return False
        rendering.add(key)
        return True


def _end_rendering(key: str) -> None:
    with _rendering_lock:
        current_app.extensions["fundraiser.page_cache_rendering"].discard(key)


def _cacheable() -> bool:
    return request.method == "GET" and not request.args and not session and current_user() is None


def serve(key: str, render: Callable[[], ResponseReturnValue]) -> ResponseReturnValue:
    """The page under `key` from this process's cache (rendering it when stale), or `render()`
    itself for requests that must not share a page."""
    if not _cacheable():
        return render()
    generation = live.hub().generation()
    org = organisation.current_organisation()
    page = _pages().get(key)
    now = time.monotonic()
    stale = (page is None or page.generation != generation or page.org != org
             or now - page.rendered_at > MAX_AGE_SECONDS)
    # The first rendering of a page has nothing to serve meanwhile: threads that find none render it.
    claimed = stale and page is not None and _claim_rendering(key)
    if page is None or claimed:
        try:
            response = current_app.make_response(render())
            if response.status_code != 200 or session.modified:
                return response
            body = response.get_data()
        finally:
            if claimed:
                _end_rendering(key)
        extra = {k: tuple(v) for k, v in request.environ.get(_CSP_KEY, {}).items()}
        page = CachedPage(generation, org, now, body, hashlib.sha256(body).hexdigest()[:24], extra)
        _pages()[key] = page
    else:
        # The policy the page was rendered with (Stripe's origins on a donate form), for security.py.
        request.environ[_CSP_KEY] = {k: list(v) for k, v in page.csp_extra.items()}
    if request.if_none_match.contains(page.etag):
        response = Response(status=304)
    else:
        response = Response(page.body, mimetype="text/html")
    response.set_etag(page.etag)
    response.headers["Cache-Control"] = "no-cache"  # browsers ask again each time, with the ETag
    response.vary.add("Cookie")
    return response
