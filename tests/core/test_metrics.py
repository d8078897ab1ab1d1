"""Metrics: the latency histogram by route template, the values read on scrape, who may scrape."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest
from pydantic import SecretStr, ValidationError
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient

from core import metrics
from core.errors import Forbidden, NotFound
from core.jobs import PendingJob, RQDispatcher
from core.kit.accesslog import AccessLogMiddleware
from core.kit.clock import utcnow
from core.models import CaseStatus, NotificationVerdict, PaymentChannel, PaymentNotification
from core.settings import MetricsSettings, Settings, get_settings
from tests.fixtures.cases import MakeCase
from tests.fixtures.worker import run_worker

HISTOGRAM = "zhcg_http_request_duration_seconds"
TOKEN = "a-metrics-token-long-enough"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def count(method: str, route: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        f"{HISTOGRAM}_count", {"method": method, "route": route, "status": status}
    )
    return value or 0.0


def with_metrics(base: Settings | None = None, **values: object) -> Settings:
    base = base or get_settings()
    return base.model_copy(update={"metrics": MetricsSettings(**values)})  # type: ignore[arg-type]


# --- the latency histogram ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"), [(200, "2xx"), (204, "2xx"), (302, "3xx"), (404, "4xx"), (503, "5xx")]
)
def test_status_class(code: int, expected: str) -> None:
    assert metrics.status_class(code) == expected


def test_unknown_methods_and_unmatched_paths_share_one_series() -> None:
    before = count("OTHER", "unmatched", "4xx")
    metrics.observe_request("BREW", None, 404, 0.01)
    metrics.observe_request("PROPFIND", None, 405, 0.01)
    assert count("OTHER", "unmatched", "4xx") == before + 2


def _site() -> Starlette:
    """An app with a console-like app mounted in it, both with the middleware (as `zhcg serve`)."""

    async def case(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["case_no"])

    async def boom(request: Request) -> PlainTextResponse:
        raise RuntimeError("bug")

    inner = Starlette(routes=[Route("/cases/{case_no}", case), Mount("/static", StaticFiles(directory=DOCS))])
    inner.add_middleware(AccessLogMiddleware)
    outer = Starlette(
        routes=[Route("/api/v1/reports/{case_no}", case), Route("/boom", boom), Mount("/admin", inner)]
    )
    outer.add_middleware(AccessLogMiddleware)
    return outer


def test_requests_are_counted_once_by_route_template_and_status_class() -> None:
    tag = secrets.token_hex(3)
    series = {
        "api": ("GET", "/api/v1/reports/{case_no}", "2xx"),
        "mounted": ("GET", "/admin/cases/{case_no}", "2xx"),
        "static": ("GET", "/admin/static/{path}", "2xx"),
        "static_missing": ("GET", "/admin/static/{path}", "4xx"),
        "unmatched": ("GET", "unmatched", "4xx"),
        "error": ("GET", "/boom", "5xx"),
        "post": ("POST", "/api/v1/reports/{case_no}", "4xx"),
    }
    before = {name: count(*labels) for name, labels in series.items()}
    with TestClient(_site(), raise_server_exceptions=False) as client:
        assert client.get(f"/api/v1/reports/A{tag}").text == f"A{tag}"
        assert client.get(f"/api/v1/reports/B{tag}?lng=1").status_code == 200
        assert client.get(f"/admin/cases/C{tag}").text == f"C{tag}"
        assert client.get("/admin/static/conventions.md").status_code == 200
        assert client.get(f"/admin/static/{tag}.css").status_code == 404
        assert client.get(f"/nowhere/{tag}").status_code == 404
        assert client.get("/boom").status_code == 500
        assert client.post(f"/api/v1/reports/{tag}").status_code == 405
    after = {name: count(*labels) for name, labels in series.items()}
    assert {name: after[name] - before[name] for name in series} == {
        "api": 2,
        "mounted": 1,  # the mounted app's own middleware does not count it again
        "static": 1,
        "static_missing": 1,
        "unmatched": 1,
        "error": 1,
        "post": 1,
    }
    exposition = generate_latest(REGISTRY).decode()
    assert tag not in exposition  # raw paths never become labels


# --- who may scrape -----------------------------------------------------------------------------


def allowed(
    settings: Settings, ip: str | None, authorization: str | None = None, forwarded: bool = False
) -> bool:
    try:
        metrics.check_scrape_allowed(settings, client_ip=ip, authorization=authorization, forwarded=forwarded)
    except Forbidden:
        return False
    return True


def test_loopback_may_scrape_by_default() -> None:
    settings = with_metrics()
    assert allowed(settings, "127.0.0.1")
    assert allowed(settings, "::1")
    assert allowed(settings, "::ffff:127.0.0.1")
    assert not allowed(settings, "10.0.0.8")
    assert not allowed(settings, "testclient")
    assert not allowed(settings, None)


def test_a_proxied_request_is_never_allowed_by_its_address() -> None:
    assert not allowed(with_metrics(), "127.0.0.1", forwarded=True)


def test_allow_list_takes_networks() -> None:
    settings = with_metrics(allow="10.1.0.0/16, 192.168.5.9")
    assert allowed(settings, "10.1.200.3")
    assert allowed(settings, "192.168.5.9")
    assert not allowed(settings, "192.168.5.10")
    assert not allowed(settings, "127.0.0.1")


def test_the_token_opens_from_anywhere() -> None:
    settings = with_metrics(allow="", token=SecretStr(TOKEN))
    assert allowed(settings, "203.0.113.9", f"Bearer {TOKEN}", forwarded=True)
    assert allowed(settings, None, f"bearer  {TOKEN} ")
    assert not allowed(settings, "203.0.113.9", "Bearer wrong-token-of-some-length")
    assert not allowed(settings, "203.0.113.9", f"Basic {TOKEN}")
    assert not allowed(settings, "127.0.0.1")
    assert not allowed(with_metrics(), "203.0.113.9", "Bearer ")  # no token configured: none accepted


def test_disabled_metrics_are_not_found() -> None:
    with pytest.raises(NotFound):
        metrics.check_scrape_allowed(
            with_metrics(enabled=False), client_ip="127.0.0.1", authorization=None, forwarded=False
        )


@pytest.mark.parametrize(
    "values", [{"token": "short"}, {"token": "changethis"}, {"allow": "10.0.0.0/33"}, {"allow": "x"}]
)
def test_bad_metrics_settings_are_refused(values: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        MetricsSettings(**values)  # type: ignore[arg-type]


# --- values read on scrape ----------------------------------------------------------------------


def test_overdue_cases_are_counted_while_open(session: Session, make_case: MakeCase) -> None:
    before = metrics.count_overdue_cases(session)
    for status, overdue in [
        (CaseStatus.DISPATCHED, True),
        (CaseStatus.DISPATCHED, True),
        (CaseStatus.REGISTERED, True),
        (CaseStatus.DISPATCHED, False),
        (CaseStatus.CLOSED, True),
    ]:
        case = make_case(status)
        case.overdue = overdue
        session.add(case)
    session.flush()
    after = metrics.count_overdue_cases(session)
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in set(after) | set(before)}
    assert {key: value for key, value in delta.items() if value} == {"dispatched": 2, "registered": 1}


def add_notification(
    session: Session, channel: PaymentChannel, verdict: NotificationVerdict, age: timedelta
) -> None:
    session.add(
        PaymentNotification(
            channel=channel,
            out_trade_no=secrets.token_hex(8),
            verdict=verdict,
            received_at=utcnow() - age,
        )
    )


def test_notifications_of_the_last_day_by_channel_and_verdict(session: Session) -> None:
    since = utcnow() - metrics.NOTIFICATION_WINDOW
    before = metrics.count_notifications(session, since=since)
    add_notification(session, PaymentChannel.WECHAT, NotificationVerdict.APPLIED, timedelta(minutes=1))
    add_notification(session, PaymentChannel.WECHAT, NotificationVerdict.APPLIED, timedelta(hours=23))
    add_notification(session, PaymentChannel.ALIPAY, NotificationVerdict.REFUSED, timedelta(hours=2))
    add_notification(session, PaymentChannel.ALIPAY, NotificationVerdict.IGNORED, timedelta(hours=30))
    session.flush()
    after = metrics.count_notifications(session, since=since)
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in set(after) | set(before)}
    assert {key: value for key, value in delta.items() if value} == {
        ("wechat", "applied"): 2,
        ("alipay", "refused"): 1,
    }


def test_snapshot_is_reused_within_the_cache_window(session: Session) -> None:
    cache = metrics.SnapshotCache()
    long_cache = with_metrics(cache_s=3600)
    first = cache.get(session, long_cache)
    add_notification(session, PaymentChannel.WECHAT, NotificationVerdict.REFUSED, timedelta(minutes=1))
    session.flush()
    assert cache.get(session, long_cache) is first
    fresh = cache.get(session, with_metrics(cache_s=0))
    assert (
        fresh.notifications.get(("wechat", "refused"), 0)
        == first.notifications.get(("wechat", "refused"), 0) + 1
    )


def test_without_redis_no_queue_metrics_are_shown(session: Session) -> None:
    snapshot = metrics.read_snapshot(session, with_metrics(), now=utcnow())
    assert snapshot.database_up is True
    assert snapshot.redis_up is None
    text = metrics.render(session, with_metrics(cache_s=0)).decode()
    assert "zhcg_database_up 1.0" in text
    assert "zhcg_redis_up" not in text
    assert "zhcg_queue_jobs" not in text


def test_unreachable_redis_is_reported_down(session: Session) -> None:
    base = get_settings()
    settings = base.model_copy(
        update={"redis": base.redis.model_copy(update={"url": "redis://127.0.0.1:1/0"})}
    )
    snapshot = metrics.read_snapshot(session, settings, now=utcnow())
    assert snapshot.redis_up is False
    assert snapshot.queue_jobs == {}
    assert snapshot.database_up is True


@pytest.mark.redis
def test_queue_depth_and_failed_jobs_come_from_rq(session: Session, rq_settings: Settings) -> None:
    assert metrics.count_queue_jobs(str(rq_settings.redis.url), rq_settings)[("default", "queued")] == 0
    dispatcher = RQDispatcher(str(rq_settings.redis.url), rq_settings.redis.queue_prefix)
    dispatcher.send(PendingJob("system.ping", {"wrong_argument": 1}))  # no retries: straight to failed
    result = run_worker(rq_settings)
    assert result.returncode == 0, result.stderr[-2000:]
    dispatcher.send(PendingJob("system.ping", {"token": "t1"}))
    dispatcher.send(PendingJob("system.ping", {"token": "t2"}))

    jobs = metrics.count_queue_jobs(str(rq_settings.redis.url), rq_settings)
    assert jobs[("default", "queued")] == 2
    assert jobs[("default", "failed")] == 1
    assert jobs[("payments", "queued")] == 0
    assert {state for _, state in jobs} == {"queued", *metrics.RQ_STATES}

    text = metrics.render(session, with_metrics(rq_settings, cache_s=0)).decode()
    assert "zhcg_redis_up 1.0" in text
    assert 'zhcg_queue_jobs{queue="default",state="queued"} 2.0' in text
    assert 'zhcg_queue_jobs{queue="default",state="failed"} 1.0' in text
