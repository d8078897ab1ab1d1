"""End to end with a real Redis and a real RQ worker process: commit → queue → worker runs the job;
rollback → nothing is queued; a job logs under the request id it was enqueued with (cron's jobs under
their own); a cron tick relays the job outbox and survives Redis being down."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import Engine, delete, update
from sqlmodel import Session

from core import jobs_outbox
from core.db import session_scope
from core.jobs import JOBS, RELAY_MIN_AGE, RQDispatcher, configure_jobs, enqueue
from core.kit.clock import utcnow
from core.kit.request_id import bound_request_id
from core.settings import Settings
from tests.fixtures.worker import run_worker
from workers.cron import SCHEDULE, run_due, tick

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


def test_a_job_logs_under_the_request_id_it_was_enqueued_with(
    session: Session, rq_settings: Settings
) -> None:
    configure_jobs(rq_settings)
    with bound_request_id("req-h2-worker"):
        enqueue(session, "system.ping", token=secrets.token_hex(4))
    enqueue(session, "system.ping", token=secrets.token_hex(4))  # enqueued outside a request
    session.commit()

    result = run_worker(rq_settings, {"ZHCG_APP__LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    done = [line["request_id"] for line in lines if "Job OK" in line["message"]]
    assert len(done) == 2
    assert done[0] == "req-h2-worker"
    assert done[1].startswith(f"job-{rq_settings.redis.queue_prefix}-outbox-")  # its job id instead
    assert any(line["request_id"] is None for line in lines)  # the worker's own lines have none


def test_cron_jobs_run_under_a_request_id_of_their_own(rq_settings: Settings) -> None:
    now_s = 1_800_000_000
    run_due(rq_settings, now_s=now_s)
    every = {item.job: item.every_s for item in SCHEDULE}
    by_path = {spec.path: name for name, spec in JOBS.items()}
    connection = Redis.from_url(str(rq_settings.redis.url))
    queues = sorted({JOBS[item.job].queue for item in SCHEDULE})
    jobs = [
        job
        for name in queues
        for job in Queue(f"{rq_settings.redis.queue_prefix}-{name}", connection=connection).jobs
    ]
    assert len(jobs) == len(SCHEDULE)
    for job in jobs:
        name = by_path[job.func_name]
        assert job.meta["request_id"] == f"cron-{name}-{now_s // every[name]}"


def test_a_cron_tick_relays_the_outbox_and_survives_a_redis_outage(
    engine: Engine, rq_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    token = secrets.token_hex(4)
    with session_scope(engine) as session:
        [row_id] = jobs_outbox.write(session, [("system.ping", {"token": token}, "req-h2-cron")])
        # Older than the relay's minimum age: its committing process would have sent it by now.
        session.execute(
            update(jobs_outbox.TABLE)
            .where(jobs_outbox.TABLE.c.id == row_id)
            .values(created_at=utcnow() - RELAY_MIN_AGE * 2)
        )
    try:
        down = rq_settings.model_copy(
            update={"redis": rq_settings.redis.model_copy(update={"url": "redis://127.0.0.1:1/0"})}
        )
        with caplog.at_level("WARNING"):
            tick(down, time.time())  # logged, not raised: the loop goes on
        assert any("periodic jobs not enqueued" in record.getMessage() for record in caplog.records)

        tick(rq_settings, time.time())
        queue = Queue(
            f"{rq_settings.redis.queue_prefix}-default", connection=Redis.from_url(str(rq_settings.redis.url))
        )
        [job] = [job for job in queue.jobs if job.kwargs.get("token") == token]
        assert job.id == f"{rq_settings.redis.queue_prefix}-outbox-{row_id}"
        assert job.meta["request_id"] == "req-h2-cron"  # the request's id, not the relay's
    finally:
        with session_scope(engine) as session:
            session.execute(delete(jobs_outbox.TABLE).where(jobs_outbox.TABLE.c.id == row_id))
