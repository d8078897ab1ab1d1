"""The FastAGI scripts of the bridge, driven by a fake Asterisk (tests/fixtures/fake_agi.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from core.calls.followup import AMBIGUOUS_CASE_TEXT, NO_ANSWER_KEYED, UNKNOWN_CASE_TEXT
from core.db import session_scope
from core.models import CallTask, CallTaskKind, CallTaskStatus, Case, CaseEvent, CaseStatus, Channel
from core.settings import Settings, get_settings
from hotline.bridge import Bridge
from tests.fixtures.fake_agi import AgiCall, agi_call, raw_connection
from tests.fixtures.fake_ami import FakeAmi
from tests.hotline.conftest import FAST, eventually, run, with_bridge
from tests.hotline.hotline_cases import clear_cases, hotline_case

T = TypeVar("T")
AGI: dict[str, Any] = {"agi_enabled": True, "agi_port": 0, "agi_digit_timeout_s": 0.5}


@pytest.fixture
def clean(engine_: Engine) -> Iterator[Engine]:
    clear_cases(engine_)
    yield engine_
    clear_cases(engine_)  # no closed case left for a later test's follow-up scan


@pytest.fixture
def agi_settings(fake_ami: FakeAmi) -> Settings:
    return fake_ami.settings_for(get_settings(), **{**FAST, **AGI})


def with_agi(settings: Settings, engine: Engine, body: Callable[[int], Awaitable[T]]) -> T:
    """Run the bridge with its FastAGI server and ``body(port)``; return what ``body`` returned."""
    results: list[T] = []

    async def scenario(bridge: Bridge) -> None:
        await eventually(lambda: bridge.agi_port, timeout=5)  # the server starts with the bridge
        assert bridge.agi_port is not None
        results.append(await body(bridge.agi_port))

    run(with_bridge(settings, engine, scenario))
    return results[0]


def follow_up_task(engine: Engine, case_id: int | None, status: CallTaskStatus = CallTaskStatus.DONE) -> int:
    with session_scope(engine) as session:
        task = CallTask(kind=CallTaskKind.FOLLOW_UP, number="13700137000", case_id=case_id, status=status)
        session.add(task)
        session.flush()
        assert task.id is not None
        return task.id


def load_task(engine: Engine, task_id: int) -> CallTask:
    with session_scope(engine) as session:
        task = session.get(CallTask, task_id)
        assert task is not None
        return task


def history(engine: Engine, case_id: int | None) -> list[CaseEvent]:
    with session_scope(engine) as session:
        return list(session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id)).all())


def test_followup_stores_the_keyed_satisfaction(agi_settings: Settings, clean: Engine) -> None:
    case = hotline_case(clean)
    task_id = follow_up_task(clean, case.id, CallTaskStatus.DIALING)

    call: AgiCall = with_agi(
        agi_settings,
        clean,
        lambda port: agi_call(port, "followup", digits=["", "9", "2"], variables={"ZHCG_TASK": str(task_id)}),
    )
    assert call.set_variables["ZHCG_SATISFACTION"] == "2"
    assert call.played == [
        "zhcg/followup-question",
        "zhcg/followup-invalid",
        "zhcg/followup-question",
        "zhcg/followup-invalid",
        "zhcg/followup-question",
        "zhcg/followup-thanks",
    ]
    assert "GET VARIABLE ZHCG_TASK" in call.commands
    task = load_task(clean, task_id)
    assert (task.satisfaction, task.status, task.attempts) == (2, CallTaskStatus.DONE, 1)
    assert task.last_result == "回访满意度：基本满意"
    [event] = history(clean, case.id)
    assert event.action == "follow_up"
    assert event.from_status == event.to_status == CaseStatus.CLOSED  # no status change
    assert "基本满意" in event.note
    with session_scope(clean) as session:
        stored = session.get(Case, case.id)
        assert stored is not None
        assert stored.follow_up_satisfaction == 2  # on the case too


def test_followup_task_as_argument_and_no_digit(agi_settings: Settings, clean: Engine) -> None:
    case = hotline_case(clean)
    task_id = follow_up_task(clean, case.id)

    call: AgiCall = with_agi(
        agi_settings,
        clean,
        lambda port: agi_call(port, "followup?x=1", args=[str(task_id)], digits=["", "", ""]),
    )
    assert "GET VARIABLE ZHCG_TASK" not in call.commands
    assert call.set_variables["ZHCG_SATISFACTION"] == ""
    assert call.played[-1] == "zhcg/followup-noinput"
    task = load_task(clean, task_id)
    assert (task.satisfaction, task.last_result) == (None, NO_ANSWER_KEYED)
    assert history(clean, case.id) == []


def test_followup_caller_hangs_up(agi_settings: Settings, clean: Engine) -> None:
    case = hotline_case(clean)
    task_id = follow_up_task(clean, case.id)

    async def body(port: int) -> tuple[AgiCall, AgiCall]:
        hung_up = await agi_call(port, "followup", args=[str(task_id)], digits=[])  # hangs up at once
        # The server keeps working for the next caller.
        again = await agi_call(port, "followup", args=[str(task_id)], digits=["1"])
        return hung_up, again

    hung_up, again = with_agi(agi_settings, clean, body)
    assert hung_up.hung_up
    assert again.set_variables["ZHCG_SATISFACTION"] == "1"
    assert load_task(clean, task_id).satisfaction == 1


def test_case_status_of_a_known_case(agi_settings: Settings, clean: Engine) -> None:
    case = hotline_case(clean, status=CaseStatus.DISPATCHED, case_no="20261121RX0417")

    call: AgiCall = with_agi(
        agi_settings, clean, lambda port: agi_call(port, "case_status", digits=["", "202611210417"])
    )
    assert call.played == ["zhcg/case-enter-number", "zhcg/case-noinput", "zhcg/case-enter-number"]
    assert call.set_variables["ZHCG_CASE_FOUND"] == "1"
    assert call.set_variables["ZHCG_STATUS_TEXT"] == f"您查询的案件{case.case_no}，当前状态为：处置中。"
    assert call.set_variables["ZHCG_STATUS_PROMPT"] == "zhcg/status-dispatched"
    assert call.closed_by_server


def test_case_status_of_an_unknown_or_ambiguous_number(agi_settings: Settings, clean: Engine) -> None:
    hotline_case(clean, status=CaseStatus.CLOSED, case_no="20261121RX0555", phone="13700137555")
    hotline_case(
        clean,
        status=CaseStatus.HANDLED,
        case_no="20261121WX0555",
        phone="13700137666",
        channel=Channel.MINIPROGRAM,
    )

    async def body(port: int) -> list[AgiCall]:
        return [
            await agi_call(port, "case_status", digits=["99999999"]),
            await agi_call(port, "case_status", digits=["", "", ""]),
            await agi_call(port, "case_status", digits=["202611210555"], caller="13800000000"),
            await agi_call(port, "case_status", digits=["202611210555"], caller="13700137666"),
        ]

    unknown, silent, ambiguous, mine = with_agi(agi_settings, clean, body)
    for call in (unknown, silent):
        assert call.set_variables["ZHCG_CASE_FOUND"] == "0"
        assert call.set_variables["ZHCG_STATUS_TEXT"] == UNKNOWN_CASE_TEXT
        assert call.set_variables["ZHCG_STATUS_PROMPT"] == "zhcg/case-unknown"
    assert ambiguous.set_variables["ZHCG_STATUS_TEXT"] == AMBIGUOUS_CASE_TEXT
    assert mine.set_variables["ZHCG_CASE_FOUND"] == "1"
    assert "20261121WX0555" in mine.set_variables["ZHCG_STATUS_TEXT"]
    assert "待核查" in mine.set_variables["ZHCG_STATUS_TEXT"]


def test_broken_requests_do_not_stop_the_server(agi_settings: Settings, clean: Engine) -> None:
    hotline_case(clean, status=CaseStatus.REGISTERED, case_no="20261121RX0777")

    async def body(port: int) -> AgiCall:
        await raw_connection(port, b"agi_network: yes\nagi_network_script: case_sta")  # closed mid-block
        await raw_connection(port, b"agi_network: yes\nagi_network_script: nope\n\n")  # unknown script
        return await agi_call(port, "case_status", digits=["202611210777"])

    call = with_agi(agi_settings, clean, body)
    assert call.set_variables["ZHCG_STATUS_PROMPT"] == "zhcg/status-registered"
