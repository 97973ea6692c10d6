"""Database engine, declarative base and the one session each request or command uses."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from .sqlite_lock import LockingConnection, WriterLockTimeout

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 15_000


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC instants; always hands back aware datetimes, also on SQLite (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def make_engine(url: str) -> Engine:
    """Create the engine; on SQLite turn on WAL, foreign keys, a busy timeout and the writer lock
    (sqlite_lock.py)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "factory": LockingConnection})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def make_statement_engine(engine: Engine) -> Engine:
    """An engine for writes that are one statement each and answer a waiting client (the Stripe
    inbox): on PostgreSQL in autocommit mode (the statement is its own transaction: one round
    trip instead of BEGIN, statement, COMMIT) and without the pool's pre-ping (a connection
    that died fails its statement, which answers 5xx, and SQLAlchemy then renews the pool). On
    SQLite, where none of that costs a round trip, the app's own engine."""
    if engine.dialect.name != "postgresql":
        return engine
    # One thread per process writes at a time (inbox.py): two connections are plenty. Time
    # limits, so a hung connection or a lock held by a migration fails fast (5xx) instead of
    # stalling every delivery of the worker.
    return create_engine(
        engine.url, pool_size=2, max_overflow=0, pool_recycle=1800, isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5, "options": "-c statement_timeout=10000",
                      "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3},
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writes can ask for IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A deferred transaction that reads and then writes can fail at once with "database is
        # locked" when another writer committed in between; IMMEDIATE takes the write lock up
        # front, so concurrent writers wait their turn instead: first for the writer lock, which
        # lets them in one after another as soon as each is done, then (busy_timeout) for SQLite's.
        if conn.get_execution_options().get("sqlite_immediate"):
            dbapi_connection = conn.connection.dbapi_connection
            try:
                dbapi_connection.take_writer_lock()
            except (WriterLockTimeout, OSError) as exc:  # a database error, answered like SQLite's own
                raise OperationalError("BEGIN IMMEDIATE", (), exc) from None
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                dbapi_connection.release_writer_lock()
                raise
        else:
            conn.exec_driver_sql("BEGIN")


def init_app(app: Flask, url: str) -> None:
    """Create the engine and session factory for this app and close sessions after each context."""
    engine = make_engine(url)
    app.extensions["fundraiser.engine"] = engine
    app.extensions["fundraiser.statement_engine"] = make_statement_engine(engine)
    app.extensions["fundraiser.sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)
    # Every transaction of a write session (not only its first) locks early on SQLite.
    app.extensions["fundraiser.write_engine"] = (
        engine.execution_options(sqlite_immediate=True) if engine.dialect.name == "sqlite" else engine
    )
    app.teardown_appcontext(_close_session)


def get_engine() -> Engine:
    return current_app.extensions["fundraiser.engine"]


def new_session(*, write: bool = False) -> Session:
    """A fresh session outside the request cycle (threads, CLI loops); the caller closes it."""
    make: sessionmaker = current_app.extensions["fundraiser.sessionmaker"]
    return make(bind=current_app.extensions["fundraiser.write_engine"]) if write else make()


def upsert_insert(session: Session, model):
    """An INSERT for `model` that can take ON CONFLICT clauses, in this session's dialect (both
    SQLite and PostgreSQL speak `on_conflict_do_nothing` / `on_conflict_do_update`)."""
    return dialect_insert(session.get_bind().dialect.name, model)


def dialect_insert(dialect: str, model):
    """`upsert_insert` for a dialect name, for statements built once and cached."""
    return postgresql_insert(model) if dialect == "postgresql" else sqlite_insert(model)


def get_session() -> Session:
    """The session of the current request or command; writes (non-GET requests) lock early on SQLite."""
    if "db_session" not in g:
        write = has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS")
        g.db_session = new_session(write=write)
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
