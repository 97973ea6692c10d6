"""Real-browser fixtures: the app served on a loopback port, and Debian's Chromium driven by Playwright.

Chromium comes from Debian (`apt-get install -y chromium`), never from Playwright's downloader. Where it
is missing the browser tests are skipped with that instruction, unless FUNDRAISER_REQUIRE_BROWSER=1
(CI sets it), in which case they fail.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("FUNDRAISER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM}: `apt-get install -y chromium` to run browser tests."
        if os.environ.get("FUNDRAISER_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class LiveServer:
    """A real HTTP server for the test's app, on a free loopback port, in a thread."""

    def __init__(self, app) -> None:
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def page(browser) -> Iterator:
    """A fresh browser context and page; console errors are collected on page.console_errors."""
    context = browser.new_context()
    pg = context.new_page()
    pg.console_errors = []
    pg.on("console", lambda msg: pg.console_errors.append(msg.text) if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: pg.console_errors.append(str(exc)))
    yield pg
    context.close()
