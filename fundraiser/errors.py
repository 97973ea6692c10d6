"""Friendly error pages for people, JSON errors under /api/."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import BadHost, HTTPException, InternalServerError, NotFound


def wants_json() -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, message: str, **details):
    """A JSON error body every API client can rely on: {"error": {"status", "message", ...}}."""
    response = jsonify({"error": {"status": status, "message": message, **details}})
    response.status_code = status
    return response


def _handle_http(exc: HTTPException):
    status = exc.code or 500
    if isinstance(exc, BadHost):
        exc.description = "The request names a host that is not a valid host name."
    if wants_json():
        return json_error(status, exc.description or exc.name)
    if isinstance(exc, BadHost):
        # No page can be drawn: its links are built from the host, and this one can't be used.
        return f"{exc.name}: {exc.description}\n", status, {"Content-Type": "text/plain; charset=utf-8"}
    template = {404: "errors/404.html", 403: "errors/403.html"}.get(status, "errors/error.html")
    message = exc.description
    if status == 404 and message == NotFound.description:
        message = None  # Werkzeug's words for a server admin; the page has its own for visitors
    return render_template(template, status=status, title=exc.name, message=message), status


def _handle_unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return _handle_http(exc)
    # Keep the traceback in the log; say nothing internal to the visitor.
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    status = 500
    if wants_json():
        return json_error(status, "Something went wrong on our side. Please try again.")
    return render_template("errors/error.html", status=status, title="Something went wrong",
                           message=InternalServerError.description), status


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)
