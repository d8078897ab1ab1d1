"""Applying batches of AMI events to the database (the rolled-back test session)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping

from sqlmodel import Session, select

from core.calls.events import AmiEvent, Snapshot
from core.calls.service import apply_batch, mask_number
from core.kit.clock import utcnow
from core.models import Call, CallOutcome, CallState, CallTask, CallTaskKind, CallTaskStatus, StaffRole
from tests.fixtures.cases import City
from tests.fixtures.fake_ami import abandoned_call, answered_call, missed_call, transferred_call

LINES = {"12319": "12319", "12345": "12345"}


def events(raw: Iterable[Mapping[str, str]]) -> list[AmiEvent]:
    now = utcnow()
    return [AmiEvent.of(event, now) for event in raw]


def call(session: Session, linkedid: str) -> Call:
    row = session.exec(select(Call).where(Call.linkedid == linkedid)).one()
    return row


def tasks(session: Session, call_id: int | None) -> list[CallTask]:
    return list(session.exec(select(CallTask).where(CallTask.call_id == call_id)).all())


def test_answered_call_is_stored_with_its_agent(session: Session, city: City) -> None:
    agent = city.staff_member(StaffRole.OPERATOR)
    agent.agent_interface = f"PJSIP/{secrets.randbelow(9000) + 1000}"
    session.flush()
    linkedid, raw = answered_call(interface=agent.agent_interface, hold_s=12, talk_s=95)
    result = apply_batch(session, events(raw), lines=LINES)
    assert (result.created, result.ended, result.callbacks_created) == (1, 1, 0)
    row = call(session, linkedid)
    assert row.state is CallState.ENDED
    assert row.outcome is CallOutcome.ANSWERED
    assert (row.hold_s, row.talk_s, row.line, row.queue) == (12, 95, "12319", "hotline")
    assert row.agent_interface == agent.agent_interface
    assert row.agent_staff_id == agent.id
    assert row.started_at.tzinfo is not None


def test_events_split_over_batches_and_replayed(session: Session) -> None:
    linkedid, raw = answered_call()
    for start in range(0, len(raw), 4):
        apply_batch(session, events(raw[start : start + 4]), lines=LINES)
    row = call(session, linkedid)
    snapshot = {name: getattr(row, name) for name in ("state", "outcome", "hold_s", "talk_s", "ended_at")}
    updated_at = row.updated_at
    result = apply_batch(session, events(raw), lines=LINES)  # a replay after a reconnection
    assert (result.created, result.updated) == (0, 0)
    session.refresh(row)
    assert {name: getattr(row, name) for name in snapshot} == snapshot
    assert row.updated_at == updated_at


def test_abandoned_call_creates_one_callback(session: Session) -> None:
    number = f"139{secrets.randbelow(10**8):08d}"
    linkedid, raw = abandoned_call(caller=number)
    result = apply_batch(session, events(raw), lines=LINES)
    assert result.callbacks_created == 1
    row = call(session, linkedid)
    [task] = tasks(session, row.id)
    assert (task.kind, task.status, task.number) == (CallTaskKind.CALLBACK, CallTaskStatus.PENDING, number)
    assert task.next_attempt_at == row.ended_at
    apply_batch(session, events(raw), lines=LINES)
    assert len(tasks(session, row.id)) == 1


def test_missed_call_creates_a_callback(session: Session) -> None:
    linkedid, raw = missed_call(caller=f"137{secrets.randbelow(10**8):08d}")
    apply_batch(session, events(raw), lines=LINES)
    row = call(session, linkedid)
    assert row.outcome is CallOutcome.MISSED
    assert len(tasks(session, row.id)) == 1


def test_no_callback_for_a_withheld_number(session: Session) -> None:
    _linkedid, raw = missed_call(caller="anonymous")
    assert apply_batch(session, events(raw), lines=LINES).callbacks_created == 0


def test_no_callback_when_the_number_was_answered_since(session: Session) -> None:
    number = f"136{secrets.randbelow(10**8):08d}"
    t = time.time() - 600
    missed_id, missed = missed_call(caller=number, start=t)
    _, answered = answered_call(caller=number, start=t + 100)  # called again and got through
    # Both in one batch (the bridge was busy): no call-back is owed any more.
    result = apply_batch(session, events(missed + answered), lines=LINES)
    assert result.callbacks_created == 0
    assert tasks(session, call(session, missed_id).id) == []


def test_an_answered_call_cancels_the_pending_callback(session: Session) -> None:
    number = f"135{secrets.randbelow(10**8):08d}"
    t = time.time() - 600
    missed_id, missed = abandoned_call(caller=number, start=t)
    apply_batch(session, events(missed), lines=LINES)
    [task] = tasks(session, call(session, missed_id).id)
    _, answered = answered_call(caller=number, start=t + 120)
    result = apply_batch(session, events(answered), lines=LINES)
    assert result.callbacks_cancelled == 1
    session.refresh(task)
    assert task.status is CallTaskStatus.CANCELLED
    assert task.last_result


def test_transfer_is_recorded(session: Session) -> None:
    linkedid, raw = transferred_call(target="8009")
    apply_batch(session, events(raw), lines=LINES)
    row = call(session, linkedid)
    assert row.transferred_to == "8009"
    assert row.line == "12345"


def test_snapshot_ends_open_calls_it_does_not_list(session: Session) -> None:
    linkedid, raw = answered_call(start=time.time() - 60)
    apply_batch(session, events(raw[:7]), lines=LINES)  # queued
    lost_at = utcnow()
    result = apply_batch(session, [Snapshot(taken_at=utcnow(), lost_at=lost_at)], lines=LINES)
    assert result.ended == 1
    assert result.callbacks_created == 1
    row = call(session, linkedid)
    assert row.state is CallState.ENDED
    assert row.outcome is CallOutcome.ABANDONED
    assert row.ended_at == lost_at


def test_mask_number() -> None:
    assert mask_number("13800138000") == "138****8000"
    assert mask_number("02787654321") == "027****4321"
    assert mask_number("12319") == "*****"
