"""GET /metrics on the public API: the exposition, who may read it, the request id on every answer."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session

from api.deps import get_session
from api.main import create_app
from api.routes import metrics as metrics_route
from core.kit.clock import utcnow
from core.models import NotificationVerdict, PaymentChannel, PaymentNotification
from core.settings import MetricsSettings, Settings, get_settings

TOKEN = "scrape-token-" + "x" * 16
LOOPBACK = ("127.0.0.1", 50000)
REMOTE = ("203.0.113.7", 50000)

MakeClient = Callable[..., TestClient]


def app_with_metrics(settings: Settings) -> FastAPI:
    app = create_app(settings)
    if not any(getattr(route, "path", None) == "/metrics" for route in app.routes):
        app.include_router(metrics_route.router)  # until api/main.py registers it
    return app


@pytest.fixture
def make_client(session: Session) -> Iterator[MakeClient]:
    clients: list[TestClient] = []

    def make(client: tuple[str, int] = LOOPBACK, **metrics: object) -> TestClient:
        base = get_settings()
        values: dict[str, object] = {"cache_s": 0, **metrics}
        app = app_with_metrics(base.model_copy(update={"metrics": MetricsSettings(**values)}))  # type: ignore[arg-type]

        def _session() -> Iterator[Session]:
            yield session
            session.commit()

        app.dependency_overrides[get_session] = _session
        test_client = TestClient(app, raise_server_exceptions=False, client=client)
        test_client.__enter__()
        clients.append(test_client)
        return test_client

    yield make
    for test_client in clients:
        test_client.__exit__(None, None, None)


def test_metrics_show_requests_by_route_template_and_the_shared_values(
    make_client: MakeClient, session: Session
) -> None:
    session.add(
        PaymentNotification(
            channel=PaymentChannel.ALIPAY,
            out_trade_no=secrets.token_hex(8),
            verdict=NotificationVerdict.IGNORED,
            received_at=utcnow() - timedelta(minutes=5),
        )
    )
    session.flush()
    client = make_client()
    assert client.get("/healthz").status_code == 200
    assert client.get(f"/no-such-page/{secrets.token_hex(4)}").status_code == 404

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'zhcg_http_request_duration_seconds_count{method="GET",route="/healthz",status="2xx"}' in text
    assert (
        'zhcg_http_request_duration_seconds_bucket{le="0.3",method="GET",route="/healthz",status="2xx"}'
        in text
    )
    assert 'route="unmatched",status="4xx"' in text
    assert "no-such-page" not in text
    assert "zhcg_database_up 1.0" in text
    assert "# TYPE zhcg_cases_overdue gauge" in text
    assert 'zhcg_payment_notifications_24h{channel="alipay",verdict="ignored"}' in text
    assert "process_cpu_seconds_total" in text or "python_info" in text


def test_metrics_are_not_in_the_openapi_document(make_client: MakeClient) -> None:
    assert "/metrics" not in make_client().get("/openapi.json").json()["paths"]


def test_a_remote_address_is_refused(make_client: MakeClient) -> None:
    response = make_client(REMOTE).get("/metrics")
    assert response.status_code == 403
    assert response.json()["code"] == "metrics_forbidden"
    assert "zhcg_" not in response.text


def test_a_request_through_a_proxy_is_refused_even_from_loopback(make_client: MakeClient) -> None:
    response = make_client().get("/metrics", headers={"X-Forwarded-For": "198.51.100.2"})
    assert response.status_code == 403


def test_the_token_opens_metrics_from_a_remote_address(make_client: MakeClient) -> None:
    client = make_client(REMOTE, token=SecretStr(TOKEN), allow="")
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"}).status_code == 403
    assert client.get("/metrics").status_code == 403


def test_disabled_metrics_are_not_found(make_client: MakeClient) -> None:
    response = make_client(enabled=False).get("/metrics")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_every_answer_carries_a_request_id(make_client: MakeClient) -> None:
    client = make_client(REMOTE)
    kept = client.get("/healthz", headers={"X-Request-Id": "lb-42.a_b"})
    assert kept.headers["x-request-id"] == "lb-42.a_b"
    refused = client.get("/metrics", headers={"X-Request-Id": "bad id with spaces"})
    assert refused.status_code == 403
    assert refused.headers["x-request-id"] != "bad id with spaces"
    assert len(refused.headers["x-request-id"]) == 32
    invalid = client.post("/api/v1/fines/lookup", json={})
    assert invalid.status_code in {404, 405, 422}
    assert invalid.headers["x-request-id"]
