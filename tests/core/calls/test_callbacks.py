"""Call-back and follow-up tasks: due tasks, results of tries, follow-up creation, the IVR answer."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from core.calls import callbacks, followup
from core.calls.callbacks import DialResult, OutboundCall
from core.kit.clock import utcnow
from core.models import (
    Call,
    CallDirection,
    CallOutcome,
    CallState,
    CallTask,
    CallTaskKind,
    CallTaskStatus,
    Case,
    CaseEvent,
    CaseStatus,
    Channel,
)
from core.settings import AmiSettings
from tests.fixtures.cases import MakeCase

AMI = AmiSettings(calling_hours="", retry_min_s=60, retry_max_s=300, max_attempts=3)


def missed_call(session: Session, number: str = "13912345678", line: str = "12345") -> Call:
    now = utcnow()
    call = Call(
        linkedid=f"t-{secrets.token_hex(6)}",
        direction=CallDirection.INBOUND,
        line=line,
        caller_number=number,
        state=CallState.ENDED,
        outcome=CallOutcome.MISSED,
        started_at=now - timedelta(minutes=2),
        ended_at=now - timedelta(minutes=1),
    )
    session.add(call)
    session.flush()
    return call


def callback(
    session: Session, *, due: datetime | None, status: CallTaskStatus = CallTaskStatus.PENDING
) -> CallTask:
    call = missed_call(session)
    task = CallTask(
        kind=CallTaskKind.CALLBACK,
        number=call.caller_number,
        call_id=call.id,
        next_attempt_at=due,
        status=status,
    )
    session.add(task)
    session.flush()
    return task


def hotline(case: Case, phone: str = "13700137000") -> Case:
    case.channel = Channel.HOTLINE
    case.reporter_phone = phone
    return case


# --- pure -------------------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_max() -> None:
    assert [callbacks.backoff_s(n, AMI) for n in (1, 2, 3, 4, 10)] == [60, 120, 240, 300, 300]


def test_calling_hours() -> None:
    assert callbacks.parse_calling_hours("") is None
    assert callbacks.within_calling_hours(datetime(2026, 11, 21, 1, 0, tzinfo=UTC), "08:00-21:00")  # 09:00
    assert not callbacks.within_calling_hours(datetime(2026, 11, 21, 13, 30, tzinfo=UTC), "08:00-21:00")
    assert callbacks.within_calling_hours(datetime(2026, 11, 21, 15, 59, tzinfo=UTC), "08:00-24:00")
    for bad in ("8-21", "21:00-08:00", "08:00-25:00"):
        with pytest.raises(ValueError, match="calling hours"):
            callbacks.parse_calling_hours(bad)
    with pytest.raises(ValueError, match="calling hours"):
        AmiSettings(calling_hours="later")


def test_originate_fields() -> None:
    call = OutboundCall(task_id=7, kind=CallTaskKind.CALLBACK, number="13912345678", line="12345", attempt=1)
    fields = callbacks.originate_fields(call, AMI)
    assert fields == {
        "Action": "Originate",
        "Channel": "Local/13912345678@zhcg-callback",
        "Timeout": "30000",
        "CallerID": '"12345" <12345>',
        "Variable": "ZHCG_TASK=7",
        "Async": "true",
        "Context": "zhcg-callback-agent",
        "Exten": "s",
        "Priority": "1",
    }
    ami = AMI.model_copy(
        update={"followup_application": "AGI", "followup_data": "agi://10.0.0.5:4573/followup"}
    )
    follow = OutboundCall(task_id=8, kind=CallTaskKind.FOLLOW_UP, number="13700137000", line="", attempt=2)
    fields = callbacks.originate_fields(follow, ami)
    assert (fields["Application"], fields["Data"], fields["CallerID"]) == (
        "AGI",
        "agi://10.0.0.5:4573/followup",
        '"12319" <12319>',
    )
    assert "Context" not in fields
    with pytest.raises(ValueError, match="OUTBOUND_CHANNEL"):
        AmiSettings(outbound_channel="Local/s@zhcg-callback")


# --- due tasks and results -------------------------------------------------------------------------


def test_claim_due_takes_due_pending_tasks_up_to_the_limit(session: Session) -> None:
    now = utcnow()
    first = callback(session, due=now - timedelta(minutes=5))
    second = callback(session, due=now - timedelta(minutes=1))
    third = callback(session, due=now - timedelta(seconds=1))
    later = callback(session, due=now + timedelta(minutes=5))
    done = callback(session, due=now - timedelta(minutes=9), status=CallTaskStatus.DONE)
    mine = {first.id, second.id, third.id, later.id, done.id}

    claimed = [c for c in callbacks.claim_due(session, now=now, limit=50, ami=AMI) if c.task_id in mine]
    assert [c.task_id for c in claimed] == [first.id, second.id, third.id]
    assert claimed[0] == OutboundCall(
        task_id=first.id or 0, kind=CallTaskKind.CALLBACK, number="13912345678", line="12345", attempt=1
    )
    for task in (first, second, third):
        session.refresh(task)
        assert task.status is CallTaskStatus.DIALING
    session.refresh(later)
    assert later.status is CallTaskStatus.PENDING
    assert callbacks.claim_due(session, now=now, limit=0, ami=AMI) == []
    evening = AMI.model_copy(update={"calling_hours": "08:00-21:00"})
    callback(session, due=now - timedelta(days=400))
    assert (
        callbacks.claim_due(session, now=datetime(2026, 11, 21, 13, 30, tzinfo=UTC), limit=5, ami=evening)
        == []
    )


def test_claim_due_respects_the_limit(session: Session) -> None:
    now = utcnow()
    for _ in range(3):
        callback(session, due=now - timedelta(minutes=1))
    assert len(callbacks.claim_due(session, now=now, limit=2, ami=AMI)) == 2


def test_results_of_tries(session: Session) -> None:
    now = utcnow()
    task = callback(session, due=now)
    assert task.id is not None
    for attempt, reason in enumerate(("3", "5"), start=1):
        callbacks.claim_due(session, now=now, limit=50, ami=AMI)
        callbacks.record_result(
            session, task_id=task.id, result=DialResult(success=False, reason=reason), now=now, ami=AMI
        )
        session.refresh(task)
        assert task.status is CallTaskStatus.PENDING
        assert task.attempts == attempt
        assert task.next_attempt_at == now + timedelta(seconds=60 * 2 ** (attempt - 1))
        now = task.next_attempt_at
    assert task.last_result == "对方忙"
    callbacks.claim_due(session, now=now, limit=50, ami=AMI)
    callbacks.record_result(
        session, task_id=task.id, result=DialResult(success=False, reason="3"), now=now, ami=AMI
    )
    session.refresh(task)
    assert (task.status, task.attempts, task.next_attempt_at) == (CallTaskStatus.UNREACHABLE, 3, None)

    answered = callback(session, due=now)
    assert answered.id is not None
    callbacks.claim_due(session, now=now, limit=50, ami=AMI)
    callbacks.record_result(
        session, task_id=answered.id, result=DialResult(success=True, reason="4"), now=now, ami=AMI
    )
    session.refresh(answered)
    assert (answered.status, answered.attempts, answered.last_result) == (CallTaskStatus.DONE, 1, "已接通")
    # A late duplicate answer changes nothing.
    callbacks.record_result(
        session, task_id=answered.id, result=DialResult(success=False, reason="3"), now=now, ami=AMI
    )
    session.refresh(answered)
    assert (answered.status, answered.attempts) == (CallTaskStatus.DONE, 1)


def test_stale_dialing_tasks_are_counted_as_failed(session: Session) -> None:
    now = utcnow()
    stale = callback(session, due=now, status=CallTaskStatus.DIALING)
    stale.updated_at = now - timedelta(minutes=10)
    fresh = callback(session, due=now, status=CallTaskStatus.DIALING)
    session.flush()
    recovered = callbacks.recover_stale(
        session, older_than=now - timedelta(minutes=1), now=now, ami=AMI, exclude=[fresh.id or 0]
    )
    assert recovered >= 1
    session.refresh(stale)
    session.refresh(fresh)
    assert (stale.status, stale.attempts, stale.last_result) == (
        CallTaskStatus.PENDING,
        1,
        callbacks.STALE_RESULT,
    )
    assert fresh.status is CallTaskStatus.DIALING


# --- follow-ups ------------------------------------------------------------------------------------


def follow_ups(session: Session, case: Case) -> list[CallTask]:
    statement = select(CallTask).where(CallTask.case_id == case.id, CallTask.kind == CallTaskKind.FOLLOW_UP)
    return list(session.exec(statement).all())


def test_closed_hotline_cases_get_one_follow_up(session: Session, make_case: MakeCase) -> None:
    now = utcnow()
    since = now - timedelta(days=1)
    delay = timedelta(hours=1)
    closed = hotline(make_case(CaseStatus.CLOSED), "13700137001")
    by_call = hotline(make_case(CaseStatus.CLOSED), "")
    call = missed_call(session, number="13600136000")
    call.case_id = by_call.id
    no_number = hotline(make_case(CaseStatus.CLOSED), "")
    anonymous = hotline(make_case(CaseStatus.CLOSED), "13700137004")
    anonymous.is_anonymous = True
    open_case = hotline(make_case(CaseStatus.DISPATCHED), "13700137005")
    app_case = make_case(CaseStatus.CLOSED)
    old = hotline(make_case(CaseStatus.CLOSED), "13700137006")
    old.closed_at = now - timedelta(days=3)
    session.flush()

    scan = followup.create_follow_ups(session, since=since, now=now, delay=delay)
    assert (scan.created, scan.without_number) == (2, 1)
    [task] = follow_ups(session, closed)
    assert (task.number, task.status) == ("13700137001", CallTaskStatus.PENDING)
    assert closed.closed_at is not None
    assert task.next_attempt_at == closed.closed_at + delay
    [task] = follow_ups(session, by_call)
    assert task.number == "13600136000"
    [task] = follow_ups(session, no_number)
    assert (task.status, task.last_result) == (CallTaskStatus.UNREACHABLE, followup.NO_NUMBER)
    for case in (anonymous, open_case, app_case, old):
        assert follow_ups(session, case) == []
    again = followup.create_follow_ups(session, since=since, now=now, delay=delay)
    assert (again.created, again.without_number) == (0, 0)


def test_record_satisfaction(session: Session, make_case: MakeCase) -> None:
    case = hotline(make_case(CaseStatus.CLOSED))
    task = CallTask(
        kind=CallTaskKind.FOLLOW_UP, number="13700137000", case_id=case.id, status=CallTaskStatus.DONE
    )
    session.add(task)
    session.flush()
    assert task.id is not None
    followup.record_satisfaction(session, task_id=task.id, digit="3", now=utcnow())
    session.refresh(task)
    assert (task.satisfaction, task.status, task.last_result) == (
        3,
        CallTaskStatus.DONE,
        "回访满意度：不满意",
    )
    [event] = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()
    assert (event.action, event.actor_role, event.to_status) == ("follow_up", "system", CaseStatus.CLOSED)
    assert case.status is CaseStatus.CLOSED

    other = CallTask(kind=CallTaskKind.FOLLOW_UP, number="1", case_id=None, status=CallTaskStatus.DIALING)
    session.add(other)
    session.flush()
    assert other.id is not None
    followup.record_satisfaction(session, task_id=other.id, digit="7", now=utcnow())
    session.refresh(other)
    assert (other.satisfaction, other.status, other.attempts) == (None, CallTaskStatus.DONE, 1)
    assert other.last_result == followup.NO_ANSWER_KEYED


def test_case_status_answer(session: Session, make_case: MakeCase) -> None:
    day = f"2031{secrets.randbelow(12) + 1:02d}{secrets.randbelow(28) + 1:02d}"
    case = make_case(CaseStatus.REGISTERED)
    case.case_no = f"{day}RX0042"
    twin_a = make_case(CaseStatus.CLOSED)
    twin_a.case_no = f"{day}RX0043"
    twin_a.reporter_phone = "13700137043"
    twin_b = make_case(CaseStatus.PENDING)
    twin_b.case_no = f"{day}WX0043"
    session.flush()

    answer = followup.case_status_answer(session, keyed=f"{day}0042#")
    assert answer.found
    assert answer.text == f"您查询的案件{day}RX0042，当前状态为：待派遣。"
    assert answer.prompt == "zhcg/status-registered"
    assert followup.case_status_answer(session, keyed=f"{day}0043").text == followup.AMBIGUOUS_CASE_TEXT
    mine = followup.case_status_answer(session, keyed=f"{day}0043", caller="13700137043")
    assert (mine.found, mine.case_no) == (True, twin_a.case_no)
    for keyed in ("", "12", f"{day}9999", "abc"):
        unknown = followup.case_status_answer(session, keyed=keyed)
        assert (unknown.found, unknown.text, unknown.prompt) == (
            False,
            followup.UNKNOWN_CASE_TEXT,
            "zhcg/case-unknown",
        )
