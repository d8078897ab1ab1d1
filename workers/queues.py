"""Queue names and the Redis connection of the worker process."""

from __future__ import annotations

from redis import Redis

from core.jobs import JOBS
from core.settings import Settings


def queue_names(settings: Settings) -> list[str]:
    queues = sorted({spec.queue for spec in JOBS.values()})
    return [f"{settings.redis.queue_prefix}-{name}" for name in queues]


def redis_connection(settings: Settings) -> Redis:
    if not settings.redis.url:
        raise SystemExit("ZHCG_REDIS__URL is not set: without Redis, jobs run inline in the web process")
    return Redis.from_url(settings.redis.url)
