"""Liveness, readiness and the OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import get_settings


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


def test_readyz_checks_redis_when_configured(redis_url: str) -> None:
    base = get_settings()
    good = base.model_copy(update={"redis": base.redis.model_copy(update={"url": redis_url})})
    with TestClient(create_app(good)) as client:
        assert client.get("/readyz").json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}


def test_readyz_reports_unreachable_redis_as_not_ready() -> None:
    base = get_settings()
    bad = base.model_copy(update={"redis": base.redis.model_copy(update={"url": "redis://127.0.0.1:1/0"})})
    with TestClient(create_app(bad)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


def test_openapi_and_docs_without_a_cdn(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/geo/locate" in spec["paths"]
    error_schema = spec["paths"]["/api/v1/geo/locate"]["get"]["responses"]["422"]["content"][
        "application/json"
    ]
    assert error_schema["schema"]["$ref"].endswith("/Problem")
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assert "/docs-assets/swagger-ui-bundle.js" in page.text
    script = client.get("/docs-assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]


def test_readyz_reports_an_unmigrated_database(tmp_path: object) -> None:
    base = get_settings()
    empty = base.model_copy(
        update={"db": base.db.model_copy(update={"url": f"sqlite:///{tmp_path}/empty.db"})}
    )
    with TestClient(create_app(empty)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"].startswith("pending")


def test_probes_answer_head_requests(client: TestClient) -> None:
    assert client.head("/healthz").status_code == 200
    assert client.head("/readyz").status_code == 200
