"""The bridge end to end: the fake AMI → panoramisk → the queue → the database."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from sqlalchemy import Engine

from core.calls.events import ESTIMATED_END
from core.models import CallOutcome, CallState, CallTaskKind, CallTaskStatus
from core.settings import Settings
from hotline.bridge import Bridge
from tests.fixtures.fake_ami import FakeAmi, abandoned_call, answered_call, internal_call, missed_call
from tests.hotline.conftest import (
    eventually,
    load_call,
    load_tasks,
    ready,
    run,
    staff_id,
    with_bridge,
)


def test_answered_call_is_stored(fake_ami: FakeAmi, ami_settings: Settings, engine_: Engine) -> None:
    linkedid, events = answered_call(interface="PJSIP/8001", hold_s=12, talk_s=95)

    async def body(bridge: Bridge) -> None:
        await ready(bridge)
        await asyncio.to_thread(fake_ami.replay, events)
        await eventually(lambda: (call := load_call(engine_, linkedid)) and call.state is CallState.ENDED)

    bridge = run(with_bridge(ami_settings, engine_, body))
    call = load_call(engine_, linkedid)
    assert call is not None
    assert call.outcome is CallOutcome.ANSWERED
    assert (call.hold_s, call.talk_s) == (12, 95)
    assert call.agent_interface == "PJSIP/8001"
    assert call.agent_staff_id == staff_id(engine_, "PJSIP/8001")
    assert (call.line, call.queue, call.caller_number) == ("12319", "hotline", "13800138000")
    assert call.recording == f"{linkedid}.wav"
    assert bridge.status.events_applied == bridge.status.events_received
    assert bridge.status.logins == 1
    assert fake_ami.state.actions["coreshowchannels"] == 1
    assert fake_ami.state.actions["queuestatus"] == 1


def test_abandoned_call_owes_a_callback(
    fake_ami: FakeAmi, ami_settings: Settings, engine_: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zhcg")
    number = "13912345678"
    linkedid, events = abandoned_call(caller=number, hold_s=30)
    _, internal = internal_call()

    async def body(bridge: Bridge) -> None:
        await ready(bridge)
        await asyncio.to_thread(fake_ami.replay, internal + events)
        await eventually(lambda: (call := load_call(engine_, linkedid)) and call.state is CallState.ENDED)

    run(with_bridge(ami_settings, engine_, body))
    call = load_call(engine_, linkedid)
    assert call is not None
    assert call.outcome is CallOutcome.ABANDONED
    assert call.hold_s == 30
    [task] = load_tasks(engine_, call.id)
    assert task.kind is CallTaskKind.CALLBACK
    assert task.status is CallTaskStatus.PENDING
    assert task.number == number
    assert number not in caplog.text  # never a caller's number in the logs…
    assert "139****5678" in caplog.text  # …only its masked form


def test_a_call_during_a_drop_is_recovered_by_the_resync(
    fake_ami: FakeAmi, ami_settings: Settings, engine_: Engine
) -> None:
    before_id, before = abandoned_call(start=time.time() - 5, hold_s=4)  # queued, then ends while down
    during_id, during = answered_call(start=time.time(), interface="PJSIP/8002", hold_s=0, talk_s=0)
    joined = next(i for i, e in enumerate(before) if e["Event"] == "QueueCallerJoin") + 1
    connected = next(i for i, e in enumerate(during) if e["Event"] == "AgentConnect") + 1

    async def body(bridge: Bridge) -> None:
        await ready(bridge)
        await asyncio.to_thread(fake_ami.replay, before[:joined])
        await eventually(lambda: (call := load_call(engine_, before_id)) and call.state is CallState.QUEUED)
        await asyncio.to_thread(fake_ami.go_down)
        # While the bridge cannot connect: the first call ends, the second starts and is answered.
        await asyncio.to_thread(fake_ami.replay, before[joined:] + during[:connected])
        await eventually(lambda: bridge.status.connect_failures >= 1)
        await asyncio.to_thread(fake_ami.go_up)
        await ready(bridge, logins=2)
        recovered = load_call(engine_, during_id)
        assert recovered is not None
        assert recovered.state is CallState.CONNECTED
        assert recovered.agent_interface == "PJSIP/8002"
        assert recovered.agent_staff_id == staff_id(engine_, "PJSIP/8002")
        assert recovered.line == "12319"
        # The rest of the recovered call arrives live.
        await asyncio.to_thread(fake_ami.replay, during[connected:])
        await eventually(lambda: (call := load_call(engine_, during_id)) and call.state is CallState.ENDED)

    bridge = run(with_bridge(ami_settings, engine_, body))
    assert bridge.status.disconnects == 1
    vanished = load_call(engine_, before_id)
    assert vanished is not None
    assert vanished.state is CallState.ENDED
    assert vanished.hangup_cause_text == ESTIMATED_END
    assert vanished.queued_at is not None
    assert vanished.ended_at is not None
    assert vanished.queued_at <= vanished.ended_at
    assert vanished.outcome is CallOutcome.ABANDONED
    assert len(load_tasks(engine_, vanished.id)) == 1
    recovered = load_call(engine_, during_id)
    assert recovered is not None
    assert recovered.outcome is CallOutcome.ANSWERED


def test_a_half_open_socket_is_detected_and_replaced(
    fake_ami: FakeAmi, ami_settings: Settings, engine_: Engine
) -> None:
    linkedid, events = missed_call()

    async def body(bridge: Bridge) -> None:
        await ready(bridge)
        await asyncio.to_thread(fake_ami.go_silent)  # the old socket stays open but is dead
        await eventually(lambda: bridge.status.stale_connections >= 1)
        await ready(bridge, logins=2)
        await asyncio.to_thread(fake_ami.replay, events)
        await eventually(lambda: (call := load_call(engine_, linkedid)) and call.state is CallState.ENDED)

    bridge = run(with_bridge(ami_settings, engine_, body))
    assert bridge.status.stale_connections == 1
    call = load_call(engine_, linkedid)
    assert call is not None
    assert call.outcome is CallOutcome.MISSED
    assert fake_ami.state.connections == 2


def test_a_wrong_secret_is_an_error_and_retried(
    fake_ami: FakeAmi, engine_: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    from core.settings import get_settings
    from tests.hotline.conftest import FAST

    settings = fake_ami.settings_for(get_settings(), secret="not-the-secret", **FAST)
    caplog.set_level(logging.INFO, logger="zhcg")

    async def body(bridge: Bridge) -> None:
        await eventually(lambda: bridge.status.login_failures >= 3)
        assert not bridge.status.connected
        assert "Authentication failed" in bridge.status.last_error
        fake_ami.set_secret("not-the-secret")  # fixed on the Asterisk side
        await ready(bridge)

    bridge = run(with_bridge(settings, engine_, body))
    assert bridge.status.logins == 1
    assert fake_ami.state.failed_logins >= 3
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert errors
    assert "AMI login refused" in errors[0].getMessage()
    assert "not-the-secret" not in caplog.text


def test_unreachable_asterisk_is_retried_with_backoff(fake_ami: FakeAmi, engine_: Engine) -> None:
    from core.settings import get_settings
    from tests.hotline.conftest import FAST

    fake_ami.go_down()
    settings = fake_ami.settings_for(get_settings(), **FAST)

    async def body(bridge: Bridge) -> None:
        await eventually(lambda: bridge.status.connect_failures >= 3)
        await asyncio.to_thread(fake_ami.go_up)
        await ready(bridge)

    bridge = run(with_bridge(settings, engine_, body))
    assert bridge.status.logins == 1
