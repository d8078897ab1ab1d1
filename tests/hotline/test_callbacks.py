"""Call-backs and follow-ups placed by the bridge: Originate against the fake AMI, results recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from core.db import session_scope
from core.kit.clock import to_local, utcnow
from core.models import (
    Call,
    CallDirection,
    CallOutcome,
    CallState,
    CallTask,
    CallTaskKind,
    CallTaskStatus,
    CaseStatus,
    Channel,
)
from core.settings import Settings, get_settings
from hotline.bridge import Bridge
from tests.fixtures.fake_ami import FakeAmi
from tests.hotline.conftest import FAST, eventually, ready, run, with_bridge
from tests.hotline.hotline_cases import clear_cases, hotline_case

OUTBOUND: dict[str, Any] = {
    "outbound_enabled": True,
    "calling_hours": "",
    "scheduler_interval_s": 0.05,
    "retry_min_s": 0.05,
    "retry_max_s": 0.1,
    "max_attempts": 3,
    "followup_delay_s": 0,
    "followup_scan_interval_s": 0.05,
}


@pytest.fixture
def clean(engine_: Engine) -> Iterator[Engine]:
    clear_cases(engine_)
    yield engine_
    clear_cases(engine_)  # no closed case left for a later test's follow-up scan


def settings_with(fake: FakeAmi, **ami: Any) -> Settings:
    return fake.settings_for(get_settings(), **{**FAST, **OUTBOUND, **ami})


def missed_call_task(engine: Engine, number: str = "13912345678", line: str = "12345") -> int:
    now = utcnow()
    with session_scope(engine) as session:
        call = Call(
            linkedid=f"cb-{now.timestamp()}-{number}",
            direction=CallDirection.INBOUND,
            line=line,
            caller_number=number,
            state=CallState.ENDED,
            outcome=CallOutcome.MISSED,
            started_at=now - timedelta(minutes=1),
            ended_at=now,
        )
        session.add(call)
        session.flush()
        task = CallTask(kind=CallTaskKind.CALLBACK, number=number, call_id=call.id, next_attempt_at=now)
        session.add(task)
        session.flush()
        assert task.id is not None
        return task.id


def load_task(engine: Engine, task_id: int) -> CallTask:
    with session_scope(engine) as session:
        task = session.get(CallTask, task_id)
        assert task is not None
        return task


def test_a_callback_is_originated_and_done_when_answered(fake_ami: FakeAmi, clean: Engine) -> None:
    task_id = missed_call_task(clean)

    async def body(bridge: Bridge) -> None:
        await ready(bridge)
        await eventually(lambda: load_task(clean, task_id).status is CallTaskStatus.DONE)

    bridge = run(with_bridge(settings_with(fake_ami), clean, body))
    task = load_task(clean, task_id)
    assert (task.attempts, task.last_result, task.next_attempt_at) == (1, "已接通", None)
    [action] = fake_ami.state.originates
    assert action["channel"] == "Local/13912345678@zhcg-callback"
    assert action["async"] == "true"
    assert action["variable"] == f"ZHCG_TASK={task_id}"
    assert action["callerid"] == '"12345" <12345>'  # the line the citizen called
    assert (action["context"], action["exten"], action["priority"]) == ("zhcg-callback-agent", "s", "1")
    assert action["timeout"] == "30000"
    assert bridge.scheduler.status.answered == 1


def test_a_failed_callback_is_retried_later(fake_ami: FakeAmi, clean: Engine) -> None:
    fake_ami.state.originate_reason = 5  # busy
    task_id = missed_call_task(clean)

    async def body(bridge: Bridge) -> None:
        await ready(bridge)
        failed = await eventually(
            lambda: (
                (task := load_task(clean, task_id)).attempts == 1 and task.status is CallTaskStatus.PENDING
            )
        )
        assert failed
        task = load_task(clean, task_id)
        assert task.last_result == "对方忙"
        assert task.next_attempt_at is not None
        assert task.next_attempt_at > task.updated_at - timedelta(seconds=1)
        fake_ami.state.originate_reason = 4  # the citizen answers the next try
        await eventually(lambda: load_task(clean, task_id).status is CallTaskStatus.DONE)

    run(with_bridge(settings_with(fake_ami, max_attempts=5), clean, body))
    task = load_task(clean, task_id)
    assert task.attempts == 2
    assert len(fake_ami.state.originates) == 2


def test_a_callback_is_unreachable_after_the_allowed_tries(fake_ami: FakeAmi, clean: Engine) -> None:
    fake_ami.state.originate_reason = 3  # no answer
    task_id = missed_call_task(clean)

    async def body(bridge: Bridge) -> None:
        await ready(bridge)
        await eventually(lambda: load_task(clean, task_id).status is CallTaskStatus.UNREACHABLE)
        await asyncio.sleep(0.3)  # no further try

    run(with_bridge(settings_with(fake_ami, max_attempts=3), clean, body))
    task = load_task(clean, task_id)
    assert (task.attempts, task.last_result, task.next_attempt_at) == (3, "无人接听", None)
    assert len(fake_ami.state.originates) == 3


def test_at_most_k_originates_at_once(fake_ami: FakeAmi, clean: Engine) -> None:
    fake_ami.state.originate_delay_s = 0.3
    ids = [missed_call_task(clean, number=f"1391234{index:04d}") for index in range(5)]

    async def body(bridge: Bridge) -> None:
        await ready(bridge)
        await eventually(
            lambda: all(load_task(clean, task_id).status is CallTaskStatus.DONE for task_id in ids),
            timeout=15,
        )

    run(with_bridge(settings_with(fake_ami, max_concurrent_originates=2), clean, body))
    assert len(fake_ami.state.originates) == 5
    assert fake_ami.state.max_originating == 2


def test_nothing_is_dialled_outside_calling_hours_or_when_disabled(fake_ami: FakeAmi, clean: Engine) -> None:
    task_id = missed_call_task(clean)
    hours = "01:00-02:00" if to_local(utcnow()).hour >= 12 else "13:00-14:00"  # a window closed now

    async def body(bridge: Bridge) -> None:
        await ready(bridge)
        await eventually(lambda: bridge.scheduler.status.ticks >= 3)

    async def disabled(bridge: Bridge) -> None:
        await ready(bridge)
        await asyncio.sleep(0.3)

    run(with_bridge(settings_with(fake_ami, calling_hours=hours), clean, body))
    bridge = run(with_bridge(settings_with(fake_ami, outbound_enabled=False), clean, disabled))
    assert bridge.scheduler.status.ticks == 0
    assert fake_ami.state.originates == []
    assert load_task(clean, task_id).status is CallTaskStatus.PENDING


def test_a_closed_hotline_case_gets_one_follow_up_call(fake_ami: FakeAmi, clean: Engine) -> None:
    case = hotline_case(clean, phone="13700137001")
    other = hotline_case(clean, channel=Channel.MINIPROGRAM, phone="13700137002")
    open_case = hotline_case(clean, status=CaseStatus.DISPATCHED, phone="13700137003")

    def follow_ups() -> list[CallTask]:
        with session_scope(clean) as session:
            return list(session.exec(select(CallTask).where(CallTask.kind == CallTaskKind.FOLLOW_UP)).all())

    async def body(bridge: Bridge) -> None:
        await ready(bridge)
        await eventually(lambda: [t for t in follow_ups() if t.status is CallTaskStatus.DONE])
        await asyncio.sleep(0.3)  # several more scans: still one task

    run(with_bridge(settings_with(fake_ami), clean, body))
    [task] = follow_ups()
    assert (task.case_id, task.number, task.attempts) == (case.id, "13700137001", 1)
    assert {other.id, open_case.id}.isdisjoint({task.case_id})
    [action] = fake_ami.state.originates
    assert action["channel"] == "Local/13700137001@zhcg-callback"
    assert (action["context"], action["exten"]) == ("zhcg-followup", "s")
    assert action["variable"] == f"ZHCG_TASK={task.id}"
    assert action["callerid"] == '"12319" <12319>'  # no call linked to the case: the default line
