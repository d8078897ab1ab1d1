"""Status pushes owed to the 12345 platform, derived from the case history.

Every transition writes its ``CaseEvent`` in the same transaction as the change; that history is the
outbox of the exchange. ``collect`` (run by the ``exchange.sweep`` cron job) turns new history rows of
12345 cases into ``ExchangePush`` rows — unique per (order, event, seq) with ``seq`` the history row's
id, so scanning a row twice never pushes twice — and queues ``exchange.push`` for their orders.

The scan remembers how far it got (``ExchangeCursor``) but only moves past rows written more than
``SCAN_LAG`` ago, so a row committed late by a slow transaction is still seen. The mapping
(history action → 12345 stage) is ``derive``; docs/exchange-12345.md has the table.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from core.exchange import repository
from core.jobs import JOBS, enqueue
from core.kit.clock import local_isoformat
from core.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Department,
    ExchangeOrder,
    ExchangePush,
    ExchangePushStatus,
)

log = logging.getLogger("zhcg.exchange")

CURSOR = "case_event"
SCAN_LAG = timedelta(minutes=10)
SCAN_BATCH = 500
# A pending push whose retry time passed this long ago has lost its job: the sweep queues it again.
STALE_AFTER = timedelta(minutes=2)
MAX_TEXT = 500


class PushEvent(StrEnum):
    ACCEPT = "accept"
    DISPATCH = "dispatch"
    HANDLE = "handle"
    URGE = "urge"
    CLOSE = "close"
    VOID = "void"
    MERGE = "merge"
    REOPEN = "reopen"
    RATE = "rate"

    @property
    def stage(self) -> str:
        return STAGES[self]


STAGES: dict[PushEvent, str] = {
    PushEvent.ACCEPT: "受理",
    PushEvent.DISPATCH: "派单",
    PushEvent.HANDLE: "办理",
    PushEvent.URGE: "督办",
    PushEvent.CLOSE: "办结",
    PushEvent.VOID: "退回",
    PushEvent.MERGE: "合并办理",
    PushEvent.REOPEN: "重办",
    PushEvent.RATE: "评价",
}


def _event_for(row: CaseEvent) -> PushEvent | None:
    """Which push a history row makes, if any (the internal steps — verification, registration after
    acceptance, returns, requests, rework, on-site checks — are not the platform's business)."""
    action = row.action
    if action == "void":
        return PushEvent.VOID
    if action == "merge":
        return PushEvent.MERGE
    if row.from_status is CaseStatus.PENDING and row.to_status not in {CaseStatus.PENDING, CaseStatus.VOIDED}:
        return PushEvent.ACCEPT  # the first step out of 待受理: accept, register or send to verify
    simple = {
        "dispatch": PushEvent.DISPATCH,
        "handle": PushEvent.HANDLE,
        "urge": PushEvent.URGE,
        "reopen": PushEvent.REOPEN,
        "rate": PushEvent.RATE,
    }
    if action in simple:
        return simple[action]
    if action == "check" and row.to_status is CaseStatus.CLOSED:
        return PushEvent.CLOSE
    return None


def _text(value: str) -> str:
    return value.strip()[:MAX_TEXT]


def derive(session: Session, row: CaseEvent, order: ExchangeOrder, case: Case) -> dict[str, Any] | None:
    """The push body (without ``push_id``) a history row of a 12345 case makes, or None.

    Only what the public answer may say: internal notes of a void, the staff's names, photos and the
    caller's details never leave.
    """
    event = _event_for(row)
    if event is None:
        return None
    assert row.id is not None
    body: dict[str, Any] = {
        "order_no": order.order_no,
        "case_no": case.case_no,
        "seq": row.id,
        "event": event.value,
        "stage": event.stage,
        "occurred_at": local_isoformat(row.created_at),
    }
    if event is PushEvent.DISPATCH:
        department = session.get(Department, row.department_id) if row.department_id else None
        body["department"] = department.name if department else ""
        body["note"] = _text(row.note)
    elif event in {PushEvent.HANDLE, PushEvent.URGE, PushEvent.REOPEN, PushEvent.ACCEPT}:
        body["note"] = _text(row.note)
    elif event is PushEvent.CLOSE:
        body["reply"] = _text(case.reply or row.note)  # 答复: what the caller is told
    elif event is PushEvent.VOID:
        body["reply"] = _text(case.reply)  # the public reason, never the internal note
    elif event is PushEvent.MERGE:
        target = session.get(Case, case.merged_into_id) if case.merged_into_id else None
        body["merged_into_case_no"] = target.case_no if target else ""
        body["reply"] = "该问题与已受理的案件重复，已合并办理"
    elif event is PushEvent.RATE:
        body["stars"] = case.rating
        body["comment"] = _text(case.rating_comment)
    return body


@dataclass(frozen=True)
class Collected:
    pushes: int
    orders: list[int]
    position: int


def collect(session: Session, *, now: datetime, batch: int = SCAN_BATCH) -> Collected:
    """Turn new history rows of 12345 cases into pending pushes and queue their orders."""
    cursor = repository.cursor(session, CURSOR)
    start = cursor.last_event_id
    rows = repository.events_of_orders_after(session, start, limit=batch)
    existing = repository.derived_pushes(
        session, sorted({order.id for _, order in rows if order.id}), start + 1
    )
    created: list[ExchangePush] = []
    for row, order in rows:
        case = session.get(Case, row.case_id)
        assert case is not None
        assert order.id is not None
        assert row.id is not None
        body = derive(session, row, order, case)
        if body is None or (order.id, row.id, body["event"]) in existing:
            continue
        if body["event"] == PushEvent.ACCEPT and repository.has_event(session, order.id, PushEvent.ACCEPT):
            continue  # accepted once; a later "first step" (after a reopen to pending) is not news
        push = ExchangePush(
            order_id=order.id,
            event=str(body["event"]),
            seq=row.id,
            payload=json.dumps(body, ensure_ascii=False, sort_keys=True),
            next_attempt_at=now,
        )
        session.add(push)
        session.flush()
        existing.add((order.id, row.id, push.event))
        created.append(push)
    position = repository.last_event_before(session, start, created_before=now - SCAN_LAG) or start
    if len(rows) == batch:
        position = min(position, rows[-1][0].id or start)
    if position > start:
        cursor.last_event_id = position
        cursor.updated_at = now
        session.add(cursor)
    orders = sorted({push.order_id for push in created})
    for order_id in orders:
        enqueue(session, "exchange.push", order_id=order_id)
    session.flush()
    return Collected(len(created), orders, cursor.last_event_id)


def requeue_due(session: Session, *, now: datetime) -> list[int]:
    """Orders whose next push is due and whose job was lost (Redis down at commit, retries spent):
    queue them again. Delivery sends only an order's first unacknowledged push, so a duplicate job is
    harmless."""
    order_ids = repository.orders_with_due_pushes(session, due_before=now - STALE_AFTER)
    for order_id in order_ids:
        enqueue(session, "exchange.push", order_id=order_id)
    return order_ids


def retry_delay(attempts: int) -> timedelta:
    """The job spec's back-off; after its last step, every further try waits the longest step."""
    steps = JOBS["exchange.push"].retries or (60,)
    return timedelta(seconds=steps[min(max(attempts, 1), len(steps)) - 1])


def rearm(session: Session, *, order_no: str, now: datetime) -> int | None:
    """Make an order's refused (failed) push pending again, e.g. after the platform fixed its side;
    the id of the push re-armed, if any."""
    order = repository.order_by_no(session, order_no)
    if order is None or order.id is None:
        return None
    head = repository.head_push(session, order.id)
    if head is None or head.status is not ExchangePushStatus.FAILED:
        return None
    head.status, head.next_attempt_at, head.updated_at = ExchangePushStatus.PENDING, now, now
    session.add(head)
    enqueue(session, "exchange.push", order_id=order.id)
    return head.id
