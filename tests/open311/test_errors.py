"""Every refusal under /open311/v2 is an Open311 error list, unknown paths (404) and methods (405)
included, in the format the path asks for; the rest of the API keeps its problem shape."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.open311.conftest import error_of


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("/open311/v2/nope.json", "json"),
        ("/open311/v2/nope.xml", "xml"),
        ("/open311/v2/requests/2026/11.xml", "xml"),
        ("/open311/v2/services/BJ0101", "json"),
        ("/open311/v2/", "json"),
        ("/open311/v2", "json"),
    ],
)
def test_an_unknown_path_is_a_404_in_open311_shape(client: TestClient, path: str, fmt: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    code, description = error_of(response, fmt)
    assert code == 404
    assert description.startswith("not_found: 请求的资源不存在")


@pytest.mark.parametrize(
    ("method", "path", "fmt", "allow"),
    [
        ("DELETE", "/open311/v2/requests.json", "json", "GET, POST"),
        ("PUT", "/open311/v2/requests.xml", "xml", "GET, POST"),
        ("POST", "/open311/v2/services.xml", "xml", "GET"),
        ("PATCH", "/open311/v2/requests/2026KF0001.json", "json", "GET"),
        ("POST", "/open311/v2/discovery.json", "json", "GET"),
    ],
)
def test_a_wrong_method_is_a_405_in_open311_shape_with_allow(
    client: TestClient, method: str, path: str, fmt: str, allow: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    code, description = error_of(response, fmt)
    assert code == 405
    assert description.startswith(f"method_not_allowed: 该资源不支持 {method} 请求")


def test_a_long_unknown_format_is_a_404_too(client: TestClient) -> None:
    response = client.get("/open311/v2/services.jsonjsonjson")
    assert response.status_code == 404
    assert error_of(response, "json")[1].startswith("unsupported_format")


def test_the_rest_of_the_api_keeps_its_problem_shape(client: TestClient) -> None:
    response = client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert client.get("/open311/v1/requests.json").json()["code"] == "not_found"


def test_the_catch_all_is_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    open311 = sorted(path for path in paths if path.startswith("/open311/"))
    assert open311 == [
        "/open311/v2/discovery.{fmt}",
        "/open311/v2/requests.{fmt}",
        "/open311/v2/requests/{service_request_id}.{fmt}",
        "/open311/v2/services.{fmt}",
        "/open311/v2/services/{service_code}.{fmt}",
        "/open311/v2/tokens/{token}.{fmt}",
    ]
