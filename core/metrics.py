"""Prometheus metrics (docs/operations.md): what this process measures, and what a scrape reads.

- ``zhcg_http_request_duration_seconds{method,route,status}``: a histogram per process, observed by
  the access log middleware. ``route`` is the route template (``/api/v1/reports/{case_no}``), never
  the raw path, and ``status`` the class (``2xx``), so the number of series stays bounded.
- ``zhcg_rate_limited_requests_total{group}``: requests this process refused with 429 ``rate_limited``.
- Read on scrape, the same for every process (reused for ``ZHCG_METRICS__CACHE_S``):
  ``zhcg_cases_overdue{status}``, ``zhcg_payment_notifications_24h{channel,verdict}``,
  ``zhcg_queue_jobs{queue,state}`` (RQ: queued, started, scheduled, deferred, failed — ``failed`` is the
  jobs that used up their retries), ``zhcg_redis_up`` and ``zhcg_database_up``; with Redis, the job
  outbox backlog ``zhcg_job_outbox_jobs`` and ``zhcg_job_outbox_oldest_seconds`` (decision 0016).
- prometheus-client's own ``process_*`` and ``python_*`` metrics of this process.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from ipaddress import ip_address
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlmodel import col

from core import jobs_outbox
from core.errors import Forbidden, NotFound
from core.jobs import JOBS
from core.kit.clock import utcnow
from core.models import Case, CaseStatus, PaymentNotification
from core.settings import Settings

log = logging.getLogger("zhcg.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"  # no route matched (404): one series however many paths are probed
CLOSED_STATUSES = (CaseStatus.CLOSED, CaseStatus.VOIDED, CaseStatus.MERGED)
NOTIFICATION_WINDOW = timedelta(hours=24)
RQ_STATES = ("started", "scheduled", "deferred", "failed")
# A request carrying one of these came through a proxy: its address says nothing about the scraper.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")

# The *_created series double the output and nothing reads them (Prometheus detects resets itself).
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUEST_SECONDS = Histogram(
    "zhcg_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route template and status class.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0),
)


RATE_LIMITED = Counter(
    "zhcg_rate_limited_requests",
    "Requests refused by the per-client rate limits (429 rate_limited), by limit group.",
    ["group"],
)


def count_rate_limited(group: str) -> None:
    RATE_LIMITED.labels(group=group).inc()


def check_scrape_allowed(
    settings: Settings, *, client_ip: str | None, authorization: str | None, forwarded: bool
) -> None:
    """Raises unless this scrape may read the metrics: the bearer token of the settings, or a direct
    (not proxied) request from an allowed address. Disabled metrics are not found."""
    if not settings.metrics.enabled:
        raise NotFound("not_found", "请求的资源不存在")
    token = settings.metrics.token.get_secret_value()
    if token and authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return
    if not forwarded and client_ip is not None and _address_allowed(settings, client_ip):
        return
    raise Forbidden("metrics_forbidden", "无权读取监控指标")


def _address_allowed(settings: Settings, client_ip: str) -> bool:
    try:
        address = ip_address(client_ip)
    except ValueError:  # not an address (a test client, a Unix socket)
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.metrics.allowed_networks)


def status_class(code: int) -> str:
    return f"{code // 100}xx" if 100 <= code <= 599 else "other"


# The histogram child of each (method, route, status class): ``labels()`` validates and locks on every
# call, which showed as about 4 % of a payment notification's server time. Bounded: methods and route
# templates are finite sets (unmatched paths share one label), status classes too.
_REQUEST_CHILDREN: dict[tuple[str, str, str], Any] = {}


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    key = (method if method in METHODS else "OTHER", route or UNMATCHED_ROUTE, status_class(status))
    child = _REQUEST_CHILDREN.get(key)
    if child is None:
        child = _REQUEST_CHILDREN[key] = REQUEST_SECONDS.labels(method=key[0], route=key[1], status=key[2])
    child.observe(seconds)


@dataclass(frozen=True)
class Snapshot:
    """The values a scrape reads from the database and Redis."""

    database_up: bool
    overdue_by_status: dict[str, int] = field(default_factory=dict)
    notifications: dict[tuple[str, str], int] = field(default_factory=dict)
    redis_up: bool | None = None  # None: no Redis configured (jobs run inline)
    queue_jobs: dict[tuple[str, str], int] = field(default_factory=dict)
    outbox: tuple[int, float] | None = None  # jobs waiting for Redis, oldest age (s); None: no Redis


# --- reads ------------------------------------------------------------------------------------


def count_overdue_cases(session: Session) -> dict[str, int]:
    """Open cases with an overdue stage, by status (uses the index on ``case.overdue``)."""
    query = (
        select(col(Case.status), func.count())
        .where(col(Case.overdue).is_(True), col(Case.status).not_in(CLOSED_STATUSES))
        .group_by(col(Case.status))
    )
    return {str(status): int(count) for status, count in session.execute(query).all()}


def count_notifications(session: Session, *, since: datetime) -> dict[tuple[str, str], int]:
    """Payment notifications received since ``since``, by channel and verdict."""
    query = (
        select(col(PaymentNotification.channel), col(PaymentNotification.verdict), func.count())
        .where(col(PaymentNotification.received_at) >= since)
        .group_by(col(PaymentNotification.channel), col(PaymentNotification.verdict))
    )
    return {(str(channel), str(verdict)): int(count) for channel, verdict, count in session.execute(query)}


def queue_names(settings: Settings) -> list[tuple[str, str]]:
    """(our queue name, RQ queue name) of every queue a job is sent to."""
    return [
        (name, f"{settings.redis.queue_prefix}-{name}") for name in sorted({s.queue for s in JOBS.values()})
    ]


def count_queue_jobs(redis_url: str, settings: Settings) -> dict[tuple[str, str], int]:
    """Jobs per queue and state, read with one pipelined round trip (raises ``RedisError``)."""
    from rq import Queue

    connection = _redis(redis_url)
    keys: list[tuple[str, str]] = []
    pipe = connection.pipeline(transaction=False)
    for name, rq_name in queue_names(settings):
        queue = Queue(rq_name, connection=connection)
        pipe.llen(queue.key)
        keys.append((name, "queued"))
        registries = {
            "started": queue.started_job_registry,
            "scheduled": queue.scheduled_job_registry,
            "deferred": queue.deferred_job_registry,
            "failed": queue.failed_job_registry,
        }
        for state in RQ_STATES:
            pipe.zcard(registries[state].key)
            keys.append((name, state))
    return {key: int(value) for key, value in zip(keys, pipe.execute(), strict=True)}


_redis_clients: dict[str, Any] = {}
_redis_lock = threading.Lock()


def _redis(url: str) -> Any:
    from redis import Redis

    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            client = _redis_clients[url] = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return client


def read_snapshot(session: Session, settings: Settings, *, now: datetime) -> Snapshot:
    """Everything a scrape shows from the database and Redis; an unreachable one is reported as down."""
    from redis.exceptions import RedisError

    database_up = True
    overdue: dict[str, int] = {}
    notifications: dict[tuple[str, str], int] = {}
    outbox: tuple[int, float] | None = None
    try:
        overdue = count_overdue_cases(session)
        notifications = count_notifications(session, since=now - NOTIFICATION_WINDOW)
        if settings.redis.url:  # the job outbox is only used with Redis (decision 0016)
            outbox = jobs_outbox.backlog(session, now=now)
    except SQLAlchemyError as exc:
        log.warning("metrics: database not readable: %s", type(exc).__name__)
        session.rollback()
        database_up = False
    redis_up: bool | None = None
    queue_jobs: dict[tuple[str, str], int] = {}
    if settings.redis.url:
        try:
            queue_jobs = count_queue_jobs(settings.redis.url, settings)
            redis_up = True
        except RedisError as exc:
            log.warning("metrics: Redis not readable: %s", type(exc).__name__)
            redis_up = False
    return Snapshot(database_up, overdue, notifications, redis_up, queue_jobs, outbox)


class SnapshotCache:
    """The last snapshot per database and Redis, reused for ``cache_s`` seconds (monotonic clock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str | None], tuple[float, Snapshot]] = {}

    def get(self, session: Session, settings: Settings) -> Snapshot:
        key = (settings.db.url, settings.redis.url)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry[0] < settings.metrics.cache_s:
            return entry[1]
        snapshot = read_snapshot(session, settings, now=utcnow())
        with self._lock:
            self._entries[key] = (now, snapshot)
        return snapshot

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


snapshots = SnapshotCache()


class SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        return list(self._families())

    def _families(self) -> Iterator[Metric]:
        snap = self.snapshot
        yield GaugeMetricFamily(
            "zhcg_database_up", "1 when the database answered this scrape.", int(snap.database_up)
        )
        overdue = GaugeMetricFamily(
            "zhcg_cases_overdue", "Open cases with an overdue stage, by status.", labels=["status"]
        )
        for status, count in sorted(snap.overdue_by_status.items()):
            overdue.add_metric([status], count)
        yield overdue
        notifications = GaugeMetricFamily(
            "zhcg_payment_notifications_24h",
            "Payment notifications received in the last 24 hours, by channel and verdict.",
            labels=["channel", "verdict"],
        )
        for (channel, verdict), count in sorted(snap.notifications.items()):
            notifications.add_metric([channel, verdict], count)
        yield notifications
        if snap.redis_up is None:
            return
        yield GaugeMetricFamily("zhcg_redis_up", "1 when Redis answered this scrape.", int(snap.redis_up))
        jobs = GaugeMetricFamily(
            "zhcg_queue_jobs",
            "RQ jobs per queue and state (queued, started, scheduled, deferred, failed).",
            labels=["queue", "state"],
        )
        for (queue, state), count in sorted(snap.queue_jobs.items()):
            jobs.add_metric([queue, state], count)
        yield jobs
        if snap.outbox is not None:
            yield GaugeMetricFamily(
                "zhcg_job_outbox_jobs", "Committed jobs not yet in Redis (the job outbox).", snap.outbox[0]
            )
            yield GaugeMetricFamily(
                "zhcg_job_outbox_oldest_seconds",
                "Age of the oldest job waiting in the job outbox (0 when it is empty).",
                snap.outbox[1],
            )


def render(session: Session, settings: Settings) -> bytes:
    """The text exposition of this process's metrics followed by the scrape-time ones."""
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(SnapshotCollector(snapshots.get(session, settings)))
    return generate_latest(REGISTRY) + generate_latest(scraped)
