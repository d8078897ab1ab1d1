"""The notify.deliver job in a real RQ worker process, against the local fake SMS gateway: a committed
outbox message is texted once even when queued twice; gateway trouble is recorded, retried, then sent."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import Engine
from sqlmodel import col, delete, select

from core.db import session_scope
from core.jobs import PendingJob, RQDispatcher, configure_jobs
from core.models import Citizen, OutboxDelivery, OutboxMessage, OutboxStatus
from core.notify import outbox
from core.settings import Settings
from tests.fixtures.fake_sms import FakeSms, running_fake_sms
from tests.fixtures.worker import run_worker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeSms]:
    with running_fake_sms() as server:
        yield server


@pytest.fixture
def phone(engine: Engine) -> Iterator[str]:
    """A phone of a citizen committed for real (a worker process must see it); removed afterwards."""
    number = f"136{secrets.randbelow(10**8):08d}"
    yield number
    with session_scope(engine) as session:
        citizen_ids = select(Citizen.id).where(col(Citizen.phone) == number).scalar_subquery()
        message_ids = select(OutboxMessage.id).where(col(OutboxMessage.citizen_id).in_(citizen_ids))
        session.exec(
            delete(OutboxDelivery).where(col(OutboxDelivery.message_id).in_(message_ids.scalar_subquery()))
        )  # type: ignore[call-overload]
        session.exec(delete(OutboxMessage).where(col(OutboxMessage.citizen_id).in_(citizen_ids)))  # type: ignore[call-overload]
        session.exec(delete(Citizen).where(col(Citizen.phone) == number))  # type: ignore[call-overload]


def committed_message(engine: Engine, phone: str) -> int:
    """Commit a citizen and one outbox message: the commit queues notify.deliver (RQ dispatcher)."""
    with session_scope(engine) as session:
        citizen = Citizen(phone=phone)
        session.add(citizen)
        session.flush()
        assert citizen.id is not None
        [message] = outbox.record(
            session,
            case_id=None,
            event="case_closed",
            citizen_ids=[citizen.id],
            payload={"case_no": "NJOB0001"},
        )
        assert message.id is not None
        return message.id


def load(engine: Engine, message_id: int) -> OutboxMessage:
    with session_scope(engine) as session:
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        return message


def notify_queue(settings: Settings) -> Queue:
    return Queue(f"{settings.redis.queue_prefix}-notify", connection=Redis.from_url(str(settings.redis.url)))


def test_a_real_worker_texts_a_committed_message_once_even_if_queued_twice(
    engine: Engine, rq_settings: Settings, fake: FakeSms, phone: str
) -> None:
    dispatcher = configure_jobs(rq_settings)
    assert isinstance(dispatcher, RQDispatcher)
    message_id = committed_message(engine, phone)
    dispatcher.send(PendingJob("notify.deliver", {"message_id": message_id}))  # a duplicate delivery
    assert notify_queue(rq_settings).count == 2

    result = run_worker(rq_settings, fake.environment())
    assert result.returncode == 0, result.stderr[-3000:]

    [sms] = fake.messages_to(phone)
    assert "NJOB0001" in sms.content
    message = load(engine, message_id)
    assert (message.status, message.channel, message.attempts) == (OutboxStatus.SENT, "sms", 1)
    assert notify_queue(rq_settings).count == 0


def test_gateway_trouble_is_committed_retried_and_then_sent(
    engine: Engine, rq_settings: Settings, fake: FakeSms, phone: str
) -> None:
    configure_jobs(rq_settings)
    fake.fail_next(503)
    message_id = committed_message(engine, phone)

    result = run_worker(rq_settings, fake.environment())
    assert result.returncode == 0, result.stderr[-3000:]
    assert fake.messages_to(phone) == []
    message = load(engine, message_id)
    # The failed attempt was committed before the job raised …
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 1)
    assert "internal_error" in message.last_error
    # … and RQ scheduled the retry from the job spec's back-off.
    queue = notify_queue(rq_settings)
    registry = ScheduledJobRegistry(queue=queue)
    [job_id] = registry.get_job_ids()
    job = Job.fetch(job_id, connection=queue.connection)
    assert job.retries_left == 4

    registry.requeue(job_id)  # the back-off has passed
    result = run_worker(rq_settings, fake.environment())
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(fake.messages_to(phone)) == 1
    message = load(engine, message_id)
    assert (message.status, message.attempts, message.last_error) == (OutboxStatus.SENT, 2, "")
    Job.fetch(job_id, connection=queue.connection).delete()
