"""GET /api/v1/geo/locate: answers and JSON problems."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.geo.coords import wgs84_to_gcj02
from tests.fixtures.factories import Factory, cell


@pytest.fixture
def grid(factory: Factory) -> tuple[float, float]:
    community = factory.area_tree()
    factory.unit_grid(community, 1, cell(0, 0))
    category = factory.category("BJ0101")
    factory.routing(category, factory.department("M01"))
    point = cell(0, 0).centroid
    return point.x, point.y


def test_locate(client: TestClient, grid: tuple[float, float]) -> None:
    response = client.get("/api/v1/geo/locate", params={"lng": grid[0], "lat": grid[1], "category": "BJ0101"})
    assert response.status_code == 200
    body = response.json()
    assert body["unit_grid"] == "360502001001001"
    assert body["community"]["code"] == "360502001001"
    assert body["department"] == {"code": "M01", "name": "测试部门M01"}


def test_locate_gcj02(client: TestClient, grid: tuple[float, float]) -> None:
    lng, lat = wgs84_to_gcj02(*grid)
    response = client.get("/api/v1/geo/locate", params={"lng": lng, "lat": lat, "coord": "gcj02"})
    assert response.status_code == 200
    assert response.json()["unit_grid"] == "360502001001001"


def test_outside_service_area(client: TestClient, grid: tuple[float, float]) -> None:
    response = client.get("/api/v1/geo/locate", params={"lng": 116.397, "lat": 39.909})
    assert response.status_code == 422
    assert response.json()["code"] == "outside_service_area"
    assert "服务范围" in response.json()["message"]


def test_unknown_category(client: TestClient, grid: tuple[float, float]) -> None:
    response = client.get("/api/v1/geo/locate", params={"lng": grid[0], "lat": grid[1], "category": "XX01"})
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_category"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lng": "abc", "lat": 27.8}, "lng"),
        ({"lng": 114.9, "lat": 95}, "lat"),
        ({"lng": 114.9}, "lat"),
        ({"lng": "nan", "lat": 27.8}, "lng"),
        ({"lng": 114.9, "lat": 27.8, "coord": "bd09"}, "coord"),
    ],
)
def test_bad_input_is_a_clear_problem(client: TestClient, params: dict[str, object], field: str) -> None:
    response = client.get("/api/v1/geo/locate", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_request"
    assert field in body["message"]
    assert any(error["field"] == field for error in body["errors"])


def test_no_grids_is_503(client: TestClient) -> None:
    response = client.get("/api/v1/geo/locate", params={"lng": 114.9, "lat": 27.8})
    assert response.status_code == 503
    assert response.json()["code"] == "grids_not_loaded"


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    assert client.get("/api/v1/nope").json()["code"] == "not_found"
    response = client.post("/api/v1/geo/locate")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_default_coordinate_system_comes_from_settings(session: object, grid: tuple[float, float]) -> None:
    from collections.abc import Iterator

    from api.deps import get_session
    from api.main import create_app
    from core.settings import get_settings

    base = get_settings()
    settings = base.model_copy(update={"geo": base.geo.model_copy(update={"default_coord": "gcj02"})})
    app = create_app(settings)

    def _session() -> Iterator[object]:
        yield session

    app.dependency_overrides[get_session] = _session
    lng, lat = wgs84_to_gcj02(*grid)
    with TestClient(app) as client:
        body = client.get("/api/v1/geo/locate", params={"lng": lng, "lat": lat}).json()
        assert body.get("unit_grid") == ("360502001001001")
