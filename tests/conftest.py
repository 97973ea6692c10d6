"""Fixtures: an app on a real database (SQLite file, or PostgreSQL from the environment), a client,
a CLI runner, and a clean database for every test.

Set FUNDRAISER_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test to run the
whole suite on PostgreSQL; without it, the suite runs on a SQLite file in a temporary folder.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import jinja2
import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session
from werkzeug.routing import Rule
from werkzeug.serving import make_server

from fundraiser import create_app
from fundraiser.auth import users
from fundraiser.db import Base, make_engine
from fundraiser.schema import upgrade
from tests.netutil import serve_in_thread

TEST_SECRET = "test-secret-key-that-is-long-enough-for-everything"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    """One database for the whole run, migrated from scratch through Alembic."""
    url = os.environ.get("FUNDRAISER_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        # Dead catalog rows (from each run's DROP SCHEMA and migrations, and from the TRUNCATEs the
        # wipe once used) pile up where autovacuum is off, as on the CI machines, and once slowed a
        # whole run by minutes.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM pg_catalog.pg_class, pg_catalog.pg_attribute, pg_catalog.pg_depend, "
                              "pg_catalog.pg_type, pg_catalog.pg_index, pg_catalog.pg_constraint"))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    engine.dispose()
    yield url


def _wipe(app: Flask) -> None:
    wipe_engine(app.extensions["fundraiser.engine"])


def wipe_engine(engine) -> None:
    """Empty every table, keeping the schema, and start ids from 1 again.

    DELETE, children first, on PostgreSQL too: a test leaves a few rows, and TRUNCATE of 35
    tables took about 500 ms a test against 30 ms for DELETE (each TRUNCATE gives every table and
    index a new file, and leaves dead catalog rows that autovacuum, off on the CI machines, never
    clears). setval restarts the sequences in place, without new files either.
    """
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        for name in tables:
            conn.execute(text(f"DELETE FROM {name}"))
        if engine.dialect.name == "postgresql":
            conn.execute(text(
                "SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'S' AND n.nspname = current_schema()"
            ))


class _TemplateCode(jinja2.BytecodeCache):
    """Compiled templates shared by every app the run builds.

    A test builds a new app, and each app compiles each template it renders again: about 30 ms
    of the home page's first view of 50 ms. Jinja checks each template's source against the
    stored code's checksum, so an edited template is compiled anew."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self._code:
            bucket.bytecode_from_string(self._code[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATE_CODE = _TemplateCode()


WERKZEUG_COMPILE_BUILDER = Rule._compile_builder


def _share_url_builders() -> None:
    """Compile each URL rule's builder once per run instead of once per app.

    Werkzeug compiles two Python functions for every URL rule of every new app (with `ast` and
    `compile`), and every test builds its own app: with the shared templates below, a test's fixed
    cost went from about 165 to 80 ms, a quarter of the CPU of tests/unit and tests/payments. The
    function is made from the rule's parsed parts alone and reaches the rule's converters through
    its `self` argument, so one compiled for an identical rule serves any app's copy of it
    (tests/functional/test_test_fixtures.py checks every rule of the app against Werkzeug's own)."""
    compile_builder = WERKZEUG_COMPILE_BUILDER
    builders: dict[tuple, object] = {}

    def shared(rule: Rule, append_unknown: bool = True):
        defaults = tuple(sorted((name, rule._converters[name].to_url(value) if name in rule._converters else repr(value))
                                for name, value in (rule.defaults or {}).items()))
        key = (rule.rule, tuple(rule._trace), defaults, append_unknown)
        if key not in builders:
            builders[key] = compile_builder(rule, append_unknown)
        return builders[key]

    Rule._compile_builder = shared


_share_url_builders()

# Passwords in tests hash with Argon2id's cheapest parameters. The app's own (argon2-cffi's
# default: 64 MiB, 3 passes, 4 lanes) took 150-300 ms a hash, and a test that signs someone in
# hashes twice. The tests of the hashing slots install production-strength hashers of their own
# (test_sign_in_security; the stand-in hash for unknown emails is made by the hasher in use),
# subprocesses and gunicorn workers hash as production does, and test_auth checks that
# PRODUCTION_HASHER is still argon2-cffi's recommended profile.
PRODUCTION_HASHER = users._hasher
users._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def app_config(database_url: str, instance_path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "FUNDRAISER_ENV": "testing",
        "FUNDRAISER_INSTANCE_PATH": str(instance_path),
        "SECRET_KEY": TEST_SECRET,
        "ORG_TIMEZONE": "America/New_York",
        **extra,
    }


@pytest.fixture
def make_app(database_url, tmp_path) -> Iterator:
    """Build apps with extra settings; the database is wiped after the test."""
    apps: list[Flask] = []

    def factory(**extra: str) -> Flask:
        app = create_app(app_config(database_url, tmp_path / "instance", **extra))
        app.jinja_env.bytecode_cache = _TEMPLATE_CODE
        # Tests post forms without tokens; tests of CSRF itself turn it back on.
        app.config["WTF_CSRF_ENABLED"] = False
        apps.append(app)
        return app

    yield factory
    for app in apps:
        # Background work a test set off (applying events, follow-ups) finishes before the engine
        # goes: a thread still holding a connection would leave it open past the test.
        for drainer in app.extensions.get("fundraiser.drainers", {}).values():
            if drainer._running.acquire(timeout=30):
                drainer._running.release()
        app.extensions["fundraiser.mail"].stop()
        app.extensions["fundraiser.live"].stop()
        app.extensions["fundraiser.housekeeping"].stop()
        app.extensions["fundraiser.engine"].dispose()
        app.extensions["fundraiser.statement_engine"].dispose()
    if apps:
        # Wipe the shared test database even when a test pointed its app elsewhere.
        engine = make_engine(database_url)
        wipe_engine(engine)
        engine.dispose()


@pytest.fixture
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app) -> Iterator[Session]:
    """The app's own request/command session, inside an app context.

    While it is open, test-client requests share this context and its session, which a running
    server never does: tests of downloads, streams and background work use `arrange` and
    `live_server` (or `staff_http`) instead."""
    from fundraiser.db import get_session

    with app.app_context():
        yield get_session()


@pytest.fixture
def dialect(app) -> str:
    return app.extensions["fundraiser.engine"].dialect.name


class LiveServer:
    """A real HTTP server for the test's app, on a free loopback port, in a thread.

    Werkzeug serves each request in a daemon thread that nothing joins, so a request the browser
    sent just before the test ended (a favicon, a status poll) could still be using the app while
    its teardown stops the background workers and disposes of the engine: the connection it then
    opened was left for the garbage collector, whose ResourceWarning failed a later test. stop()
    therefore turns new requests away and waits for those under way. Event streams are not waited
    for: they hold no database connection while they wait, and end when the viewer has gone."""

    def __init__(self, app) -> None:
        self.app = app
        self._working = 0  # requests under way that may use the database
        self._closed = False
        self._quiet = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread: threading.Thread | None = None

    def _wsgi(self, environ, start_response):
        """The app, counted while it works, with every response closed even when the browser drops
        the connection (Werkzeug's development server skips close() when reading the rest of a
        dropped request fails; production servers close responses themselves)."""
        with self._quiet:
            if self._closed:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"The test server is stopping."]
            self._working += 1
        return self._counted(environ, start_response)

    def _counted(self, environ, start_response):
        working = True

        def done() -> None:
            nonlocal working
            if working:
                working = False
                with self._quiet:
                    self._working -= 1
                    self._quiet.notify_all()

        def starting(status, headers, *exc_info):
            if any(k.lower() == "content-type" and v.startswith("text/event-stream") for k, v in headers):
                done()
            return start_response(status, headers, *exc_info)

        try:
            body = self.app(environ, starting)
            try:
                yield from body
            finally:
                if hasattr(body, "close"):
                    body.close()
        finally:
            done()

    def start(self) -> LiveServer:
        self._thread = serve_in_thread(self._server)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()  # waits for serve_forever, so only once it was started
            self._thread.join(timeout=10)
        with self._quiet:
            self._closed = True
            self._quiet.wait_for(lambda: self._working == 0, timeout=10)
        self._server.server_close()


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def arrange(app):
    """Build test data in an application context that ends before the test acts, so requests to
    the live server (downloads, streams, background work) run as they do in production: each in
    its own context, with its own database session closed at teardown."""
    from contextlib import contextmanager

    from fundraiser.db import get_session

    @contextmanager
    def scope() -> Iterator[Session]:
        with app.app_context():
            session = get_session()
            yield session
            session.commit()

    return scope


@pytest.fixture
def staff_http(app, arrange, live_server):
    """A real HTTP client signed in to the live server as a new staff (or other role) account."""
    from fundraiser.auth.users import create_user
    from tests.http_client import HttpClient

    def sign_in(role: str = "staff", email: str | None = None):
        email = email or f"{role}-http@example.org"
        with arrange() as session:
            create_user(session, email, role, "a very good password")
        return HttpClient(live_server.url).sign_in(email, "a very good password")

    return sign_in
