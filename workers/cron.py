"""Periodic jobs: what runs when. ``python -m workers cron`` runs this loop; several cron processes
may run at once (each slot is claimed with a Redis SET NX, so a job is enqueued once per slot).

Without Redis (the embedded default of ``make run``) ``zhcg serve`` starts ``start_embedded``: one
daemon thread in the web process that runs each periodic job inline once per slot, so payments are
still polled, overdue cases marked and notifications swept on a single machine."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from core.jobs import InlineDispatcher, PendingJob, RQDispatcher
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
    Periodic("payments.poll_pending", every_s=60),  # also closes expired orders
    Periodic("payments.refund_poll", every_s=300),
    Periodic("payments.reconcile", every_s=3600),  # works once a day, after ZHCG_PAYMENTS__RECONCILE_HOUR
    Periodic("housekeeping.purge", every_s=86400),
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


class EmbeddedCron:
    """The single-process schedule: slots are remembered in memory (one web process, one thread)."""

    def __init__(self, tick_s: float = 15.0) -> None:
        self.tick_s = tick_s
        self.stop = threading.Event()
        self._last_slot: dict[str, int] = {}

    def run_due(self, now_s: float) -> list[str]:
        """Run every periodic job whose slot starts now, inline, one after another."""
        due: list[PendingJob] = []
        for item in SCHEDULE:
            slot = int(now_s) // item.every_s
            if self._last_slot.get(item.job) != slot:
                self._last_slot[item.job] = slot
                due.append(PendingJob(item.job))
        InlineDispatcher().dispatch(due)  # a failing job is logged and does not stop the others
        return [job.name for job in due]

    def run(self) -> None:
        while not self.stop.is_set():
            self.run_due(time.time())
            self.stop.wait(self.tick_s)


def start_embedded(settings: Settings) -> EmbeddedCron | None:
    """Start the in-process schedule when jobs run inline (no Redis); None when a cron process
    (``python -m workers cron``) is expected instead, or when ``ZHCG_REDIS__EMBEDDED_CRON`` is off."""
    if settings.redis.url or not settings.redis.embedded_cron:
        return None
    cron = EmbeddedCron()
    threading.Thread(target=cron.run, name="zhcg-embedded-cron", daemon=True).start()
    log.info("embedded cron started (no Redis): %s", ", ".join(item.job for item in SCHEDULE))
    return cron


def run_forever(settings: Settings, tick_s: float = 30.0) -> None:
    while True:
        for job in run_due(settings, time.time()):
            log.info("cron enqueued %s", job)
        time.sleep(tick_s)
