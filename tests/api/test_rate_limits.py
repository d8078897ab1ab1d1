"""Per-client rate limits on the public API (api/ratelimit.py): groups, who the client is, the answers
(JSON problem, Open311 errors, the console's page), exemptions, Redis shared by processes and Redis down."""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from redis import Redis
from sqlmodel import Session

from admin.deps import get_session as admin_session
from admin.main import create_app as create_console
from api.deps import get_session
from api.main import create_app
from core.open311 import service as open311_service
from core.settings import RateLimitSettings, Settings, get_settings
from tests.fixtures.cases import City

CLIENT = ("198.51.100.7", 50000)
OTHER = ("198.51.100.8", 50000)
PROXY = ("10.0.0.2", 50000)

MakeClient = Callable[..., TestClient]


def limited(*, redis_url: str | None = None, **limits: Any) -> Settings:
    base = get_settings()
    values: dict[str, Any] = {
        "reads_per_minute": 1000,
        "writes_per_minute": 1000,
        "logins_per_minute": 1000,
        **limits,
    }
    update: dict[str, Any] = {"ratelimit": RateLimitSettings(**values)}
    if redis_url is not None:
        prefix = f"zhcgtest{secrets.token_hex(4)}"
        update["redis"] = base.redis.model_copy(update={"url": redis_url, "queue_prefix": prefix})
    return base.model_copy(update=update)


@pytest.fixture
def make_client(session: Session) -> Iterator[MakeClient]:
    """A client of an API app (one per settings object: one "process") at a given address."""
    opened: list[TestClient] = []
    apps: dict[int, FastAPI] = {}

    def make(settings: Settings, client: tuple[str, int] = CLIENT, *, console: bool = False) -> TestClient:
        app = apps.get(id(settings))
        if app is None:
            app = apps[id(settings)] = create_app(settings)

            def _session() -> Iterator[Session]:
                yield session
                session.commit()

            app.dependency_overrides[get_session] = _session
            if console:
                admin = create_console(settings)
                admin.dependency_overrides[admin_session] = _session
                app.mount("/admin", admin)
        test_client = TestClient(app, raise_server_exceptions=False, client=client, follow_redirects=False)
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield make
    for test_client in opened:
        test_client.__exit__(None, None, None)


def refused(group: str) -> float:
    return REGISTRY.get_sample_value("zhcg_rate_limited_requests_total", {"group": group}) or 0.0


def test_reads_over_the_limit_get_a_429_problem_with_retry_after(make_client: MakeClient) -> None:
    settings = limited(reads_per_minute=3)
    client = make_client(settings)
    before = refused("read")
    answers = [client.get("/api/v1/categories") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    assert answers[0].headers["RateLimit-Remaining"] == "2"
    assert 1 <= int(answers[0].headers["RateLimit-Reset"]) <= 60

    answer = client.get("/api/v1/categories")
    assert answer.status_code == 429
    body = answer.json()
    assert body["code"] == "rate_limited"
    retry_after = int(answer.headers["Retry-After"])
    assert 1 <= retry_after <= 120
    assert body["message"] == f"请求过于频繁，请 {retry_after} 秒后再试"
    assert body["details"] == {"retry_after": retry_after}
    assert answer.headers["RateLimit-Remaining"] == "0"
    assert answer.headers["X-Request-Id"]  # inside the access log: logged and traced like any answer
    assert refused("read") == before + 1

    assert make_client(settings, OTHER).get("/api/v1/categories").status_code == 200  # another address
    assert client.get("/healthz").status_code == 200  # probes are not limited
    assert "RateLimit-Limit" not in client.get("/healthz").headers


def test_writes_and_logins_have_their_own_tighter_budgets(make_client: MakeClient) -> None:
    settings = limited(reads_per_minute=100, writes_per_minute=2, logins_per_minute=1)
    client = make_client(settings)
    writes = [client.post("/api/v1/reports", json={}).status_code for _ in range(3)]
    assert 429 not in writes[:2]  # not signed in: refused by the route, counted all the same
    assert writes[2] == 429
    assert client.get("/api/v1/categories").status_code == 200  # reads are counted apart

    login = {"username": "nobody", "password": "wrong-password"}
    assert client.post("/api/v1/staff/auth/login", json=login).status_code == 401
    answer = client.post("/api/v1/auth/sms-code", json={"phone": "13800138000"})
    assert answer.status_code == 429  # one login group for SMS codes and logins
    assert answer.headers["RateLimit-Limit"] == "1"


def test_a_signed_in_citizen_is_counted_by_account_not_address(make_client: MakeClient, city: City) -> None:
    settings = limited(reads_per_minute=2)
    first, second = city.citizen(), city.citizen()
    at_home, on_the_road, shared = make_client(settings), make_client(settings, OTHER), make_client(settings)
    assert at_home.get("/api/v1/me", headers=city.headers(first)).status_code == 200
    assert on_the_road.get("/api/v1/me", headers=city.headers(first)).status_code == 200
    assert at_home.get("/api/v1/me", headers=city.headers(first)).status_code == 429  # same account
    # Another account behind the same address (a carrier's NAT) has its own budget.
    assert shared.get("/api/v1/me", headers=city.headers(second)).status_code == 200
    # A forged or expired token is no account: counted under the address.
    forged = {"Authorization": "Bearer zc1.citizen.999.0.9999999999.forged"}
    assert at_home.get("/api/v1/categories", headers=forged).status_code == 200
    assert at_home.get("/api/v1/categories", headers=forged).status_code == 200
    assert at_home.get("/api/v1/categories", headers=forged).status_code == 429


def test_forwarded_for_counts_only_through_a_trusted_proxy(make_client: MakeClient) -> None:
    settings = limited(reads_per_minute=1, trusted_proxies="10.0.0.0/8")
    proxy = make_client(settings, PROXY)
    direct = make_client(settings, CLIENT)
    for address in ("203.0.113.1", "203.0.113.2"):  # two clients behind our proxy
        assert proxy.get("/api/v1/categories", headers={"X-Forwarded-For": address}).status_code == 200
    assert proxy.get("/api/v1/categories", headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 429
    # The client writes its own X-Forwarded-For: from an untrusted peer it is ignored, so changing it
    # does not buy a new budget; through the proxy only the right-most entry counts.
    assert direct.get("/api/v1/categories", headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 200
    assert direct.get("/api/v1/categories", headers={"X-Forwarded-For": "192.0.2.2"}).status_code == 429
    spoofed = {"X-Forwarded-For": "192.0.2.3, 203.0.113.2"}
    assert proxy.get("/api/v1/categories", headers=spoofed).status_code == 429


def test_payment_notifications_and_the_exchange_are_never_limited(make_client: MakeClient) -> None:
    client = make_client(limited(writes_per_minute=1, reads_per_minute=1))
    for path in (
        "/api/v1/payments/notify/wechat",
        "/api/v1/payments/notify/alipay",
        "/api/v1/payments/notify/wechat/refund",
        "/api/v1/exchange/12345/orders",
    ):
        statuses = {client.post(path, content=b"{}").status_code for _ in range(3)}
        assert 429 not in statuses, path
    for _ in range(3):
        assert client.get("/readyz").status_code != 429
        assert client.get("/openapi.json").status_code == 200


def test_open311_refusals_keep_the_open311_shape(make_client: MakeClient) -> None:
    client = make_client(limited(reads_per_minute=1))
    assert client.get("/open311/v2/services.xml").status_code == 200
    answer = client.get("/open311/v2/services.xml")
    assert answer.status_code == 429
    assert answer.headers["content-type"].startswith("text/xml")
    assert "<code>429</code>" in answer.text
    assert "rate_limited: 请求过于频繁" in answer.text
    assert int(answer.headers["Retry-After"]) >= 1
    answer = client.get("/open311/v2/services.json")
    assert answer.status_code == 429
    ((error),) = answer.json()
    assert error["code"] == 429
    assert error["description"].startswith("rate_limited: ")


def open311_form(city: City, api_key: str) -> dict[str, str]:
    lng, lat = city.point(1, 0)
    return {
        "api_key": api_key,
        "service_code": "BJ0101",
        "lat": str(lat),
        "long": str(lng),
        "address_string": "幸福路 12 号",
        "description": "人行道上的井盖缺失，晚上很危险",
    }


def test_an_open311_key_counts_apart_once_it_proved_valid_and_random_keys_do_not(
    make_client: MakeClient, session: Session, city: City
) -> None:
    _, key = open311_service.add_client(session, name=f"限流{secrets.token_hex(3)}", requests_per_hour=100)
    client = make_client(limited(writes_per_minute=2))
    post = "/open311/v2/requests.json"
    first = client.post(post, data=open311_form(city, key))
    assert first.status_code == 201, first.text  # counted under the address; the key is now known
    assert client.post(post, data=open311_form(city, key)).status_code == 201  # the key's own budget
    assert client.post(post, data=open311_form(city, key)).status_code == 201
    refused_answer = client.post(post, data=open311_form(city, key))
    assert refused_answer.status_code == 429
    assert refused_answer.json()[0]["code"] == 429
    # Made-up keys are no way around the address's budget (one request of it is left).
    assert client.post(post, data=open311_form(city, secrets.token_hex(16))).status_code == 403
    assert client.post(post, data=open311_form(city, secrets.token_hex(16))).status_code == 429


def test_the_console_login_is_limited_when_mounted(make_client: MakeClient) -> None:
    settings = limited(logins_per_minute=2)
    client = make_client(settings, console=True)
    form = {"username": "nobody", "password": "wrong", "csrf_token": "x"}
    assert [client.post("/admin/login", data=form).status_code == 429 for _ in range(2)] == [False, False]
    answer = client.post("/admin/login", data=form)
    assert answer.status_code == 429
    assert answer.headers["content-type"].startswith("text/html")
    assert "请求过于频繁" in answer.text
    assert int(answer.headers["Retry-After"]) >= 1
    assert client.get("/admin/login").status_code == 200  # the console's pages are not limited


def test_disabled_limits_add_nothing(make_client: MakeClient) -> None:
    settings = limited(reads_per_minute=1).model_copy(
        update={"ratelimit": RateLimitSettings(enabled=False, reads_per_minute=1)}
    )
    client = make_client(settings)
    answers = [client.get("/api/v1/categories") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert "RateLimit-Limit" not in answers[0].headers


@pytest.mark.redis
def test_redis_counts_are_shared_by_the_api_processes(make_client: MakeClient, redis_url: str) -> None:
    settings = limited(redis_url=redis_url, reads_per_minute=3)
    twin = settings.model_copy()  # another process with the same settings: its own app and counter
    try:
        one, two = make_client(settings), make_client(twin)
        assert one.get("/api/v1/categories").headers["RateLimit-Remaining"] == "2"
        assert two.get("/api/v1/categories").headers["RateLimit-Remaining"] == "1"
        assert one.get("/api/v1/categories").status_code == 200
        answer = two.get("/api/v1/categories")
        assert answer.status_code == 429
        assert answer.json()["code"] == "rate_limited"
        assert make_client(twin, OTHER).get("/api/v1/categories").status_code == 200
    finally:
        connection = Redis.from_url(redis_url)
        keys = connection.keys(f"{settings.redis.queue_prefix}:ratelimit:*")
        assert keys  # the counts were in Redis
        connection.delete(*keys)
        connection.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redis_down_lets_requests_through_and_warns(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    settings = limited(
        redis_url=f"redis://127.0.0.1:{_closed_port()}/0", reads_per_minute=1, writes_per_minute=1
    )
    client = make_client(settings)
    with caplog.at_level(logging.WARNING, logger="zhcg.ratelimit"):
        answers = [client.get("/api/v1/categories") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert "RateLimit-Limit" not in answers[0].headers
    warnings = [record for record in caplog.records if "Redis not reachable" in record.getMessage()]
    assert len(warnings) == 1
