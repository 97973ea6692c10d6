"""Work that must not delay a response: run in a background thread after the request's transaction commits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask, current_app

log = logging.getLogger(__name__)


class Drainer:
    """Runs one function in at most one background thread per process; kicks that arrive while it
    runs make it run once more. For queues drained by a loop (stored Stripe events): a burst of
    200 webhooks starts one thread, not 200."""

    def __init__(self, app: Flask, fn: Callable[[], object], name: str) -> None:
        self._app = app
        self._fn = fn
        self._name = name
        self._running = threading.Lock()
        self._again = threading.Event()

    def kick(self) -> None:
        if not self._app.config.get("BACKGROUND_TASKS", True):
            return
        self._again.set()
        if self._running.acquire(blocking=False):
            threading.Thread(target=self._run, daemon=True, name=self._name).start()

    def _run(self) -> None:
        while True:
            try:
                while self._again.is_set():
                    self._again.clear()
                    with self._app.app_context():
                        try:
                            self._fn()
                        except Exception:
                            log.exception("Background %s failed; the CLI retries it", self._name)
            finally:
                self._running.release()
            # A kick between the last check and the release found the lock taken: pick it up.
            if not (self._again.is_set() and self._running.acquire(blocking=False)):
                return


def drainer(name: str, fn: Callable[[], object]) -> Drainer:
    """This app's drainer called `name` (created on first use)."""
    app: Flask = current_app._get_current_object()
    drainers: dict[str, Drainer] = app.extensions.setdefault("fundraiser.drainers", {})
    if name not in drainers:
        drainers[name] = Drainer(app, fn, name)
    return drainers[name]
