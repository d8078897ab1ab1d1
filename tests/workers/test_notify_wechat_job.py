"""The notify.deliver job in a real RQ worker process with WeChat configured: the local fake WeChat API
answers subscribe messages, the local fake SMS gateway takes the fallback. A retried job sends the
subscribe message once; a message queued twice is sent once; 43101 falls back to SMS."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import Engine
from sqlmodel import col, delete, select

from core.db import session_scope
from core.jobs import PendingJob, RQDispatcher, configure_jobs
from core.models import (
    Citizen,
    DeliveryChannel,
    DeliveryStatus,
    OutboxDelivery,
    OutboxMessage,
    OutboxStatus,
    SubscribeConsent,
)
from core.notify import outbox
from core.settings import Settings
from tests.fixtures.fake_sms import FakeSms, running_fake_sms
from tests.fixtures.fake_wechat import FakeWechat, running_fake_wechat
from tests.fixtures.worker import run_worker

TEMPLATE = "tmpl-progress"
KEYWORDS = ("character_string1", "phrase2", "thing3", "time4")


@pytest.fixture
def sms() -> Iterator[FakeSms]:
    with running_fake_sms() as server:
        yield server


@pytest.fixture
def wechat() -> Iterator[FakeWechat]:
    with running_fake_wechat() as server:
        server.add_template(TEMPLATE, KEYWORDS)
        yield server


@pytest.fixture
def env(sms: FakeSms, wechat: FakeWechat) -> dict[str, str]:
    return {
        **sms.environment(),
        "ZHCG_WECHAT__API_BASE": wechat.api_base,
        "ZHCG_WECHAT__APP_ID": wechat.state.app_id,
        "ZHCG_WECHAT__APP_SECRET": wechat.state.app_secret,
        "ZHCG_WECHAT__SUBSCRIBE_TEMPLATES": json.dumps({"case_closed": {"template_id": TEMPLATE}}),
    }


@pytest.fixture
def person(engine: Engine, wechat: FakeWechat) -> Iterator[tuple[int, str, str]]:
    """A committed WeChat citizen with a phone and one recorded consent: (id, openid, phone)."""
    _, user = wechat.add_user()
    phone = f"137{secrets.randbelow(10**8):08d}"
    with session_scope(engine) as session:
        citizen = Citizen(phone=phone, openid=user.openid)
        session.add(citizen)
        session.flush()
        assert citizen.id is not None
        session.add(SubscribeConsent(citizen_id=citizen.id, template_id=TEMPLATE, available=1))
        citizen_id = citizen.id
    wechat.grant(user.openid, TEMPLATE)
    yield citizen_id, user.openid, phone
    with session_scope(engine) as session:
        message_ids = select(OutboxMessage.id).where(col(OutboxMessage.citizen_id) == citizen_id)
        session.exec(
            delete(OutboxDelivery).where(col(OutboxDelivery.message_id).in_(message_ids.scalar_subquery()))
        )  # type: ignore[call-overload]
        session.exec(delete(OutboxMessage).where(col(OutboxMessage.citizen_id) == citizen_id))  # type: ignore[call-overload]
        session.exec(delete(SubscribeConsent).where(col(SubscribeConsent.citizen_id) == citizen_id))  # type: ignore[call-overload]
        session.exec(delete(Citizen).where(col(Citizen.id) == citizen_id))  # type: ignore[call-overload]


def committed_message(engine: Engine, citizen_id: int) -> int:
    with session_scope(engine) as session:
        [message] = outbox.record(
            session,
            case_id=None,
            event="case_closed",
            citizen_ids=[citizen_id],
            payload={"case_no": "NWX0001"},
        )
        assert message.id is not None
        return message.id


def state(engine: Engine, message_id: int) -> tuple[OutboxStatus, str, int, DeliveryStatus | None, int]:
    """(message status, channel, attempts, WeChat delivery status, consents left)."""
    with session_scope(engine) as session:
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        row = session.exec(
            select(OutboxDelivery).where(
                col(OutboxDelivery.message_id) == message_id,
                col(OutboxDelivery.channel) == DeliveryChannel.WECHAT,
            )
        ).first()
        consent = session.exec(
            select(SubscribeConsent).where(col(SubscribeConsent.citizen_id) == message.citizen_id)
        ).one()
        return (
            message.status,
            message.channel,
            message.attempts,
            row.status if row else None,
            consent.available,
        )


def notify_queue(settings: Settings) -> Queue:
    return Queue(f"{settings.redis.queue_prefix}-notify", connection=Redis.from_url(str(settings.redis.url)))


def test_queued_twice_sends_one_subscribe_message_and_no_sms(
    engine: Engine,
    rq_settings: Settings,
    env: dict[str, str],
    wechat: FakeWechat,
    sms: FakeSms,
    person: tuple[int, str, str],
) -> None:
    citizen_id, openid, phone = person
    dispatcher = configure_jobs(rq_settings)
    assert isinstance(dispatcher, RQDispatcher)
    message_id = committed_message(engine, citizen_id)
    dispatcher.send(PendingJob("notify.deliver", {"message_id": message_id}))

    result = run_worker(rq_settings, env)
    assert result.returncode == 0, result.stderr[-3000:]
    [sent] = wechat.sent
    assert (sent["touser"], sent["data"]["character_string1"]) == (openid, "NWX0001")
    assert sms.messages_to(phone) == []
    assert state(engine, message_id) == (OutboxStatus.SENT, "wechat", 1, DeliveryStatus.SENT, 0)


def test_a_retried_job_sends_the_subscribe_message_once(
    engine: Engine,
    rq_settings: Settings,
    env: dict[str, str],
    wechat: FakeWechat,
    sms: FakeSms,
    person: tuple[int, str, str],
) -> None:
    citizen_id, _, phone = person
    configure_jobs(rq_settings)
    wechat.inject_send(errcode=-1)  # WeChat busy on the first run
    message_id = committed_message(engine, citizen_id)

    result = run_worker(rq_settings, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert wechat.sent == []
    # The attempt, the retry state and the consent given back were committed before the job raised.
    assert state(engine, message_id) == (OutboxStatus.PENDING, "", 1, DeliveryStatus.RETRY, 1)
    queue = notify_queue(rq_settings)
    registry = ScheduledJobRegistry(queue=queue)
    [job_id] = registry.get_job_ids()

    registry.requeue(job_id)  # the back-off has passed
    result = run_worker(rq_settings, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(wechat.sent) == 1
    assert sms.messages_to(phone) == []
    assert state(engine, message_id) == (OutboxStatus.SENT, "wechat", 2, DeliveryStatus.SENT, 0)

    # A stray third run (e.g. the sweep re-queued it) sends nothing more.
    dispatcher = configure_jobs(rq_settings)
    assert isinstance(dispatcher, RQDispatcher)
    dispatcher.send(PendingJob("notify.deliver", {"message_id": message_id}))
    result = run_worker(rq_settings, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(wechat.sent) == 1
    Job.fetch(job_id, connection=queue.connection).delete()


def test_no_consent_left_at_wechat_falls_back_to_sms(
    engine: Engine,
    rq_settings: Settings,
    env: dict[str, str],
    wechat: FakeWechat,
    sms: FakeSms,
    person: tuple[int, str, str],
) -> None:
    citizen_id, openid, phone = person
    configure_jobs(rq_settings)
    wechat.grant(openid, TEMPLATE, -1)  # spent elsewhere: WeChat answers 43101
    message_id = committed_message(engine, citizen_id)

    result = run_worker(rq_settings, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert wechat.sent == []
    [text] = sms.messages_to(phone)
    assert "NWX0001" in text.content
    assert state(engine, message_id) == (OutboxStatus.SENT, "sms", 1, DeliveryStatus.REFUSED, 0)
