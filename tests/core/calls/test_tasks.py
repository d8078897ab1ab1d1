"""The staff side of call-back and follow-up tasks: listing, 立即回拨, 取消, 标记已处理 and refusals."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlmodel import Session

from core.calls import callbacks, tasks
from core.calls.tasks import TaskFilter
from core.errors import Conflict, Invalid, NotFound
from core.kit.clock import utcnow
from core.models import (
    Call,
    CallDirection,
    CallOutcome,
    CallState,
    CallTask,
    CallTaskKind,
    CallTaskStatus,
    CaseStatus,
    StaffRole,
    StaffUser,
)
from core.settings import AmiSettings
from tests.fixtures.cases import City, MakeCase

AMI = AmiSettings(calling_hours="", retry_min_s=60, retry_max_s=300, max_attempts=3)


def number() -> str:
    return f"139{secrets.randbelow(10**8):08d}"


def callback_task(
    session: Session, *, status: CallTaskStatus = CallTaskStatus.PENDING, phone: str = ""
) -> CallTask:
    now = utcnow()
    call = Call(
        linkedid=f"t-{secrets.token_hex(6)}",
        direction=CallDirection.INBOUND,
        line="12345",
        caller_number=phone or number(),
        state=CallState.ENDED,
        outcome=CallOutcome.MISSED,
        started_at=now - timedelta(minutes=5),
        ended_at=now - timedelta(minutes=4),
    )
    session.add(call)
    session.flush()
    task = CallTask(
        kind=CallTaskKind.CALLBACK,
        number=call.caller_number,
        call_id=call.id,
        status=status,
        next_attempt_at=now + timedelta(hours=1),
    )
    session.add(task)
    session.flush()
    return task


def operator(city: City) -> StaffUser:
    return city.staff[StaffRole.OPERATOR]


# --- 立即回拨 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [CallTaskStatus.PENDING, CallTaskStatus.UNREACHABLE])
def test_call_now_makes_the_task_due_for_the_scheduler(
    session: Session, city: City, status: CallTaskStatus
) -> None:
    task = callback_task(session, status=status)
    task.attempts = 2
    now = utcnow()
    assert task.id is not None
    tasks.call_now(session, task_id=task.id, staff=operator(city), now=now)
    assert task.status is CallTaskStatus.PENDING
    assert task.next_attempt_at == now
    assert task.assigned_staff_id == operator(city).id
    assert task.attempts == 2  # one more try, not a fresh start
    claimed = callbacks.claim_due(session, now=now, limit=100, ami=AMI)
    assert task.id in [call.task_id for call in claimed]
    assert task.status is CallTaskStatus.DIALING


def test_call_now_refuses_a_task_without_number_and_finished_ones(
    session: Session, city: City, make_case: MakeCase
) -> None:
    case = make_case(CaseStatus.CLOSED)
    without = CallTask(
        kind=CallTaskKind.FOLLOW_UP,
        number="",
        case_id=case.id,
        status=CallTaskStatus.UNREACHABLE,
        last_result="无可回访的电话号码",
    )
    session.add(without)
    session.flush()
    assert without.id is not None
    with pytest.raises(Conflict) as refused:
        tasks.call_now(session, task_id=without.id, staff=operator(city), now=utcnow())
    assert refused.value.code == "call_task_no_number"
    for status, code in [
        (CallTaskStatus.DONE, "call_task_closed"),
        (CallTaskStatus.CANCELLED, "call_task_closed"),
        (CallTaskStatus.DIALING, "call_task_dialing"),
    ]:
        task = callback_task(session, status=status)
        assert task.id is not None
        with pytest.raises(Conflict) as refused:
            tasks.call_now(session, task_id=task.id, staff=operator(city), now=utcnow())
        assert refused.value.code == code
        assert task.status is status
    with pytest.raises(NotFound):
        tasks.call_now(session, task_id=999_999_999, staff=operator(city), now=utcnow())


# --- 取消 -------------------------------------------------------------------------------------------


def test_cancel_keeps_the_reason(session: Session, city: City) -> None:
    task = callback_task(session, status=CallTaskStatus.UNREACHABLE)
    assert task.id is not None
    tasks.cancel(
        session, task_id=task.id, staff=operator(city), reason="  市民来电说明 已解决 ", now=utcnow()
    )
    assert task.status is CallTaskStatus.CANCELLED
    assert task.next_attempt_at is None
    assert task.last_result == "已取消：市民来电说明 已解决"


def test_cancel_refusals(session: Session, city: City) -> None:
    task = callback_task(session)
    assert task.id is not None
    with pytest.raises(Invalid) as empty:
        tasks.cancel(session, task_id=task.id, staff=operator(city), reason="   ", now=utcnow())
    assert empty.value.code == "cancel_reason_required"
    with pytest.raises(Invalid) as long:
        tasks.cancel(session, task_id=task.id, staff=operator(city), reason="长" * 151, now=utcnow())
    assert long.value.code == "cancel_reason_too_long"
    assert task.status is CallTaskStatus.PENDING
    done = callback_task(session, status=CallTaskStatus.DONE)
    assert done.id is not None
    with pytest.raises(Conflict) as closed:
        tasks.cancel(session, task_id=done.id, staff=operator(city), reason="重复", now=utcnow())
    assert closed.value.code == "call_task_closed"
    assert closed.value.message == "该任务已完成，不能再取消"
    assert done.status is CallTaskStatus.DONE


# --- 标记已处理 -------------------------------------------------------------------------------------


def test_mark_handled_closes_a_callback(session: Session, city: City) -> None:
    task = callback_task(session)
    assert task.id is not None
    tasks.mark_handled(session, task_id=task.id, staff=operator(city), note="已用座机回电", now=utcnow())
    assert task.status is CallTaskStatus.DONE
    assert task.next_attempt_at is None
    assert task.assigned_staff_id == operator(city).id
    assert task.last_result == "已处理：已用座机回电"


def test_mark_handled_refusals(session: Session, city: City, make_case: MakeCase) -> None:
    case = make_case(CaseStatus.CLOSED)
    follow_up = CallTask(kind=CallTaskKind.FOLLOW_UP, number=number(), case_id=case.id)
    session.add(follow_up)
    session.flush()
    assert follow_up.id is not None
    with pytest.raises(Conflict) as refused:
        tasks.mark_handled(session, task_id=follow_up.id, staff=operator(city), note="已回访", now=utcnow())
    assert refused.value.code == "call_task_not_callback"
    cancelled = callback_task(session, status=CallTaskStatus.CANCELLED)
    assert cancelled.id is not None
    with pytest.raises(Conflict) as closed:
        tasks.mark_handled(session, task_id=cancelled.id, staff=operator(city), note="已处理", now=utcnow())
    assert closed.value.code == "call_task_closed"
    pending = callback_task(session)
    assert pending.id is not None
    with pytest.raises(Invalid) as empty:
        tasks.mark_handled(session, task_id=pending.id, staff=operator(city), note="", now=utcnow())
    assert empty.value.code == "handled_note_required"


# --- the list --------------------------------------------------------------------------------------


def test_list_filters_and_order(session: Session, make_case: MakeCase) -> None:
    phone = f"1860{secrets.randbelow(10**7):07d}"
    older = callback_task(session, phone=phone)
    older.created_at = utcnow() - timedelta(days=3)
    newer = callback_task(session, phone=phone, status=CallTaskStatus.UNREACHABLE)
    case = make_case(CaseStatus.CLOSED)
    follow_up = CallTask(kind=CallTaskKind.FOLLOW_UP, number=phone, case_id=case.id, satisfaction=1)
    session.add(follow_up)
    session.flush()

    rows = tasks.list_tasks(session, TaskFilter(number=phone))
    assert [row.task.id for row in rows] == [follow_up.id, newer.id, older.id]
    assert rows[0].case_no == case.case_no
    assert rows[0].call_started_at is None
    assert rows[1].call_started_at is not None
    assert rows[1].case_no == ""

    def ids(where: TaskFilter) -> list[int | None]:
        return [row.task.id for row in tasks.list_tasks(session, where)]

    assert ids(TaskFilter(number=phone, kind=CallTaskKind.CALLBACK)) == [newer.id, older.id]
    assert ids(TaskFilter(number=phone, status=CallTaskStatus.UNREACHABLE)) == [newer.id]
    assert ids(TaskFilter(number=phone, until=utcnow() - timedelta(days=1))) == [older.id]
    assert ids(TaskFilter(number=phone, since=utcnow() - timedelta(days=1))) == [follow_up.id, newer.id]
    assert ids(TaskFilter(number=phone[3:9])) == [follow_up.id, newer.id, older.id]
    assert ids(TaskFilter(number="%")) == []  # LIKE wildcards are escaped
    assert len(tasks.list_tasks(session, TaskFilter(number=phone), limit=2)) == 2
