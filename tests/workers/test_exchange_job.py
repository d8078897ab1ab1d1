"""The exchange jobs in a real RQ worker process against the local fake 12345 platform: the sweep derives
pushes from committed history and queues them; exchange.push delivers them in order, and platform
trouble is committed, retried with the job spec's back-off, then acknowledged."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

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
    ActorKind,
    Case,
    CaseEvent,
    CaseStatus,
    Category,
    CategoryKind,
    CategoryLevel,
    Channel,
    ExchangeCursor,
    ExchangeOrder,
    ExchangePush,
    ExchangePushStatus,
)
from core.settings import Settings
from tests.fixtures.fake_12345 import Fake12345, running_fake_12345
from tests.fixtures.worker import run_worker


@pytest.fixture
def fake() -> Iterator[Fake12345]:
    with running_fake_12345() as server:
        yield server


@dataclass(frozen=True)
class Committed:
    order_id: int
    order_no: str
    case_id: int


HISTORY = [
    ("accept", CaseStatus.PENDING, CaseStatus.ACCEPTED),
    ("register", CaseStatus.ACCEPTED, CaseStatus.REGISTERED),
    ("dispatch", CaseStatus.REGISTERED, CaseStatus.DISPATCHED),
    ("handle", CaseStatus.DISPATCHED, CaseStatus.HANDLED),
]


@pytest.fixture
def committed(engine: Engine) -> Iterator[Committed]:
    """A 12345 case with its history committed for real (a worker process must see it); removed after."""
    token = secrets.token_hex(3)
    with session_scope(engine) as session:
        category = Category(
            code=f"SJ{token}", kind=CategoryKind.EVENT, level=CategoryLevel.MINOR, name="测试"
        )
        session.add(category)
        session.flush()
        assert category.id is not None
        case = Case(
            case_no=f"W{token}",
            channel=Channel.GOV12345,
            status=CaseStatus.HANDLED,
            category_id=category.id,
            description="12345 转办测试工单",
            lng=114.9,
            lat=27.8,
            unit_grid_code="360502001001001",
            community_code="360502001001",
            street_code="360502001",
            district_code="360502",
        )
        session.add(case)
        session.flush()
        assert case.id is not None
        order = ExchangeOrder(order_no=f"GD{token}", case_id=case.id, payload_hash="0" * 64)
        session.add(order)
        for action, source, target in HISTORY:
            session.add(
                CaseEvent(
                    case_id=case.id,
                    actor_kind=ActorKind.SYSTEM,
                    action=action,
                    from_status=source,
                    to_status=target,
                    note=f"{action} 说明",
                )
            )
        session.flush()
        assert order.id is not None
        data = Committed(order.id, order.order_no, case.id)
        category_id = category.id
    yield data
    with session_scope(engine) as session:
        session.exec(delete(ExchangePush).where(col(ExchangePush.order_id) == data.order_id))  # type: ignore[call-overload]
        session.exec(delete(ExchangeOrder).where(col(ExchangeOrder.id) == data.order_id))  # type: ignore[call-overload]
        session.exec(delete(CaseEvent).where(col(CaseEvent.case_id) == data.case_id))  # type: ignore[call-overload]
        session.exec(delete(Case).where(col(Case.id) == data.case_id))  # type: ignore[call-overload]
        session.exec(delete(Category).where(col(Category.id) == category_id))  # type: ignore[call-overload]
        session.exec(delete(ExchangeCursor))  # type: ignore[call-overload]


def pushes(engine: Engine, order_id: int) -> list[ExchangePush]:
    with session_scope(engine) as session:
        stmt = (
            select(ExchangePush).where(col(ExchangePush.order_id) == order_id).order_by(col(ExchangePush.seq))
        )
        return list(session.exec(stmt).all())


def exchange_queue(settings: Settings) -> Queue:
    return Queue(
        f"{settings.redis.queue_prefix}-exchange", connection=Redis.from_url(str(settings.redis.url))
    )


def test_the_sweep_derives_pushes_and_a_real_worker_delivers_them_in_order(
    engine: Engine, rq_settings: Settings, fake: Fake12345, committed: Committed
) -> None:
    dispatcher = configure_jobs(rq_settings)
    assert isinstance(dispatcher, RQDispatcher)
    dispatcher.send(PendingJob("exchange.sweep"))

    result = run_worker(rq_settings, fake.environment())
    assert result.returncode == 0, result.stderr[-3000:]

    delivered = fake.pushes_of(committed.order_no)
    assert [push["event"] for push in delivered] == ["accept", "dispatch", "handle"]
    assert [push["stage"] for push in delivered] == ["受理", "派单", "办理"]
    rows = pushes(engine, committed.order_id)
    assert [(row.status, row.attempts) for row in rows] == [(ExchangePushStatus.SENT, 1)] * 3
    assert exchange_queue(rq_settings).count == 0

    # A second sweep finds nothing new and sends nothing again; a duplicate push job sends nothing either.
    dispatcher.send(PendingJob("exchange.sweep"))
    dispatcher.send(PendingJob("exchange.push", {"order_id": committed.order_id}))
    result = run_worker(rq_settings, fake.environment())
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(fake.pushes_of(committed.order_no)) == 3
    assert len(pushes(engine, committed.order_id)) == 3


def test_platform_trouble_is_committed_retried_and_then_acknowledged_in_order(
    engine: Engine, rq_settings: Settings, fake: Fake12345, committed: Committed
) -> None:
    dispatcher = configure_jobs(rq_settings)
    assert isinstance(dispatcher, RQDispatcher)
    fake.fail_next(503)
    dispatcher.send(PendingJob("exchange.sweep"))

    result = run_worker(rq_settings, fake.environment())
    assert result.returncode == 0, result.stderr[-3000:]
    assert fake.pushes_of(committed.order_no) == []
    rows = pushes(engine, committed.order_id)
    # The failed try was committed before the job raised; the later pushes wait behind it.
    assert [(row.event, row.status, row.attempts) for row in rows] == [
        ("accept", ExchangePushStatus.PENDING, 1),
        ("dispatch", ExchangePushStatus.PENDING, 0),
        ("handle", ExchangePushStatus.PENDING, 0),
    ]
    assert "503" in rows[0].last_error
    # … and RQ scheduled the retry from the job spec's back-off.
    queue = exchange_queue(rq_settings)
    registry = ScheduledJobRegistry(queue=queue)
    [job_id] = registry.get_job_ids()
    job = Job.fetch(job_id, connection=queue.connection)
    assert job.retries_left == 4

    registry.requeue(job_id)  # the back-off has passed
    result = run_worker(rq_settings, fake.environment())
    assert result.returncode == 0, result.stderr[-3000:]
    assert [push["event"] for push in fake.pushes_of(committed.order_no)] == ["accept", "dispatch", "handle"]
    rows = pushes(engine, committed.order_id)
    assert [(row.status, row.attempts, row.last_error) for row in rows] == [
        (ExchangePushStatus.SENT, 2, ""),
        (ExchangePushStatus.SENT, 1, ""),
        (ExchangePushStatus.SENT, 1, ""),
    ]
    Job.fetch(job_id, connection=queue.connection).delete()
