"""End to end with a real Redis and a real RQ worker process: commit → queue → worker runs the job;
rollback → nothing is queued."""

from __future__ import annotations

import secrets
from pathlib import Path

from redis import Redis
from rq import Queue
from sqlmodel import Session

from core.jobs import JOBS, RQDispatcher, configure_jobs, enqueue
from core.settings import Settings
from tests.fixtures.worker import run_worker
from workers.cron import SCHEDULE, run_due

ROOT = Path(__file__).resolve().parents[2]


def test_committed_job_runs_in_a_real_worker_and_rolled_back_job_never_queues(
    session: Session, rq_settings: Settings
) -> None:
    dispatcher = configure_jobs(rq_settings)
    assert isinstance(dispatcher, RQDispatcher)
    redis = Redis.from_url(str(rq_settings.redis.url))
    queue = Queue(f"{rq_settings.redis.queue_prefix}-default", connection=redis)
    committed, rolled_back = secrets.token_hex(4), secrets.token_hex(4)

    enqueue(session, "system.ping", token=rolled_back)
    session.rollback()
    assert queue.count == 0

    enqueue(session, "system.ping", token=committed)
    assert queue.count == 0  # not before the commit
    session.commit()
    assert queue.count == 1

    result = run_worker(rq_settings)
    assert result.returncode == 0, result.stderr[-2000:]
    prefix = rq_settings.redis.queue_prefix
    assert redis.get(f"{prefix}:ping:{committed}") is not None
    assert redis.get(f"{prefix}:ping:{rolled_back}") is None
    assert queue.count == 0


def test_cron_enqueues_each_periodic_job_once_per_slot(rq_settings: Settings) -> None:
    first = run_due(rq_settings, now_s=1_800_000_000)
    again = run_due(rq_settings, now_s=1_800_000_001)
    assert first == [item.job for item in SCHEDULE]
    assert again == []
    queue = Queue(
        f"{rq_settings.redis.queue_prefix}-default", connection=Redis.from_url(str(rq_settings.redis.url))
    )
    assert queue.count == sum(1 for item in SCHEDULE if JOBS[item.job].queue == "default")
