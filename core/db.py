"""Database engine (one per process and URL, never built at import time) and units of work.

Only the outermost unit of work commits (an HTTP request, an admin request, a job, a CLI command):
they use ``session_scope``. Services receive the session and never commit.

Lost connections (the database restarted, failed over, or a proxy closed an idle connection) are
handled when they are met, not tested before every use: no ``pool_pre_ping``, which would cost one round
trip per checkout on every request. The statement that meets a dead connection fails; SQLAlchemy sees
a disconnect and invalidates the whole pool, so the next unit of work connects afresh. The failed one
is answered "database unavailable" by the entry point (``is_unavailable``): a 503 from the API, a retry
for a job. After a restart nobody noticed, each process thus fails at most one unit of work (the small
``side_engine`` pool, checked out rarely, does ping).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from core.settings import Settings, get_settings

_engines: dict[tuple[int, str], Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT (used by importers and tests): let
    # SQLAlchemy emit BEGIN itself (the documented recipe), and set the pragmas in autocommit mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def build_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> Engine:
    """A new engine for ``url``; SQLite files get their folder created and sane pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, echo=echo, pool_size=pool_size, connect_args=connect_args(parsed))


# libpq waits for an unanswered TCP handshake as long as the kernel does (minutes): with the database's
# host unreachable, every request would hold a worker thread that long. A URL may set its own.
CONNECT_TIMEOUT_S = 5


def connect_args(url: URL) -> dict[str, Any]:
    if url.get_backend_name() != "postgresql" or "connect_timeout" in url.query:
        return {}
    return {"connect_timeout": CONNECT_TIMEOUT_S}


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot be reached right now (down, restarting,
    unreachable, the connection lost) rather than a bug or a conflict in what was asked of it.

    Two cases: SQLAlchemy recognised a lost connection (and invalidated the pool), or connecting
    failed (an error without a statement: refused, timed out, "the database system is starting up").
    Everything else, a lock timeout or a constraint included, is left to its own handling.
    """
    if not isinstance(exc, DBAPIError):
        return False
    return bool(exc.connection_invalidated) or (isinstance(exc, OperationalError) and exc.statement is None)


def get_engine(settings: Settings | None = None) -> Engine:
    """The engine of this process for the configured URL (rebuilt after a fork)."""
    settings = settings or get_settings()
    key = (os.getpid(), settings.db.url)
    engine = _engines.get(key)
    if engine is None:
        with _lock:
            engine = _engines.get(key)
            if engine is None:
                engine = build_engine(settings.db.url, echo=settings.db.echo, pool_size=settings.db.pool_size)
                _engines[key] = engine
    return engine


def dispose_engines() -> None:
    with _lock:
        for engine in [*_engines.values(), *_side_engines.values()]:
            engine.dispose()
        _engines.clear()
        _side_engines.clear()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A unit of work: commit when the block succeeds, roll back when it raises."""
    session = Session(engine or get_engine(), expire_on_commit=False)
    try:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()
    finally:
        session.close()


_END_CALLBACKS = "zhcg_on_transaction_end"


def on_transaction_end(session: OrmSession, callback: Callable[[], None]) -> None:
    """Run ``callback`` when the session's outermost transaction ends, committed or rolled back.

    For process caches built from the database: invalidating only inside the transaction would let a
    reader in the same transaction cache data that is then rolled back.
    """
    session.info.setdefault(_END_CALLBACKS, []).append(callback)


@event.listens_for(OrmSession, "after_transaction_end")
def _run_end_callbacks(session: OrmSession, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        for callback in session.info.pop(_END_CALLBACKS, []):
            callback()


_side_engines: dict[tuple[int, str], Engine] = {}


def side_engine(engine: Engine) -> Engine:
    """A small second pool on the same database for short autocommit work done while a request holds
    a connection of the main pool (e.g. taking a case number). Sharing the main pool could deadlock
    under load: every request would hold one connection while waiting for a second."""
    key = (os.getpid(), engine.url.render_as_string(hide_password=False))
    side = _side_engines.get(key)
    if side is None:
        with _lock:
            side = _side_engines.get(key)
            if side is None:
                side = create_engine(
                    engine.url,
                    pool_size=2,
                    max_overflow=8,
                    isolation_level="AUTOCOMMIT",
                    connect_args=connect_args(engine.url),
                    # Checked out once per report only, so the ping is cheap here; without it a lost
                    # connection in this pool would fail one more request after the main pool's.
                    pool_pre_ping=True,
                )
                _side_engines[key] = side
    return side
