"""Periodic jobs: what runs when. ``python -m workers cron`` runs this loop; several cron processes
may run at once (each slot is claimed with a Redis SET NX, so a job is enqueued once per slot).

Each tick the loop also relays the job outbox (``core.jobs.relay_outbox``, decision 0016): jobs whose
commit found Redis down are sent once it answers again. The cron process is the relay because it is
the one process that already runs on a timer with Redis configured; several relays share the backlog
(row claims with ``SKIP LOCKED``). A failing tick (Redis or the database down) is logged and the loop
goes on, so the relay is there when Redis comes back.

A periodic job runs under the request id ``cron-<job>-<slot>``, so its log lines and the jobs it
enqueues can be told apart from every other run.

Without Redis (the embedded default of ``make run``) ``zhcg serve`` starts ``start_embedded``: one
daemon thread in the web process that runs each periodic job inline once per slot, so payments are
still polled, overdue cases marked and notifications swept on a single machine."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from core.db import get_engine
from core.jobs import RELAY_MIN_AGE, InlineDispatcher, PendingJob, RQDispatcher, relay_outbox
from core.kit.request_id import bound_request_id
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


def cron_request_id(job: str, slot: int) -> str:
    return f"cron-{job}-{slot}"


def run_due(settings: Settings, now_s: float) -> list[str]:
    """Enqueue every periodic job whose slot starts now; returns the jobs enqueued."""
    connection = redis_connection(settings)
    dispatcher = RQDispatcher(str(settings.redis.url), settings.redis.queue_prefix)
    sent: list[str] = []
    for item in SCHEDULE:
        slot = int(now_s) // item.every_s
        key = f"{settings.redis.queue_prefix}:cron:{item.job}:{slot}"
        if connection.set(key, "1", nx=True, ex=item.every_s * 2):
            # Same queue, retries and timeout as any enqueue; its own request id.
            dispatcher.send(PendingJob(item.job, request_id=cron_request_id(item.job, slot)))
            sent.append(item.job)
    return sent


def relay_once(settings: Settings, *, min_age: timedelta = RELAY_MIN_AGE) -> int:
    """One pass of the outbox relay (``python -m workers relay`` and every cron tick); the jobs sent."""
    dispatcher = RQDispatcher(str(settings.redis.url), settings.redis.queue_prefix)
    with bound_request_id(f"relay-{int(time.time())}"):
        sent = relay_outbox(get_engine(settings), dispatcher, min_age=min_age)
        if sent:
            log.info("relay sent %d job(s) from the outbox", sent)
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


def tick(settings: Settings, now_s: float) -> None:
    """One turn of the loop: the outbox first (its jobs are the oldest), then the due periodic jobs.
    Each part's failure is logged and does not stop the other or the loop."""
    try:
        relay_once(settings)
    except Exception:
        log.exception("cron: the outbox relay failed; trying again next tick")
    try:
        for job in run_due(settings, now_s):
            log.info("cron enqueued %s", job)
    except Exception:
        log.exception("cron: periodic jobs not enqueued; trying again next tick")


def run_forever(settings: Settings, tick_s: float = 30.0) -> None:
    while True:
        tick(settings, time.time())
        time.sleep(tick_s)
