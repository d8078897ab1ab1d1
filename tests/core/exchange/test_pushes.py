"""Pushes derived from the history of 12345 cases: which transitions, in which order, what they say,
never twice, and the scan position."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import Session, col, select

from core.cases.workflow import Action
from core.exchange import pushes
from core.exchange.repository import pushes_of_order
from core.jobs import pending_jobs
from core.kit.clock import utcnow
from core.models import CaseStatus, ExchangeCursor, ExchangeOrder, ExchangePush, ExchangePushStatus, StaffRole
from core.settings import Settings
from tests.core.cases.conftest import MakeCase
from tests.core.exchange.conftest import act, receive
from tests.fixtures.cases import City


def order_of(session: Session, case_id: int | None) -> ExchangeOrder:
    return session.exec(select(ExchangeOrder).where(col(ExchangeOrder.case_id) == case_id)).one()


def bodies(session: Session, order: ExchangeOrder) -> list[dict[str, object]]:
    assert order.id is not None
    return [json.loads(push.payload) for push in pushes_of_order(session, order.id)]


def test_the_whole_story_is_pushed_in_order_once(city: City, exchange_settings: Settings) -> None:
    session = city.session
    case = receive(city, exchange_settings)
    order = order_of(session, case.id)
    assert pushes.collect(session, now=utcnow()).pushes == 0  # receiving is answered, not pushed

    act(city, case, StaffRole.OPERATOR, Action.ACCEPT)
    act(city, case, StaffRole.OPERATOR, Action.REGISTER, register_standard_id=city.manhole_loose.id)
    act(city, case, StaffRole.DISPATCHER, Action.DISPATCH, department_code=city.municipal.code)
    act(city, case, StaffRole.LEADER, Action.URGE, note="请今天内处理")
    handler = city.staff[StaffRole.HANDLER]
    act(
        city,
        case,
        StaffRole.HANDLER,
        Action.HANDLE,
        upload_ids=(city.upload(handler),),
        note="已更换新井盖",
        reply="井盖已更换，感谢反映",
    )
    assert case.status is CaseStatus.CHECKING  # sent to the on-duty supervisor by the system
    act(city, case, StaffRole.SUPERVISOR, Action.CHECK, passed=True)

    collected = pushes.collect(session, now=utcnow())
    assert collected.pushes == 5
    assert collected.orders == [order.id]
    assert [job.name for job in pending_jobs(session)].count("exchange.push") == 1
    sent = bodies(session, order)
    assert [body["event"] for body in sent] == ["accept", "dispatch", "urge", "handle", "close"]
    assert [body["stage"] for body in sent] == ["受理", "派单", "督办", "办理", "办结"]
    seqs = [body["seq"] for body in sent]
    assert seqs == sorted(seqs)
    assert all(body["order_no"] == order.order_no and body["case_no"] == case.case_no for body in sent)
    assert sent[1]["department"] == city.municipal.name
    assert sent[2]["note"] == "请今天内处理"
    assert sent[3]["note"] == "已更换新井盖"
    assert sent[4]["reply"] == "井盖已更换，感谢反映"
    assert str(sent[0]["occurred_at"]).endswith("+08:00")
    # Nothing about the caller leaves.
    assert "13700001111" not in json.dumps(sent, ensure_ascii=False)
    assert "李四" not in json.dumps(sent, ensure_ascii=False)

    # Scanning again (e.g. a second sweep, or a retried sweep job) adds nothing.
    assert pushes.collect(session, now=utcnow()).pushes == 0
    assert len(bodies(session, order)) == 5


def test_a_void_pushes_the_public_reason_never_the_internal_note(
    city: City, exchange_settings: Settings
) -> None:
    case = receive(city, exchange_settings)
    act(
        city,
        case,
        StaffRole.OPERATOR,
        Action.VOID,
        reason="不属于城管职责，已告知来电人",
        note="来电人多次重复投诉",
    )
    pushes.collect(city.session, now=utcnow())
    [body] = bodies(city.session, order_of(city.session, case.id))
    assert (body["event"], body["stage"], body["reply"]) == ("void", "退回", "不属于城管职责，已告知来电人")
    assert "重复投诉" not in json.dumps(body, ensure_ascii=False)


def test_registering_straight_from_pending_is_the_acceptance(city: City, exchange_settings: Settings) -> None:
    case = receive(city, exchange_settings)
    act(city, case, StaffRole.OPERATOR, Action.REGISTER, register_standard_id=city.manhole_loose.id)
    pushes.collect(city.session, now=utcnow())
    assert [body["event"] for body in bodies(city.session, order_of(city.session, case.id))] == ["accept"]


def test_other_cases_are_not_pushed(city: City, exchange_settings: Settings, make_case: MakeCase) -> None:
    other = make_case()
    act(city, other, StaffRole.OPERATOR, Action.ACCEPT)
    assert pushes.collect(city.session, now=utcnow()).pushes == 0
    assert city.session.exec(select(ExchangePush)).all() == []


def test_the_scan_position_moves_only_past_settled_history(city: City, exchange_settings: Settings) -> None:
    session = city.session
    case = receive(city, exchange_settings)
    act(city, case, StaffRole.OPERATOR, Action.ACCEPT)
    start = pushes.collect(session, now=utcnow()).position
    # Recent rows stay inside the lag: the position does not move past them yet.
    cursor = session.get(ExchangeCursor, pushes.CURSOR)
    assert cursor is not None
    later = utcnow() + pushes.SCAN_LAG + timedelta(minutes=1)
    moved = pushes.collect(session, now=later)
    assert moved.position > start
    assert moved.pushes == 0
    # A row written after the move is still found.
    act(city, case, StaffRole.OPERATOR, Action.REGISTER, register_standard_id=city.manhole_loose.id)
    act(city, case, StaffRole.DISPATCHER, Action.DISPATCH, department_code=city.municipal.code)
    assert pushes.collect(session, now=utcnow()).pushes == 1
    assert [body["event"] for body in bodies(session, order_of(session, case.id))] == ["accept", "dispatch"]


def test_a_small_batch_never_skips_rows(city: City, exchange_settings: Settings) -> None:
    session = city.session
    case = receive(city, exchange_settings)
    act(city, case, StaffRole.OPERATOR, Action.ACCEPT)
    act(city, case, StaffRole.OPERATOR, Action.REGISTER, register_standard_id=city.manhole_loose.id)
    act(city, case, StaffRole.DISPATCHER, Action.DISPATCH, department_code=city.municipal.code)
    act(city, case, StaffRole.LEADER, Action.URGE)
    later = utcnow() + pushes.SCAN_LAG * 2
    total = 0
    for _ in range(10):
        total += pushes.collect(session, now=later, batch=1).pushes
    assert total == 3
    assert [body["event"] for body in bodies(session, order_of(session, case.id))] == [
        "accept",
        "dispatch",
        "urge",
    ]


def test_the_sweep_requeues_orders_whose_next_try_is_overdue(city: City, exchange_settings: Settings) -> None:
    session = city.session
    case = receive(city, exchange_settings)
    act(city, case, StaffRole.OPERATOR, Action.ACCEPT)
    now = utcnow()
    pushes.collect(session, now=now)
    order = order_of(session, case.id)
    assert pushes.requeue_due(session, now=now) == []  # just queued by the collection
    assert pushes.requeue_due(session, now=now + pushes.STALE_AFTER + timedelta(seconds=1)) == [order.id]
    [push] = session.exec(select(ExchangePush)).all()
    push.status = ExchangePushStatus.SENT
    session.add(push)
    session.flush()
    assert pushes.requeue_due(session, now=now + timedelta(hours=1)) == []
