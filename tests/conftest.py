"""Test set-up shared by every test.

The database backend comes from ``ZHCG_TEST_DB`` (``sqlite`` — the default — or ``postgresql``);
``make test`` runs the suite once per backend. Each test gets a session inside a transaction that is
rolled back afterwards; the schema is built once per run by the real Alembic migrations.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

TEST_BACKEND = os.environ.get("ZHCG_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "ZHCG_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ZHCG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"
TMP_ROOT = Path(os.environ.get("ZHCG_TEST_TMP", "/tmp")) / f"zhcg-test-{RUN_ID}"

# The settings of the process under test come from the environment, as in production. Set them
# before anything reads them (get_settings() caches once per process).
os.environ["ZHCG_ENVIRONMENT"] = "test"
os.environ["ZHCG_APP__SECRET_KEY"] = secrets.token_urlsafe(32)
os.environ.pop("ZHCG_REDIS__URL", None)
# Per-client rate limits stay on (every API request goes through them) but far above what a test sends
# from its one client; tests/api/test_rate_limits.py sets its own.
for _group in ("READS", "WRITES", "LOGINS"):
    os.environ[f"ZHCG_RATELIMIT__{_group}_PER_MINUTE"] = "1000000"


def database_url(name: str) -> str:
    """A fresh, empty database for this run: a SQLite file or a new PostgreSQL database."""
    if TEST_BACKEND == "sqlite":
        TMP_ROOT.mkdir(parents=True, exist_ok=True)
        path = TMP_ROOT / f"{name}.db"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    if TEST_BACKEND != "postgresql":
        raise RuntimeError(f"ZHCG_TEST_DB must be sqlite or postgresql, not {TEST_BACKEND!r}")
    import psycopg

    db_name = f"zhcg_{name}_{RUN_ID}"
    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')  # type: ignore[arg-type]
        connection.execute(f'CREATE DATABASE "{db_name}"')  # type: ignore[arg-type]
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"


def drop_database(url: str) -> None:
    if TEST_BACKEND != "postgresql":
        return
    import psycopg

    db_name = url.rsplit("/", 1)[1]
    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')  # type: ignore[arg-type]


MAIN_DB_URL = database_url("main")
os.environ["ZHCG_DB__URL"] = MAIN_DB_URL

pytest_plugins = ["tests.fixtures.factories", "tests.fixtures.cases", "tests.fixtures.worker"]


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    from core.db import build_engine
    from core.migrate import upgrade

    engine = build_engine(MAIN_DB_URL)
    upgrade(engine)
    yield engine
    engine.dispose()
    from core.db import dispose_engines

    dispose_engines()
    drop_database(MAIN_DB_URL)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose commits only release savepoints; everything is rolled back after the test."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Iterator[None]:
    """Per-process caches (geo index, calendar) must not carry one test's rolled-back data into the next."""
    from core.calendar.service import invalidate_cache as invalidate_calendar
    from core.geo.service import invalidate_cache as invalidate_geo
    from core.jobs import configure_jobs
    from core.settings import get_settings

    invalidate_calendar()
    invalidate_geo()
    configure_jobs(get_settings())
    yield
    invalidate_calendar()
    invalidate_geo()


@pytest.fixture
def redis_url() -> str:
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except RedisConnectionError as exc:  # make test starts Redis; a missing one is an environment error
        raise RuntimeError(f"Redis at {REDIS_URL} is not reachable: {exc}") from exc
    return REDIS_URL
