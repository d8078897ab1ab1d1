"""Periodic jobs: what runs when. ``python -m workers cron`` runs this loop; several cron processes
may run at once (each slot is claimed with a Redis SET NX, so a job is enqueued once per slot)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from core.jobs import PendingJob, RQDispatcher
from core.settings import Settings
from workers.queues import redis_connection

log = logging.getLogger("zhcg.cron")


@dataclass(frozen=True)
class Periodic:
    job: str
    every_s: int


SCHEDULE: tuple[Periodic, ...] = (
    Periodic("calendar.check_years", every_s=6 * 3600),
    Periodic("cases.mark_overdue", every_s=300),
    Periodic("notify.sweep", every_s=600),
    Periodic("exchange.sweep", every_s=60),
)


def run_due(settings: Settings, now_s: float) -> list[str]:
    """Enqueue every periodic job whose slot starts now; returns the jobs enqueued."""
    connection = redis_connection(settings)
    dispatcher = RQDispatcher(str(settings.redis.url), settings.redis.queue_prefix)
    sent: list[str] = []
    for item in SCHEDULE:
        slot = int(now_s) // item.every_s
        key = f"{settings.redis.queue_prefix}:cron:{item.job}:{slot}"
        if connection.set(key, "1", nx=True, ex=item.every_s * 2):
            dispatcher.send(PendingJob(item.job))  # same queue, retries and timeout as any enqueue
            sent.append(item.job)
    return sent


def run_forever(settings: Settings, tick_s: float = 30.0) -> None:
    while True:
        for job in run_due(settings, time.time()):
            log.info("cron enqueued %s", job)
        time.sleep(tick_s)
