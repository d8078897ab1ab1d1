"""The console's call-back and follow-up tasks page (回拨/回访任务): roles, filters, actions, audit."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.kit.clock import to_local, utcnow
from core.models import (
    AuditEntry,
    Call,
    CallDirection,
    CallOutcome,
    CallState,
    CallTask,
    CallTaskKind,
    CallTaskStatus,
    CaseStatus,
    StaffRole,
)
from tests.admin.conftest import sign_in
from tests.fixtures.cases import City, MakeCase


def phone() -> str:
    return f"1590{secrets.randbelow(10**7):07d}"


def masked(number: str) -> str:
    return f"{number[:3]}****{number[-4:]}"


def callback_task(
    session: Session, number: str, *, status: CallTaskStatus = CallTaskStatus.PENDING
) -> CallTask:
    now = utcnow()
    call = Call(
        linkedid=f"t-{secrets.token_hex(8)}",
        direction=CallDirection.INBOUND,
        line="12319",
        caller_number=number,
        state=CallState.ENDED,
        outcome=CallOutcome.ABANDONED,
        started_at=now - timedelta(minutes=3),
        ended_at=now - timedelta(minutes=2),
    )
    session.add(call)
    session.flush()
    task = CallTask(
        kind=CallTaskKind.CALLBACK,
        number=number,
        call_id=call.id,
        status=status,
        attempts=1,
        next_attempt_at=now + timedelta(minutes=30),
        last_result="无人接听",
    )
    session.add(task)
    session.flush()
    return task


def audits(session: Session, action: str, task: CallTask) -> list[AuditEntry]:
    statement = select(AuditEntry).where(
        col(AuditEntry.action) == action,
        col(AuditEntry.target_kind) == "call_task",
        col(AuditEntry.target_id) == str(task.id),
    )
    return list(session.exec(statement).all())


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (StaffRole.OPERATOR, 200),
        (StaffRole.SHIFT_LEAD, 200),
        (StaffRole.ADMIN, 200),
        (StaffRole.DISPATCHER, 403),
        (StaffRole.LEADER, 403),
        (StaffRole.HANDLER, 403),
    ],
)
def test_tasks_page_roles(
    console: TestClient, session: Session, city: City, role: StaffRole, status: int
) -> None:
    task = callback_task(session, phone())
    csrf = sign_in(console, city.staff[role])
    page = console.get("/hotline/tasks")
    assert page.status_code == status
    answer = console.post(f"/hotline/tasks/{task.id}/call-now", data={"csrf_token": csrf})
    assert answer.status_code == (303 if status == 200 else 403)
    if status == 403:
        assert "无权" in page.text
        session.refresh(task)
        assert task.assigned_staff_id is None


def test_the_hotline_page_links_to_the_tasks(console: TestClient, city: City) -> None:
    sign_in(console, city.staff[StaffRole.OPERATOR])
    assert '/hotline/tasks">回拨/回访任务</a>' in console.get("/hotline").text


def test_list_shows_masked_numbers_labels_and_links(
    console: TestClient, session: Session, city: City, make_case: MakeCase
) -> None:
    number = phone()
    task = callback_task(session, number, status=CallTaskStatus.UNREACHABLE)
    case = make_case(CaseStatus.CLOSED)
    follow_up = CallTask(
        kind=CallTaskKind.FOLLOW_UP,
        number=number,
        case_id=case.id,
        status=CallTaskStatus.DONE,
        satisfaction=2,
        last_result="回访满意度：基本满意",
    )
    session.add(follow_up)
    session.flush()
    sign_in(console, city.staff[StaffRole.OPERATOR])
    page = console.get("/hotline/tasks", params={"number": number[3:]})  # not the full number
    assert page.status_code == 200
    assert number not in page.text
    assert masked(number) in page.text
    assert f'data-task="{task.id}"' in page.text
    assert f'data-task="{follow_up.id}"' in page.text
    assert page.text.index(f'data-task="{follow_up.id}"') < page.text.index(f'data-task="{task.id}"')
    for text in ("回拨", "回访", "未接通", "已完成", "基本满意", "无人接听", "立即回拨", "标记已处理"):
        assert text in page.text
    assert f"/cases/{case.case_no}" in page.text
    assert 'name="csrf_token"' in page.text
    assert f"/hotline/tasks/{task.id}/call-now" in page.text
    assert f"/hotline/tasks/{follow_up.id}/call-now" not in page.text  # done: no actions


def test_filters(console: TestClient, session: Session, city: City) -> None:
    number = phone()
    pending = callback_task(session, number)
    cancelled = callback_task(session, number, status=CallTaskStatus.CANCELLED)
    old = callback_task(session, number)
    old.created_at = utcnow() - timedelta(days=5)
    session.flush()
    sign_in(console, city.staff[StaffRole.SHIFT_LEAD])

    def shown(**params: str) -> set[int | None]:
        page = console.get("/hotline/tasks", params={"number": number, **params})
        assert page.status_code == 200, page.text
        return {task.id for task in (pending, cancelled, old) if f'data-task="{task.id}"' in page.text}

    assert shown() == {pending.id, cancelled.id, old.id}
    assert shown(status="cancelled") == {cancelled.id}
    assert shown(kind="follow_up") == set()
    today = to_local(utcnow()).date()
    assert shown(since=(today - timedelta(days=1)).isoformat()) == {pending.id, cancelled.id}
    assert shown(until=(today - timedelta(days=2)).isoformat()) == {old.id}
    for bad in ({"status": "nope"}, {"since": "2026-13-40"}, {"number": "13a"}):
        refused = console.get("/hotline/tasks", params=bad)
        assert refused.status_code == 422
        assert 'class="alert error"' in refused.text


def test_call_now_cancel_and_handled_are_audited(console: TestClient, session: Session, city: City) -> None:
    user = city.staff[StaffRole.OPERATOR]
    number = phone()
    first, second, third = (callback_task(session, number) for _ in range(3))
    csrf = sign_in(console, user)
    back = f"number={number}&status=pending&evil=https://x"

    answer = console.post(f"/hotline/tasks/{first.id}/call-now", data={"csrf_token": csrf, "back": back})
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.endswith(f"/hotline/tasks?status=pending&number={number}&done=call_now")  # no "evil"
    session.refresh(first)
    assert first.status is CallTaskStatus.PENDING
    assert first.assigned_staff_id == user.id
    assert first.next_attempt_at is not None
    assert first.next_attempt_at <= utcnow()
    assert len(audits(session, "call_task_call_now", first)) == 1
    assert "已安排立即回拨" in console.get(location).text

    answer = console.post(
        f"/hotline/tasks/{second.id}/cancel", data={"csrf_token": csrf, "reason": "市民已到现场反映"}
    )
    assert answer.status_code == 303
    session.refresh(second)
    assert second.status is CallTaskStatus.CANCELLED
    assert second.last_result == "已取消：市民已到现场反映"
    [entry] = audits(session, "call_task_cancel", second)
    assert "市民已到现场反映" in entry.detail

    answer = console.post(f"/hotline/tasks/{third.id}/handled", data={"csrf_token": csrf, "note": "座机回电"})
    assert answer.status_code == 303
    session.refresh(third)
    assert third.status is CallTaskStatus.DONE
    assert third.last_result == "已处理：座机回电"
    assert len(audits(session, "call_task_handled", third)) == 1


def test_refusals(console: TestClient, session: Session, city: City) -> None:
    number = phone()
    pending = callback_task(session, number)
    done = callback_task(session, number, status=CallTaskStatus.DONE)
    csrf = sign_in(console, city.staff[StaffRole.OPERATOR])

    no_csrf = console.post(f"/hotline/tasks/{pending.id}/cancel", data={"reason": "重复"})
    assert no_csrf.status_code == 403
    empty = console.post(f"/hotline/tasks/{pending.id}/cancel", data={"csrf_token": csrf, "reason": " "})
    assert empty.status_code == 422
    assert "请填写取消原因" in empty.text
    conflict = console.post(f"/hotline/tasks/{done.id}/cancel", data={"csrf_token": csrf, "reason": "重复"})
    assert conflict.status_code == 409
    assert "该任务已完成，不能再取消" in conflict.text
    missing = console.post("/hotline/tasks/999999999/call-now", data={"csrf_token": csrf})
    assert missing.status_code == 404
    session.refresh(pending)
    session.refresh(done)
    assert pending.status is CallTaskStatus.PENDING
    assert done.status is CallTaskStatus.DONE
    assert audits(session, "call_task_cancel", pending) == []
    assert audits(session, "call_task_cancel", done) == []


def test_full_number_on_request_is_audited(console: TestClient, session: Session, city: City) -> None:
    number = phone()
    task = callback_task(session, number)
    csrf = sign_in(console, city.staff[StaffRole.OPERATOR])
    assert console.post(f"/hotline/tasks/{task.id}/phone").status_code == 403  # no CSRF header
    shown = console.post(
        f"/hotline/tasks/{task.id}/phone", headers={"HX-Request": "true", "X-CSRF-Token": csrf}
    )
    assert shown.status_code == 200
    assert number in shown.text
    assert len(audits(session, "view_phone", task)) == 1
