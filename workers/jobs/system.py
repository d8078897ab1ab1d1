"""Operational jobs."""

from __future__ import annotations

from core.kit.clock import utcnow
from core.settings import get_settings

PING_TTL_S = 3600
received_inline: list[str] = []


def ping(token: str) -> None:
    """Proves the path request → commit → queue → worker end to end: records the token in Redis
    (or in this process when jobs run inline)."""
    settings = get_settings()
    if settings.redis.url:
        from redis import Redis

        Redis.from_url(settings.redis.url).set(
            f"{settings.redis.queue_prefix}:ping:{token}", utcnow().isoformat(), ex=PING_TTL_S
        )
    else:
        received_inline.append(token)
