"""The Alembic migrations build exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import core.models  # noqa: F401 - registers every table
from core.db import build_engine
from core.migrate import MIGRATIONS, alembic_config, downgrade, upgrade
from core.migrations.rendering import include_object, render_item
from tests.conftest import database_url, drop_database


@pytest.fixture
def fresh_engine() -> Iterator[sa.Engine]:
    url = database_url("migrations")
    engine = build_engine(url)
    yield engine
    engine.dispose()
    drop_database(url)


def _diff(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "render_item": render_item, "include_object": include_object},
        )
        return list(compare_metadata(context, SQLModel.metadata))


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(fresh_engine: sa.Engine) -> None:
    upgrade(fresh_engine)
    assert _diff(fresh_engine) == []
    downgrade(fresh_engine, "base")
    assert set(sa.inspect(fresh_engine).get_table_names()) <= {"alembic_version"}
    upgrade(fresh_engine)
    assert "unit_grid" in sa.inspect(fresh_engine).get_table_names()


def test_upgrade_twice_is_a_no_op(fresh_engine: sa.Engine) -> None:
    upgrade(fresh_engine)
    upgrade(fresh_engine)
    assert _diff(fresh_engine) == []


def test_one_head_and_revision_files_are_named_by_date_and_slug() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    for path in Path(MIGRATIONS, "versions").glob("*.py"):
        assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_\d{4}_[a-z0-9_]+\.py", path.name), path.name
