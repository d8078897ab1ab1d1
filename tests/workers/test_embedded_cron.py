"""Without Redis the web process runs the periodic jobs itself, once per slot."""

from __future__ import annotations

from core.settings import get_settings
from workers.cron import SCHEDULE, EmbeddedCron, start_embedded


def test_each_periodic_job_runs_once_per_slot() -> None:
    cron = EmbeddedCron()
    # Jobs run inline against the test database configured for this run; a failing one is only logged.
    first = cron.run_due(1_800_000_000)
    assert first == [item.job for item in SCHEDULE]
    assert cron.run_due(1_800_000_001) == []
    later = cron.run_due(1_800_000_000 + 60)
    assert later == [item.job for item in SCHEDULE if item.every_s == 60]


def test_not_started_with_redis_or_when_switched_off() -> None:
    base = get_settings()
    with_redis = base.model_copy(
        update={"redis": base.redis.model_copy(update={"url": "redis://127.0.0.1:6379/0"})}
    )
    switched_off = base.model_copy(update={"redis": base.redis.model_copy(update={"embedded_cron": False})})
    assert start_embedded(with_redis) is None
    assert start_embedded(switched_off) is None
