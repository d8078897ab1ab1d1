"""The workbench shows the calendar warning and the master data counts to a signed-in user."""

from __future__ import annotations

from fastapi.testclient import TestClient

from core.models import StaffRole
from tests.admin.conftest import sign_in
from tests.fixtures.cases import City


def test_home_shows_calendar_warning_for_unknown_year(console: TestClient, city: City) -> None:
    sign_in(console, city.staff[StaffRole.OPERATOR])
    response = console.get("/")
    assert response.status_code == 200
    assert "工作台" in response.text
    assert "法定节假日安排尚未录入" in response.text
    assert "单元网格" in response.text


def test_unknown_page_is_a_chinese_error_page(console: TestClient) -> None:
    response = console.get("/no-such-page")
    assert response.status_code == 404
    assert "页面不存在" in response.text
