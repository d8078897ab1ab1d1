"""The console's first page shows the calendar warning and the master data counts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from admin.deps import get_session
from admin.main import create_app
from core.settings import get_settings


@pytest.fixture
def console(session: Session) -> Iterator[TestClient]:
    app = create_app(get_settings())

    def _session() -> Iterator[Session]:
        yield session

    app.dependency_overrides[get_session] = _session
    with TestClient(app) as client:
        yield client


def test_home_shows_calendar_warning_for_unknown_year(console: TestClient) -> None:
    response = console.get("/")
    assert response.status_code == 200
    assert "管理后台" in response.text
    assert "法定节假日安排尚未录入" in response.text
    assert "单元网格" in response.text


def test_unknown_page_is_a_chinese_error_page(console: TestClient) -> None:
    response = console.get("/no-such-page")
    assert response.status_code == 404
    assert "页面不存在" in response.text
