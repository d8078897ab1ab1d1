"""The `zhcg` command as an operator uses it (a real process on its own database)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import database_url, drop_database

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def cli_db() -> Iterator[str]:
    url = database_url("cli")
    yield url
    drop_database(url)


def zhcg(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZHCG_DB__URL": db_url, "ZHCG_ENVIRONMENT": "development"}
    return subprocess.run(
        [sys.executable, "-m", "core.cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_then_import_good_and_broken_files(cli_db: str, tmp_path: Path) -> None:
    assert zhcg(cli_db, "migrate").returncode == 0

    good = tmp_path / "areas.csv"
    good.write_text("code,name,level,parent_code\n360502,渝水区,district,\n", encoding="utf-8")
    result = zhcg(cli_db, "import", "areas", str(good))
    assert result.returncode == 0, result.stderr
    assert "导入完成" in result.stdout

    broken = tmp_path / "broken" / "areas.csv"
    broken.parent.mkdir()
    broken.write_text("code,name,level,parent_code\n360502001,城北街道,street,999999\n", encoding="utf-8")
    result = zhcg(cli_db, "import", "areas", str(broken))
    assert result.returncode == 2
    assert "import_invalid" in result.stderr
    assert "areas.csv 第2行 字段“parent_code”" in result.stderr


def test_locate_without_grids_is_a_clear_error(cli_db: str) -> None:
    zhcg(cli_db, "migrate")
    result = zhcg(cli_db, "locate", "114.9", "27.8")
    assert result.returncode == 2
    assert "grids_not_loaded" in result.stderr


def test_calendar_reports_the_fallback_year(cli_db: str) -> None:
    zhcg(cli_db, "migrate")
    result = zhcg(cli_db, "calendar", "2026", "2027")
    assert result.returncode == 0
    assert "2026: package" in result.stdout
    assert "2027: fallback" in result.stdout
    assert "警告" in result.stdout


def test_unknown_kind_is_refused_by_the_parser(cli_db: str) -> None:
    result = zhcg(cli_db, "import", "nonsense", "x.csv")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
