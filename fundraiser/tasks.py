"""Work that must not delay a response: started in a thread after the request's transaction commits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask, current_app

log = logging.getLogger(__name__)


def in_background(fn: Callable[[], object]) -> None:
    """Run `fn` in a daemon thread with an app context; its failures are logged and retried later
    by the CLI commands (`send-receipts`, `fill-fees`), never raised into the request."""
    app: Flask = current_app._get_current_object()
    if not app.config.get("BACKGROUND_TASKS", True):
        return

    def run() -> None:
        with app.app_context():
            try:
                fn()
            except Exception:
                log.exception("Background task failed; it will be retried by the CLI")

    threading.Thread(target=run, daemon=True, name="fundraiser-task").start()
