"""Every query of the hotline calls."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.models.calls import (
    Call,
    CallDirection,
    CallOutcome,
    CallState,
    CallTask,
    CallTaskKind,
    CallTaskStatus,
)
from core.models.staff import StaffUser


def calls_by_linkedid(session: Session, linkedids: Collection[str]) -> dict[str, Call]:
    if not linkedids:
        return {}
    rows = session.exec(select(Call).where(col(Call.linkedid).in_(sorted(linkedids)))).all()
    return {row.linkedid: row for row in rows}


def open_calls(session: Session) -> dict[str, Call]:
    """Calls not ended yet (a resync ends those Asterisk no longer reports)."""
    rows = session.exec(select(Call).where(col(Call.state) != CallState.ENDED)).all()
    return {row.linkedid: row for row in rows}


def staff_ids_by_interface(session: Session, interfaces: Collection[str]) -> dict[str, int]:
    """Active staff by their phone's Asterisk interface (the lowest id when two share one)."""
    if not interfaces:
        return {}
    statement = (
        sa.select(col(StaffUser.agent_interface), col(StaffUser.id))
        .where(col(StaffUser.agent_interface).in_(sorted(interfaces)), col(StaffUser.active).is_(True))
        .order_by(col(StaffUser.id).desc())
    )
    return {interface: staff_id for interface, staff_id in session.execute(statement) if staff_id}


def answered_since(session: Session, numbers: Collection[str], since: datetime) -> list[tuple[str, datetime]]:
    """(number, start) of answered inbound calls from these numbers that started after ``since``."""
    if not numbers:
        return []
    statement = sa.select(col(Call.caller_number), col(Call.started_at)).where(
        col(Call.caller_number).in_(sorted(numbers)),
        col(Call.direction) == CallDirection.INBOUND,
        col(Call.answered_at).is_not(None),
        col(Call.started_at) > since,
    )
    return [(number, started) for number, started in session.execute(statement)]


def calls_with_callback(session: Session, call_ids: Collection[int]) -> set[int]:
    if not call_ids:
        return set()
    statement = sa.select(col(CallTask.call_id)).where(
        col(CallTask.call_id).in_(sorted(call_ids)), col(CallTask.kind) == CallTaskKind.CALLBACK
    )
    return {call_id for (call_id,) in session.execute(statement) if call_id is not None}


def pending_callbacks(session: Session, numbers: Collection[str]) -> list[tuple[CallTask, datetime]]:
    """Pending call-backs to these numbers with the start of the call they are for."""
    if not numbers:
        return []
    statement = (
        select(CallTask, col(Call.started_at))
        .join(Call, col(Call.id) == col(CallTask.call_id))
        .where(
            col(CallTask.kind) == CallTaskKind.CALLBACK,
            col(CallTask.status) == CallTaskStatus.PENDING,
            col(CallTask.number).in_(sorted(numbers)),
        )
    )
    return [(task, started) for task, started in session.exec(statement).all()]


def outcome_counts(session: Session, linkedids: Collection[str]) -> dict[CallOutcome | None, int]:
    """How the given calls ended (tests and the benchmark)."""
    counts: dict[CallOutcome | None, int] = {}
    for call in calls_by_linkedid(session, linkedids).values():
        counts[call.outcome] = counts.get(call.outcome, 0) + 1
    return counts
