"""Alembic environment: one schema for SQLite and PostgreSQL (batch mode on SQLite)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

import core.models  # noqa: F401 - registers every table
from core.db import build_engine
from core.migrations.rendering import include_object, render_item
from core.settings import get_settings

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        include_object=include_object,
        compare_type=True,
    )


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().db.url
    engine = build_engine(url)
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `zhcg migrate` against a database")
run_migrations()
