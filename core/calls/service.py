"""Applying AMI events to the calls: one batch, one transaction (the caller's), idempotent.

``apply_batch(session, items, lines=...)`` loads the calls the batch touches, folds the events (and
resync snapshots) through the pure reducer in ``core.calls.events``, writes what changed, links agents to
staff accounts (``StaffUser.agent_interface``) and keeps the call-back tasks:

- an inbound call that ends missed or abandoned gets one ``CallTask(kind=callback)`` (unique per call),
  unless the caller's number was answered on a later call already, or the number is withheld;
- an answered inbound call cancels the pending call-backs owed to the same number for earlier calls.

Replaying events (after a reconnection, or a batch retried after a database error) changes nothing.
The service never commits: the bridge's consumer owns the unit of work.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from core.calls import notify, repository
from core.calls.events import (
    FACT_FIELDS,
    AmiEvent,
    CallFacts,
    Snapshot,
    linkedid_of,
    reconcile,
    reduce,
)
from core.kit.clock import utcnow
from core.models.calls import (
    Call,
    CallDirection,
    CallOutcome,
    CallState,
    CallTask,
    CallTaskKind,
    CallTaskStatus,
)

log = logging.getLogger("zhcg.calls")

BatchItem = AmiEvent | Snapshot
CALLABLE_NUMBER = re.compile(r"\+?[0-9]{5,20}")
CANCELLED_ANSWERED = "来电已再次接通，无需回拨"


def mask_number(number: str) -> str:
    """What logs may show of a caller's number: the first 3 and last 4 digits."""
    if len(number) <= 7:
        return "*" * len(number)
    return f"{number[:3]}{'*' * (len(number) - 7)}{number[-4:]}"


@dataclass
class BatchResult:
    events: int = 0
    snapshots: int = 0
    created: int = 0
    updated: int = 0
    ended: int = 0
    callbacks_created: int = 0
    callbacks_cancelled: int = 0


def facts_of(call: Call) -> CallFacts:
    return CallFacts(**{name: getattr(call, name) for name in FACT_FIELDS})


def _touched(items: Sequence[BatchItem]) -> tuple[set[str], bool]:
    linkedids: set[str] = set()
    any_snapshot = False
    for item in items:
        if isinstance(item, Snapshot):
            any_snapshot = True
            linkedids.update(item.calls)
        else:
            linkedid = linkedid_of(item)
            if linkedid:
                linkedids.add(linkedid)
    return linkedids, any_snapshot


def fold(
    current: dict[str, CallFacts | None], items: Iterable[BatchItem], *, lines: Mapping[str, str]
) -> None:
    """Apply ``items`` in order to ``current`` (facts by Linkedid, None for calls not recorded)."""
    for item in items:
        if isinstance(item, Snapshot):
            open_ids = {
                linkedid for linkedid, facts in current.items() if facts is not None and not facts.ended
            }
            for linkedid in open_ids | set(item.calls):
                current[linkedid] = reconcile(
                    current.get(linkedid), item.calls.get(linkedid), item, lines=lines
                )
            continue
        linkedid = linkedid_of(item)
        if linkedid:
            current[linkedid] = reduce(current.get(linkedid), item, lines=lines)


def apply_batch(session: Session, items: Sequence[BatchItem], *, lines: Mapping[str, str]) -> BatchResult:
    """Apply the events and snapshots of one batch, in order. Never commits."""
    result = BatchResult()
    linkedids, any_snapshot = _touched(items)
    rows = repository.calls_by_linkedid(session, linkedids)
    if any_snapshot:
        rows.update(
            {
                linkedid: row
                for linkedid, row in repository.open_calls(session).items()
                if linkedid not in rows
            }
        )
    before: dict[str, CallFacts] = {linkedid: facts_of(row) for linkedid, row in rows.items()}
    current: dict[str, CallFacts | None] = dict(before)
    fold(current, items, lines=lines)
    result.events = sum(1 for item in items if isinstance(item, AmiEvent))
    result.snapshots = len(items) - result.events

    changed = [
        (linkedid, facts)
        for linkedid, facts in current.items()
        if facts is not None and facts != before.get(linkedid)
    ]
    if not changed:
        return result
    new_agents = {
        facts.agent_interface
        for linkedid, facts in changed
        if facts.agent_interface
        and (linkedid not in before or before[linkedid].agent_interface != facts.agent_interface)
    }
    staff = repository.staff_ids_by_interface(session, new_agents)
    now = utcnow()
    ended: list[Call] = []
    answered: list[Call] = []
    for linkedid, facts in changed:
        old = before.get(linkedid)
        row = rows.get(linkedid)
        if row is None:
            row = Call(**{name: getattr(facts, name) for name in FACT_FIELDS})
            session.add(row)
            rows[linkedid] = row
            result.created += 1
        else:
            for name in FACT_FIELDS:
                value = getattr(facts, name)
                if getattr(row, name) != value:
                    setattr(row, name, value)
            row.updated_at = now
            result.updated += 1
        if facts.agent_interface and (old is None or old.agent_interface != facts.agent_interface):
            row.agent_staff_id = staff.get(facts.agent_interface)
        if facts.direction is not CallDirection.INBOUND:
            continue
        if facts.ended and (old is None or not old.ended):
            result.ended += 1
            ended.append(row)
        if facts.answered_at is not None and (old is None or old.answered_at is None):
            answered.append(row)
    session.flush()
    result.callbacks_created = _create_callbacks(session, ended, now)
    result.callbacks_cancelled = _cancel_callbacks(session, answered, now)
    notify.publish_after_commit(session, answered)  # the agents' screen-pops, once the batch commits
    return result


def _callable(number: str) -> bool:
    return bool(CALLABLE_NUMBER.fullmatch(number))


def _create_callbacks(session: Session, ended: list[Call], now: datetime) -> int:
    """One call-back per missed or abandoned call, unless the number was answered on a later call."""
    owed = [
        call
        for call in ended
        if call.outcome in (CallOutcome.MISSED, CallOutcome.ABANDONED)
        and call.id is not None
        and _callable(call.caller_number)
    ]
    if not owed:
        return 0
    already = repository.calls_with_callback(session, [call.id for call in owed if call.id is not None])
    since = min(call.started_at for call in owed)
    answered_later: dict[str, list[datetime]] = {}
    for number, started in repository.answered_since(session, {call.caller_number for call in owed}, since):
        answered_later.setdefault(number, []).append(started)
    created = 0
    for call in owed:
        if call.id in already:
            continue
        if any(started > call.started_at for started in answered_later.get(call.caller_number, [])):
            continue
        session.add(
            CallTask(
                kind=CallTaskKind.CALLBACK,
                number=call.caller_number,
                call_id=call.id,
                next_attempt_at=call.ended_at or now,
            )
        )
        created += 1
        log.info(
            "call-back owed: line %s caller %s (%s)",
            call.line or "-",
            mask_number(call.caller_number),
            call.outcome,
        )
    if created:
        session.flush()
    return created


def _cancel_callbacks(session: Session, answered: list[Call], now: datetime) -> int:
    """The caller got through on a later call: the call-backs owed for earlier calls are not needed."""
    latest: dict[str, datetime] = {}
    for call in answered:
        if _callable(call.caller_number):
            latest[call.caller_number] = max(call.started_at, latest.get(call.caller_number, call.started_at))
    cancelled = 0
    for task, started in repository.pending_callbacks(session, latest):
        if started < latest[task.number]:
            task.status = CallTaskStatus.CANCELLED
            task.last_result = CANCELLED_ANSWERED
            task.updated_at = now
            cancelled += 1
    if cancelled:
        session.flush()
    return cancelled


__all__ = ["BatchItem", "BatchResult", "CallState", "apply_batch", "fold", "mask_number"]
