"""JSON API: campaign progress for bars, widgets and other sites."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import campaigns
from ..db import get_session
from ..errors import json_error

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/campaigns/<slug>/progress")
def progress(slug: str):
    """Progress JSON with an ETag; a matching If-None-Match gets 304 and no body."""
    snapshot = campaigns.progress_by_slug(get_session(), slug)
    if snapshot is None:
        return json_error(404, f"No public campaign is called {slug!r}.")
    response = jsonify(snapshot.as_json())
    response.set_etag(snapshot.etag)
    response.headers["Cache-Control"] = "no-cache"
    # Any site may show a campaign's progress (the WordPress widget reads it).
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "ETag"
    return response.make_conditional(request)


@bp.get("/health")
def health():
    """Liveness for load balancers and uptime checks: answers without touching the database."""
    return jsonify({"status": "ok"})
